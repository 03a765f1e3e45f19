//! Proxy mode in the window: the server bar's Mode menu switches to a
//! Python `websockets` target and back, and a proxied connection's Send
//! reaches either side.

use egui_kittest::kittest::Queryable as _;

use super::{CHAT_LIKE, Window, is_running};
use crate::proxy::PythonTarget;
use crate::util::{recv_text, script, send_text};

/// Types into the Connections panel's message field and clicks Send.
fn send_from_panel(window: &mut Window, text: &str) {
    window.harness.get_by_label("Message").focus();
    window.harness.step();
    window.harness.get_by_label("Message").type_text(text);
    window.harness.step();
    window.click("Send");
}

#[test]
fn the_mode_menu_proxies_to_a_url_and_send_reaches_either_side() {
    let Some(target) = PythonTarget::start(&[]) else {
        return;
    };
    let mut window = Window::open(&format!(
        "// websocat 'ws://127.0.0.1:4001/?name=ann'\n{}",
        script(CHAT_LIKE)
    ));
    // Empty, the Connections panel suggests the script's own client...
    window.step_until_shown(&format!("websocat '{}/?name=ann'", window.url("")));
    window.click("Mode");
    window.replace_text("Target", &target.url());
    window.click("Proxy");
    window.step_until("the proxy to listen", |app| {
        app.state.is_proxy() && is_running(app)
    });
    window.step_until_shown(&format!("→ {}", target.url()));
    window.harness.check_accessibility();
    // ...and in proxy mode one for the proxy itself.
    window.step_until_shown(&format!(
        "Connect to the proxy: each connection goes on to {}",
        target.url()
    ));
    let command = format!("websocat '{}/'", window.url(""));
    assert!(
        window.harness.query_all_by_label(&command).count() >= 1,
        "{command}"
    );
    assert_eq!(
        window
            .harness
            .query_all_by_label_contains("?name=ann")
            .count(),
        0,
        "the script's command is not offered"
    );

    let mut client = window.connect("/echo?who=gui");
    window.runtime.block_on(async {
        send_text(&mut client, "through").await;
        assert_eq!(recv_text(&mut client).await, "through");
    });
    window.step_until_shown("who=gui");
    window.harness.get_by_label("who=gui").click();
    window.harness.step();
    window.step_until_shown("Close code");

    // To the client.
    send_from_panel(&mut window, "to you");
    assert_eq!(window.runtime.block_on(recv_text(&mut client)), "to you");
    // To the target, as the client: the echo comes back to the client.
    window
        .harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "to")
        .click();
    window.step_until_shown("target");
    window.click("target");
    window.harness.get_by_label("Message").focus();
    window.harness.step();
    window
        .harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    send_from_panel(&mut window, "via the target");
    assert_eq!(
        window.runtime.block_on(recv_text(&mut client)),
        "via the target"
    );
    window.harness.check_accessibility();

    // And back to the handlers.
    window.click("Mode");
    window.click("run handlers");
    window.step_until("the handlers to run", |app| {
        !app.state.is_proxy() && is_running(app)
    });
    let url = window.url("/?name=ann");
    window.runtime.block_on(async move {
        let (mut client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        send_text(&mut client, "hi").await;
        assert_eq!(recv_text(&mut client).await, "v1:hi");
    });
}
