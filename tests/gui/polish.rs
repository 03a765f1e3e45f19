//! Issue 17, "the window, polished": each defect found by trying the window
//! as a new user, driven through the real window on a real engine.

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable as _;

use super::{CHAT_LIKE, Window};
use crate::util::{recv_text, script, send_text};

const ECHO_JSON: &str = "const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, ctx.req.text()));";

fn copied_text(window: &Window) -> Vec<String> {
    window
        .harness
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|command| match command {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A client that sent `message` and got its echo, shown in the window.
fn echo_once(window: &mut Window, message: &str) -> crate::util::Client {
    let mut client = window.connect("/");
    window.runtime.block_on(async {
        send_text(&mut client, message).await;
        let _ = recv_text(&mut client).await;
    });
    window.step_until_shown(message);
    client
}

/// Clicks the first Messages row that shows `label`, and lays out the
/// selection.
fn select_row(window: &mut Window, label: &str) {
    window
        .harness
        .query_all_by_label(label)
        .next()
        .expect("a row")
        .click();
    window.harness.run_steps(2);
}

#[test]
fn an_idle_window_with_follow_on_asks_for_no_frames() {
    let mut window = Window::open(&script(ECHO_JSON));
    let mut client = window.connect("/?name=ann");
    // A burst: the window must not still be catching up once it is over.
    window.runtime.block_on(async {
        for index in 0..300 {
            send_text(&mut client, &format!("{{\"n\":{index}}}")).await;
        }
        for _ in 0..300 {
            let _ = recv_text(&mut client).await;
        }
    });
    window.step_until_shown("{\"n\":299}");
    window.settle();
    for tab in ["Messages", "KV", "Script", "Log", "Sessions", "Plot"] {
        window.open_tab(tab);
        window.harness.step();
        window.assert_asks_for_no_frames(&format!("idle, the {tab} tab in front"));
    }
}

#[test]
fn json_keeps_its_key_order_and_copy_puts_the_payload_on_the_clipboard() {
    let mut window = Window::open(&script(ECHO_JSON));
    let message = r#"{"type":"hello","args":{"z":1}}"#;
    let _client = echo_once(&mut window, message);
    select_row(&mut window, message);
    window.step_until_shown("args: {…} 1 key");
    window.click("Pretty");
    let pretty = "{\n  \"type\": \"hello\",\n  \"args\": {\n    \"z\": 1\n  }\n}";
    window.harness.get_by_label(pretty);
    window.harness.get_by_label("Copy JSON").click();
    window.harness.step();
    assert_eq!(copied_text(&window), [pretty]);
    window.harness.get_by_label("Copy text").click();
    window.harness.step();
    assert_eq!(copied_text(&window), [message]);
    // Ctrl-C with nothing focused copies the selected message.
    window.harness.event(egui::Event::Copy);
    window.harness.step();
    assert_eq!(copied_text(&window), [message]);
}

#[test]
fn at_900_by_600_the_messages_table_gives_kind_and_size_to_the_preview() {
    let mut window = Window::open(&script(ECHO_JSON));
    let message = r#"{"type":"hello"}"#;
    let _client = echo_once(&mut window, message);
    let headers = |window: &Window| {
        ["kind", "size", "preview"].map(|title| window.harness.query_by_label(title).is_some())
    };
    assert_eq!(headers(&window), [true; 3], "at 1280 × 800 every column");
    window.harness.set_size(egui::vec2(900.0, 600.0));
    window.harness.run_steps(2);
    assert_eq!(headers(&window), [false, false, true]);
    // The selected message still says what it is and how big.
    select_row(&mut window, message);
    window.harness.get_by_label("16 B");
}

#[test]
fn the_kv_add_row_is_reachable_at_900_by_600_with_a_long_key_list() {
    let mut window = Window::open(&script(
        "const socket = websocket('s');
         const store = kv('many').allow('get', 'set');
         socket.on('connect', async () => {
           for (let i = 0; i < 80; i++) await store.set(`key-${i}`, { i });
         });",
    ));
    window.harness.set_size(egui::vec2(900.0, 600.0));
    // Clicks go where the last frame drew: lay out at the new size first.
    window.harness.run_steps(2);
    let _client = window.connect("/");
    window.open_tab("KV");
    window.step_until_shown("80 keys");
    window.harness.get_by_label("Refresh").click();
    window.step_until_shown("key-1");
    // Each row: key, JSON type, size, one-line value.
    assert!(window.harness.query_all_by_label("object").count() >= 10);
    window.replace_text("Key prefix", "key-9");
    window.step_until_shown("1 key");
    window.harness.get_by_label("key-9");
    window.harness.get_by_label("{\"i\":9}");
    window.harness.get_by_label("7 B");
    let add = window.harness.get_by_label("Add").rect();
    assert!(
        egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(900.0, 600.0)).contains_rect(add),
        "Add is inside the window: {add:?}"
    );
    window.replace_text("New key", "added");
    window.replace_text("New value (JSON)", "{\"by\": \"window\"}");
    window.click("Add");
    window.step_until("the kv write", |app| {
        app.state
            .engine
            .as_ref()
            .and_then(|engine| engine.kv().get("many", "added").ok().flatten())
            .is_some_and(|value| value.contains("window"))
    });
    window.replace_text("New value (JSON)", "{not json");
    window.replace_text("New key", "broken");
    window.click("Add");
    window.step_until_shown("not valid JSON");
}

#[test]
fn the_replay_diff_marks_every_differing_row_and_steps_through_them() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let sessions_folder = window.dir.path().join("sessions");
    window.harness.state_mut().state.sessions.folder = sessions_folder;
    window.click("Record");
    window.step_until("recording", |app| app.state.sessions.recording.is_some());
    let url = window.url("/?name=ann");
    window.runtime.block_on(async move {
        let (mut client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        for text in ["one", "two"] {
            send_text(&mut client, text).await;
            assert_eq!(recv_text(&mut client).await, format!("v1:{text}"));
        }
        client.close(None).await.expect("close");
        while futures_util::StreamExt::next(&mut client).await.is_some() {}
    });
    // connect, accepted, two sends, two recvs, close
    window.stop_recording_after(7);
    let file_name = window.app().state.sessions.listing[0].file_name();
    std::fs::write(
        window.dir.path().join("handler.js"),
        script(&CHAT_LIKE.replace("'v1:'", "'v2:'")),
    )
    .expect("change the script");
    // A small window: the diff leads the session's details, both sides fit.
    window.harness.set_size(egui::vec2(900.0, 600.0));
    window.harness.run_steps(2);
    window.open_tab("Sessions");
    window.harness.get_by_label(&file_name).click();
    window.harness.step();
    window.click("Replay selected");
    window.step_until_shown("FAIL: first divergence at c1 message 0");
    window.step_until_shown("2 rows differ");
    // On screen: inside the window above its notice bar, not below the
    // fold or past its right edge. Only rows in view are laid out.
    let actual_fits = |window: &Window, size: egui::Vec2| {
        let screen =
            egui::Rect::from_min_max(egui::Pos2::ZERO, (size - egui::vec2(0.0, 30.0)).to_pos2());
        let next = window.harness.get_by_label("Next difference").rect();
        assert!(screen.contains_rect(next), "Next difference at {next:?}");
        // The column's header (the selected row below repeats the words).
        let header = window
            .harness
            .query_all_by_label("actual (replay)")
            .next()
            .expect("the actual column")
            .rect();
        assert!(
            screen.contains_rect(header),
            "the actual column at {header:?}"
        );
        let cells: Vec<egui::Rect> = window
            .harness
            .query_all_by_label("v2:one")
            .map(|node| node.rect())
            .collect();
        assert!(!cells.is_empty(), "the differing row is in view");
        for rect in cells {
            assert!(screen.contains_rect(rect), "the actual cell at {rect:?}");
        }
    };
    actual_fits(&window, egui::vec2(900.0, 600.0));
    window.click("Next difference");
    window.step_until_shown("step 1, message 0: differs");
    assert!(window.harness.query_all_by_label("v2:one").count() >= 1);
    window.click("Next difference");
    window.step_until_shown("step 2, message 1: differs");
    assert!(window.harness.query_all_by_label("v2:two").count() >= 1);
    window.click("Previous difference");
    window.step_until_shown("step 1, message 0: differs");
    window.harness.check_accessibility();
    // Widened, the columns are laid out for the new width.
    window.harness.set_size(egui::vec2(1280.0, 800.0));
    window.harness.run_steps(3);
    actual_fits(&window, egui::vec2(1280.0, 800.0));
}

#[test]
fn a_recording_started_with_two_open_connections_replays_and_passes() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let sessions_folder = window.dir.path().join("sessions");
    window.harness.state_mut().state.sessions.folder = sessions_folder.clone();
    let (mut ann, mut bob) = window.runtime.block_on(async {
        let connect =
            |name: &str| tokio_tungstenite::connect_async(window.url(&format!("/?name={name}")));
        (
            connect("ann").await.expect("ann").0,
            connect("bob").await.expect("bob").0,
        )
    });
    window.step_until("both rows", |app| app.state.connections.open_count() == 2);
    window.click("Record");
    window.step_until("recording", |app| {
        app.state
            .sessions
            .recording
            .as_ref()
            .is_some_and(|recording| recording.status().connections == 2)
    });
    window.runtime.block_on(async {
        send_text(&mut ann, "from ann").await;
        assert_eq!(recv_text(&mut ann).await, "v1:from ann");
        send_text(&mut bob, "from bob").await;
        assert_eq!(recv_text(&mut bob).await, "v1:from bob");
    });
    // Two connect/accepted pairs, two sends, two recvs.
    window.stop_recording_after(8);
    let path = window.app().state.sessions.listing[0].path.clone();
    let text = std::fs::read_to_string(&path).expect("session file");
    let header = text.lines().next().expect("header");
    assert!(
        header.contains(r#""open_at_start":["c1","c2"]"#),
        "{header}"
    );
    let file_name = window.app().state.sessions.listing[0].file_name();
    window.open_tab("Sessions");
    window.harness.get_by_label(&file_name).click();
    window.harness.step();
    window.click("Replay selected");
    window.step_until_shown("PASS: 2 connections");
    // Its events can be browsed, the two open connections marked.
    window
        .harness
        .query_all_by_label_contains("Events (")
        .next()
        .expect("the events timeline")
        .click();
    window.harness.run_steps(2);
    window.step_until_shown("c1, c2 were open when the recording started");
    assert!(
        window.harness.query_all_by_label("c1*").count() >= 2,
        "connect and accepted"
    );
    window.harness.check_accessibility();
}

#[test]
fn ctrl_s_reloads_once_and_a_log_location_jumps_to_its_line_in_the_editor() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let mut events = window
        .app()
        .state
        .engine
        .as_ref()
        .expect("engine")
        .subscribe();
    window.open_tab("Script");
    let broken = script(
        "const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', (ctx) => {
  undefinedThing();
});
",
    );
    window.replace_text("Script editor", &broken);
    window
        .harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    window.step_until("the save", |app| !app.state.script.is_dirty());
    // The watcher polls every 250 ms; a second reload would come within it.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        window.harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut reloads = 0;
    while let Some(message) = events.try_recv() {
        if let sockscope::core::bus::BusMessage::Event(event) = message
            && matches!(
                *event,
                sockscope::core::events::Event::ScriptReloaded { .. }
            )
        {
            reloads += 1;
        }
    }
    assert_eq!(reloads, 1, "one save, one reload");

    // A handler error names its line; its link in the Log shows that line.
    let url = window.url("/?name=ann");
    window.runtime.block_on(async move {
        let (mut client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        send_text(&mut client, "boom").await;
    });
    window.step_until_shown("Log (1 error)");
    window.open_tab("Log (1 error)");
    let text = window.app().state.script.text.clone();
    let error_line = text
        .lines()
        .position(|line| line.contains("undefinedThing"))
        .expect("the throwing line")
        + 1;
    let link = format!("at handler.js:{error_line}");
    window.step_until_shown(&link);
    window.open_tab("Messages");
    window.open_tab("Log");
    window
        .harness
        .query_all_by_label_contains(&link)
        .next()
        .expect("the link")
        .click();
    window.harness.run_steps(3);
    let editor_id = egui::Id::unique("script_editor_text");
    let cursor = egui::TextEdit::load_state(&window.harness.ctx, editor_id)
        .and_then(|editor| editor.cursor.char_range())
        .expect("a cursor in the editor");
    let line_start: usize = text
        .split_inclusive('\n')
        .take(error_line - 1)
        .map(|line| line.chars().count())
        .sum();
    assert_eq!(cursor.primary.index.0, line_start);
    // The Script panel came to the front for it.
    window.harness.get_by_label("Script editor");
}

