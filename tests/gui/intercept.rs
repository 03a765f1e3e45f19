//! Message breakpoints in the window: a rule added in the Approvals tab
//! holds a client's message; Edit + Forward edited delivers the edit, Drop
//! delivers nothing, and the messages behind keep their order.

use super::{CHAT_LIKE, Window};
use crate::util::{recv_text, script, send_text};

#[test]
fn a_breakpoint_holds_a_message_to_edit_or_drop() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Approvals");
    window.replace_text("payload contains", "hold me");
    window.click("Add breakpoint");
    window.step_until("the breakpoint", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.breakpoints().len() == 1)
    });
    window.step_until_shown("holds in and out, any connection, containing \"hold me\"");

    let mut client = window.connect("/?name=ann");
    window.runtime.block_on(async {
        send_text(&mut client, "hold me").await;
        send_text(&mut client, "after").await;
    });
    window.step_until_shown("Intercept (1 held)");
    window.harness.step();
    window.harness.check_accessibility();
    window.click("Edit");
    window.replace_text("Held message", "edited");
    window.click("Forward edited");
    window.step_until("the edit forwarded", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.held_frames().is_empty())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    window.harness.step();
    eprintln!(
        "HELD {:?} {:?}",
        window.app().state.engine.as_ref().map(|e| e.held_frames()),
        window.app().state.engine.as_ref().map(|e| e.totals())
    );
    eprintln!("LOGS {:?}", window.app().state.notices);
    window.runtime.block_on(async {
        assert_eq!(recv_text(&mut client).await, "v1:edited");
        assert_eq!(recv_text(&mut client).await, "v1:after");
        send_text(&mut client, "hold me too").await;
        send_text(&mut client, "next").await;
    });
    window.step_until_shown("Intercept (1 held)");
    // A grid shown anew sizes itself first: its buttons answer a frame later.
    window.harness.step();
    window.harness.step();
    window.click("Drop");
    assert_eq!(window.runtime.block_on(recv_text(&mut client)), "v1:next");
    window.step_until_shown("Intercept (0 held)");
}
