//! `file:line` links outside the Log: a handler failure's row in Messages
//! (in an imported module: the Script panel's Module picker switches to
//! it), and a replay's lost updates in Sessions.

use egui_kittest::kittest::Queryable as _;

use super::Window;
use crate::util::{script, send_text};

/// The first link whose words contain `text`.
fn link_to<'a>(window: &'a Window, text: &'a str) -> egui_kittest::Node<'a> {
    window
        .harness
        .query_all(
            egui_kittest::kittest::by()
                .role(egui::accesskit::Role::Link)
                .label_contains(text),
        )
        .next()
        .unwrap_or_else(|| panic!("a link to {text}"))
}

/// Where the text editor's cursor is, as a 1-based line of `text`.
fn editor_cursor_line(window: &Window, text: &str) -> usize {
    let editor_id = egui::Id::unique("script_editor_text");
    let cursor = egui::TextEdit::load_state(&window.harness.ctx, editor_id)
        .and_then(|editor| editor.cursor.char_range())
        .expect("a cursor in the editor");
    let mut chars = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if chars == cursor.primary.index.0 {
            return index + 1;
        }
        chars += line.chars().count();
    }
    panic!("the cursor is not at the start of a line");
}

#[test]
fn a_failure_in_an_imported_module_links_from_messages_and_the_log_to_that_module() {
    let lib = "export function explode(text) {\n  if (text === 'boom') {\n    throw new Error('exploded on ' + text);\n  }\n}\n";
    let mut window = Window::open_with(
        &script(
            "import { explode } from './lib.js';
const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', (ctx) => explode(ctx.req.text()));",
        ),
        &[("lib.js", lib)],
        None,
    );
    let mut client = window.connect("/");
    window.runtime.block_on(send_text(&mut client, "boom"));
    window.open_tab("Messages");
    window.step_until_shown("message handler error: Error: exploded on boom");
    // The place and the failure share the row.
    let link = link_to(&window, "at lib.js:3").rect();
    let text = window
        .harness
        .query_all_by_label_contains("message handler error: Error: exploded on boom")
        .next()
        .expect("the failure's row")
        .rect();
    assert!(
        link.y_range().contains(text.center().y),
        "the link at {link:?}, its text at {text:?}"
    );
    link_to(&window, "at lib.js:3").click();
    window.step_until("the module to show", |app| {
        app.state
            .script
            .viewed_module
            .as_ref()
            .is_some_and(|(path, _)| path.ends_with("lib.js"))
    });
    window.step_until_shown("Read-only here");
    window
        .harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "Module");

    // Back in the Log, a place in the script itself switches back to it.
    window.harness.state_mut().state.script.viewed_module = None;
    window.open_tab("Log (1 error)");
    window.step_until_shown("at lib.js:3");
    link_to(&window, "at lib.js:3").click();
    window.step_until("the module to show again", |app| {
        app.state.script.viewed_module.is_some()
    });
}

#[test]
fn a_replays_lost_updates_link_to_their_lines() {
    let mut window = Window::open_with_racy_session();
    window.click("Replay ×20 (interleavings)");
    window.step_until_shown("Lost updates (1)");
    let text = window.app().state.script.text.clone();
    let write_line = text
        .lines()
        .position(|line| line.contains("counters.set"))
        .expect("the write")
        + 1;
    let link = format!("handler.js:{write_line}");
    window.step_until_shown(&link);
    link_to(&window, &link).click();
    window.harness.run_steps(3);
    window.harness.get_by_label("Script editor");
    assert_eq!(editor_cursor_line(&window, &text), write_line);
}
