//! The Intercept tab: held connections (before or after the connect
//! handler, Accept all, the decision history) and message breakpoints (a
//! rule holds a client's message; Edit + Forward edited delivers the edit,
//! Drop delivers nothing, the messages behind keep their order; a JSON-path
//! rule outlives a server restart and a window restart).

use egui_kittest::kittest::Queryable as _;
use sockscope::core::events::ApprovalStage;
use sockscope::engine::breakpoints::PayloadPattern;
use sockscope::ui::app::SockscopeApp;
use sockscope::ui::state::Settings;

use super::{CHAT_LIKE, Window, is_running};
use crate::util::{recv_text, script, send_text};

fn rules(app: &SockscopeApp) -> Vec<PayloadPattern> {
    app.state.engine.as_ref().map_or_else(Vec::new, |engine| {
        engine
            .breakpoints()
            .iter()
            .map(|rule| rule.payload.pattern())
            .collect()
    })
}

/// Picks `option` in the combo box labelled `label`.
fn choose(window: &mut Window, label: &str, option: &str) {
    window
        .harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, label)
        .click();
    window.step_until_shown(option);
    window.click(option);
}

#[test]
fn a_breakpoint_holds_a_message_to_edit_or_drop() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Intercept");
    window.replace_text("pattern", "hold me");
    window.click("Add breakpoint");
    window.step_until("the breakpoint", |app| rules(app).len() == 1);
    window.step_until_shown("holds in and out, any connection, containing \"hold me\"");

    let mut client = window.connect("/?name=ann");
    window.runtime.block_on(async {
        send_text(&mut client, "hold me").await;
        send_text(&mut client, "after").await;
    });
    window.step_until_shown("Held messages (1)");
    window.step_until_shown("Intercept (1 waiting)");
    window.harness.step();
    window.harness.check_accessibility();
    window.click("Edit");
    window.replace_text("Held message", "edited");
    window.click("Forward edited");
    window.runtime.block_on(async {
        assert_eq!(recv_text(&mut client).await, "v1:edited");
        assert_eq!(recv_text(&mut client).await, "v1:after");
        send_text(&mut client, "hold me too").await;
        send_text(&mut client, "next").await;
    });
    window.step_until_shown("Held messages (1)");
    // A grid shown anew sizes itself first: its buttons answer a frame later.
    window.harness.step();
    window.harness.step();
    window.click("Drop");
    assert_eq!(window.runtime.block_on(recv_text(&mut client)), "v1:next");
    window.step_until_shown("Held messages (0)");
}

#[test]
fn held_connections_wait_where_chosen_and_every_decision_is_kept() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Intercept");
    window.step_until_shown("Hold new connections");
    choose(&mut window, "wait", "after the connect handler");
    window.step_until("the stage", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.approval_stage() == ApprovalStage::AfterConnectHandler)
    });
    assert_eq!(
        window.app().state.settings.approval_stage,
        ApprovalStage::AfterConnectHandler,
        "kept in the window's settings"
    );
    window.click("Hold new connections");
    window.step_until("holding", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.is_holding_connections())
    });

    let ann = window
        .runtime
        .spawn(tokio_tungstenite::connect_async(window.url("/?name=ann")));
    let bob = window
        .runtime
        .spawn(tokio_tungstenite::connect_async(window.url("/?name=bob")));
    window.step_until_shown("Intercept (2 waiting)");
    window.step_until_shown("Accept all (2)");
    window.harness.step();
    window.harness.check_accessibility();
    window.click("Accept all (2)");
    for connecting in [ann, bob] {
        window
            .runtime
            .block_on(connecting)
            .expect("join")
            .expect("accepted clients upgrade");
    }
    window.step_until_shown("Decisions (2)");
    window.step_until_shown("/?name=ann");
    assert_eq!(
        window.harness.query_all_by_label("Accept all").count(),
        2,
        "both rows say who decided"
    );

    // Nobody decides: the timeout denies, and says so.
    window.replace_text("deny undecided after", "1");
    window.step_until("the timeout", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.approval_timeout().as_secs() == 1)
    });
    let carl = window
        .runtime
        .spawn(tokio_tungstenite::connect_async(window.url("/?name=carl")));
    assert!(window.runtime.block_on(carl).expect("join").is_err());
    window.step_until_shown("Decisions (3)");
    window.step_until_shown("denied: no approval decision within 1 s");
    window.harness.get_by_label("timeout");
    window.open_tab("Log");
    window.step_until_shown("approval: denied by timeout: no approval decision within 1 s");
}

#[test]
fn a_json_path_breakpoint_outlives_a_server_restart_and_a_window_restart() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Intercept");
    choose(&mut window, "payload", "JSON path");
    window.replace_text("pattern", "$.type == chat");
    window.click("Add breakpoint");
    window.step_until_shown("after == comes a JSON value");
    window.replace_text("pattern", r#"$.type == "chat""#);
    window.click("Add breakpoint");
    window.step_until("the breakpoint", |app| rules(app).len() == 1);
    let chat_rule = PayloadPattern::JsonPath(r#"$.type == "chat""#.to_owned());

    window.click("Stop");
    window.step_until("the server to stop", |app| app.state.engine.is_none());
    window.click("Start");
    window.step_until("the server to run again", is_running);
    assert_eq!(rules(window.app()), vec![chat_rule.clone()]);
    let mut client = window.connect("/?name=ann");
    window.runtime.block_on(async {
        send_text(&mut client, r#"{"type": "join"}"#).await;
        assert_eq!(recv_text(&mut client).await, r#"v1:{"type": "join"}"#);
        send_text(&mut client, r#"{"type": "chat", "text": "hi"}"#).await;
    });
    window.step_until("the chat message held", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.held_frames().len() == 1)
    });

    // eframe keeps the settings as text between runs.
    let saved = serde_json::to_string(&window.app().state.settings).expect("serialise");
    let settings: Settings = serde_json::from_str(&saved).expect("deserialise");
    drop(window);
    let mut window = Window::open_with_settings(&script(CHAT_LIKE), Some(settings));
    assert_eq!(rules(window.app()), vec![chat_rule]);
    window.open_tab("Intercept");
    window.step_until_shown(r#"holds in and out, any connection, JSON where $.type == "chat""#);
}

#[test]
fn frames_behind_a_held_reply_show_as_waiting_in_the_connection() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Intercept");
    // Only the handler's reply contains it: the client's message passes.
    window.replace_text("pattern", "v1:hold");
    window.click("Add breakpoint");
    window.step_until("the breakpoint", |app| rules(app).len() == 1);

    let mut client = window.connect("/?name=ann");
    window.runtime.block_on(async {
        send_text(&mut client, "hold").await;
        send_text(&mut client, "after").await;
    });
    window.step_until_shown("Held messages (1)");
    window.open_tab("Connections (1)");
    window.step_until_shown("name=ann");
    window.harness.get_by_label("name=ann").click();
    window.step_until_shown("1 frame waits to be written to this client");

    window.open_tab("Intercept (1 waiting)");
    window.step_until_shown("Held messages (1)");
    window.harness.step();
    window.harness.step();
    window.click("Forward");
    window.runtime.block_on(async {
        assert_eq!(recv_text(&mut client).await, "v1:hold");
        assert_eq!(recv_text(&mut client).await, "v1:after");
    });
    window.step_until("nothing waits", |app| {
        app.state.engine.as_ref().is_some_and(|engine| {
            engine
                .connections()
                .iter()
                .all(|row| engine.frames_waiting(&row.connection_id) == Some(0))
        })
    });
}
