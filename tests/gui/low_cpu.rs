//! The window under `--low-cpu`: each engine it starts runs its sockets on
//! that engine's script thread, so a Stop ends the thread and a Start makes
//! a new one; the window must not notice.

use super::{Window, is_running};
use crate::util::{recv_text, script, send_text};

const ECHO: &str = "const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, `echo ${ctx.req.text()}`));";

/// Sends `text` on a new connection, reads the echo, and waits for the
/// window to show it.
fn echo_shown(window: &mut Window, text: &str) {
    let mut client = window.connect("/");
    window.runtime.block_on(async {
        send_text(&mut client, text).await;
        assert_eq!(recv_text(&mut client).await, format!("echo {text}"));
    });
    window.step_until_shown(&format!("echo {text}"));
}

#[test]
fn the_window_serves_stops_and_starts_again_under_low_cpu() {
    let mut window = Window::open_configured(&script(ECHO), &[], None, |config| {
        config.script.low_cpu = true;
    });
    window.open_tab("Messages");
    echo_shown(&mut window, "before");

    window.click("Stop");
    window.step_until("the server to stop", |app| app.state.engine.is_none());
    window.click("Start");
    window.step_until("the server to run again", is_running);
    assert!(
        window.app().state.launch_config.script.low_cpu,
        "a restart keeps --low-cpu"
    );
    echo_shown(&mut window, "after");
}