#[test]
fn first_launch_hints_a_client_command_and_the_clients_panel_says_a_refusal_once() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let command = format!("websocat '{}/'", window.url(""));
    window.step_until_shown("No connections yet");
    // In Connections and in Messages, both empty.
    assert!(window.harness.query_all_by_label(&command).count() >= 1);
    window
        .harness
        .query_all_by_label("Copy")
        .next()
        .expect("a Copy button")
        .click();
    window.harness.step();
    assert_eq!(copied_text(&window), [command]);

    // A bad regex shows every row and says so.
    window.open_tab("Messages");
    window.harness.get_by_label("Regex").click();
    window.harness.step();
    window.replace_text("Filter", "(");
    window.step_until_shown("Bad regex, text filter off");
    let rows = window.app().state.timeline.len();
    assert_eq!(window.app().state.timeline.visible_len(), rows);

    // A refused client: the status once, and Reconnect.
    window.open_tab("Clients (0)");
    window.click("Remove");
    window.click("Connect");
    window.step_until_shown("failed: HTTP ");
    let failure = match &window.app().state.clients[0].state {
        sockscope::ui::test_client::ClientState::Failed(why) => why.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let status = failure
        .trim_start_matches("HTTP ")
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        failure.matches(status.as_str()).count(),
        1,
        "the status is said once: {failure}"
    );
    window.click("Reconnect");
    window.step_until("the reconnect to be refused too", |app| {
        app.state.clients.len() == 1 && !app.state.clients[0].is_open()
    });
}
