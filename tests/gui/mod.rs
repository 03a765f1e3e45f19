//! The real window (egui_kittest, no GPU) against a real engine on port 0:
//! clicks and typing go through the same code a user's do. Projects run a
//! shell command as their service, so no Node or Python is needed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use sockscope::launch::LaunchConfig;
use sockscope::ui::app::SockscopeApp;
use sockscope::ui::state::{ServerStatus, Settings};
use tempfile::TempDir;

mod flood;
mod intercept;
mod links;
mod low_cpu;
mod polish;
mod proxy;
mod services;

use crate::util::{Client, engine_config_in, recv_close_code, recv_text, script, send_text};

/// Whether the window's server runs (started, not starting or stopping).
fn is_running(app: &SockscopeApp) -> bool {
    app.state.engine.is_some() && matches!(app.state.status, ServerStatus::Running)
}

/// A window on a real engine, with the runtime its engine and clients use.
struct Window {
    harness: Harness<'static, SockscopeApp>,
    runtime: Arc<tokio::runtime::Runtime>,
    dir: TempDir,
}

impl Window {
    fn open(source: &str) -> Self {
        Self::open_with_settings(source, None)
    }

    /// A window started with `settings` as a previous run saved them.
    fn open_with_settings(source: &str, settings: Option<Settings>) -> Self {
        Self::open_with(source, &[], settings)
    }

    /// A window whose script sits beside `files` (name, text).
    fn open_with(source: &str, files: &[(&str, &str)], settings: Option<Settings>) -> Self {
        Self::open_configured(source, files, settings, |_| {})
    }

    /// [`Window::open_with`], its launch configuration changed by `configure`.
    fn open_configured(
        source: &str,
        files: &[(&str, &str)],
        settings: Option<Settings>,
        configure: impl FnOnce(&mut LaunchConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write a file");
        }
        let mut config = engine_config_in(dir.path(), source);
        configure(&mut config);
        config.script.start_with_broken_script = true;
        config.script.watch = true;
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
        );
        let handle = runtime.handle().clone();
        let harness = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(move |cc| match settings {
                Some(settings) => SockscopeApp::with_settings(cc, handle, config, settings),
                None => SockscopeApp::new(cc, handle, config),
            });
        let mut window = Self {
            harness,
            runtime,
            dir,
        };
        window.step_until("the server to listen", |app| app.state.engine.is_some());
        window
    }

    fn app(&self) -> &SockscopeApp {
        self.harness.state()
    }

    fn url(&self, path_and_query: &str) -> String {
        let engine = self.app().state.engine.as_ref().expect("engine running");
        format!("{}{path_and_query}", engine.url())
    }

    /// A client connected to the window's server at `path_and_query`.
    fn connect(&self, path_and_query: &str) -> Client {
        let url = self.url(path_and_query);
        self.runtime
            .block_on(tokio_tungstenite::connect_async(url))
            .expect("connect")
            .0
    }

    /// Runs frames until `done` holds (the app repaints continuously while
    /// traffic flows, so `run()` would never settle).
    fn step_until(&mut self, what: &str, done: impl Fn(&SockscopeApp) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.harness.step();
            if done(self.harness.state()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs frames until a widget whose label contains `text` is shown.
    fn step_until_shown(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.harness.step();
            if self
                .harness
                .query_all_by_label_contains(text)
                .next()
                .is_some()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?} on screen"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// When the last step asked for the next frame: `Duration::MAX` when
    /// it asked for none.
    fn repaint_delay(&self) -> Duration {
        self.harness
            .output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map_or(Duration::ZERO, |viewport| viewport.repaint_delay)
    }

    /// Steps until counters and rates settle after the last event (a few
    /// seconds), then drops the notices (they ask for frames to fade).
    fn settle(&mut self) {
        let settled_at = Instant::now() + Duration::from_secs(3);
        while Instant::now() < settled_at {
            self.harness.step();
            std::thread::sleep(Duration::from_millis(50));
        }
        self.harness.state_mut().state.notices.clear();
    }

    /// Asserts that, after a frame or two of layout, the window asks for no
    /// further frame (`what` names the situation in the failure).
    fn assert_asks_for_no_frames(&mut self, what: &str) {
        let mut frames = 0;
        while self.repaint_delay() != Duration::MAX {
            frames += 1;
            assert!(
                frames < 10,
                "{what}: the window keeps asking for frames: {:?}",
                self.harness.ctx.repaint_causes()
            );
            self.harness.step();
        }
    }

    /// A window running the racy counter, its sessions folder holding one
    /// recording of two senders (`racy.jsonl`), listed and selected in the
    /// Sessions tab.
    fn open_with_racy_session() -> Self {
        let mut window = Window::open(crate::util::RACY_COUNTER);
        let sessions_folder = window.dir.path().join("sessions");
        std::fs::create_dir_all(&sessions_folder).expect("sessions folder");
        let handler = window.dir.path().join("handler.js");
        crate::util::write_two_senders_session(&sessions_folder.join("racy.jsonl"), &handler);
        window.harness.state_mut().state.sessions.folder = sessions_folder;
        window.harness.state_mut().state.list_sessions();
        window.step_until("the file to be listed", |app| {
            app.state.sessions.listing.len() == 1
        });
        window.open_tab("Sessions");
        window.harness.get_by_label("racy.jsonl").click();
        window.harness.step();
        window
    }

    /// Brings a panel's tab to the front.
    fn open_tab(&mut self, title: &str) {
        self.harness
            .get_by_role_and_label(egui::accesskit::Role::Button, title)
            .click();
        self.harness.step();
        self.harness.step();
    }

    /// Stops the recording once it has written `lines` lines and waits for
    /// its file to be the only one listed.
    fn stop_recording_after(&mut self, lines: usize) {
        self.step_until("the session lines", |app| {
            app.state
                .sessions
                .recording
                .as_ref()
                .is_some_and(|recording| recording.status().lines_written >= lines)
        });
        self.click("Stop recording");
        self.step_until("the file to be listed", |app| {
            app.state.sessions.listing.len() == 1
        });
    }

    /// Clicks the widget labelled `label`, once a frame shows it (a frame
    /// drawn before the state changed may still show the old label).
    fn click(&mut self, label: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.harness.query_by_label(label).is_none() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {label:?} to click"
            );
            self.harness.step();
            std::thread::sleep(Duration::from_millis(10));
        }
        self.harness.get_by_label(label).click();
        self.harness.step();
        self.harness.step();
    }

    /// Replaces the text of the input labelled `label`.
    fn replace_text(&mut self, label: &str, text: &str) {
        self.harness.get_by_label(label).focus();
        self.harness.step();
        self.harness
            .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        self.harness.step();
        self.harness.get_by_label(label).type_text(text);
        self.harness.step();
    }
}

const CHAT_LIKE: &str = "const socket = websocket('s');
socket.on('connect', (ctx) => { if (!ctx.req.query.name) ctx.res.success = false; });
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, 'v1:' + ctx.req.text()));";

#[test]
fn a_connecting_client_gets_a_row_and_close_greys_it() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let mut client = window.connect("/?name=ann");
    window.step_until_shown("name=ann");
    window.harness.check_accessibility();

    window.harness.get_by_label("name=ann").click();
    window.harness.step();
    window.step_until_shown("Close code");
    window.click("Close");
    let code = window.runtime.block_on(recv_close_code(&mut client));
    assert_eq!(code, Some(1000));
    window.step_until_shown("closed 1000");
}

#[test]
fn a_client_that_hangs_up_at_once_keeps_its_final_counts() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let mut client = window.connect("/?name=quick");
    window.runtime.block_on(async {
        send_text(&mut client, "hi").await;
        assert_eq!(recv_text(&mut client).await, "v1:hi");
        client.close(None).await.expect("close");
    });
    window.step_until("the row to close", |app| {
        app.state
            .connections
            .rows()
            .first()
            .is_some_and(|row| !row.is_open())
    });
    let traffic = window.app().state.connections.rows()[0].traffic;
    assert_eq!(
        (
            traffic.frames_in,
            traffic.bytes_in,
            traffic.frames_out,
            traffic.bytes_out
        ),
        (1, 2, 1, 5),
        "one frame each way, as the client saw them"
    );
}

#[test]
fn stopping_the_server_says_stopping_until_it_is_down() {
    let mut window = Window::open(&script(CHAT_LIKE));
    // Shutting down is quick; hold the status to look at the bar.
    window.harness.state_mut().state.status = ServerStatus::Stopping;
    window.harness.step();
    window.harness.get_by_label("stopping...");
    window.harness.state_mut().state.status = ServerStatus::Running;
    window.harness.step();

    window.harness.get_by_label("Stop").click();
    window.harness.step();
    // An idle embedded server may already be down by the next frame.
    assert!(
        matches!(
            window.app().state.status,
            ServerStatus::Stopping | ServerStatus::Stopped
        ),
        "{:?}",
        window.app().state.status
    );
    window.step_until("the server to stop", |app| {
        matches!(app.state.status, ServerStatus::Stopped)
    });
    window.harness.step();
    window.harness.get_by_label("stopped");
    window.harness.get_by_label("Start");
}

#[test]
fn editing_a_kv_value_in_the_window_is_what_handlers_read() {
    let mut window = Window::open(&script(
        "const socket = websocket('s');
         const settings = kv('settings').allow('get', 'set');
         socket.on('connect', async () => { await settings.set('greeting', { text: 'hello' }); });
         socket.on('message', async (ctx) => socket.send(ctx.req.connectionId, (await settings.get('greeting')).text));",
    ));
    let mut client = window.connect("/");
    window.open_tab("KV");
    window.step_until_shown("greeting");
    window.harness.get_by_label("greeting").click();
    window.harness.step();
    window.click("Edit");
    window.replace_text("Value (JSON)", "{\"text\": \"bonjour\"}");
    window.click("Save value");
    window.step_until("the kv write", |app| {
        app.state
            .engine
            .as_ref()
            .and_then(|engine| engine.kv().get("settings", "greeting").ok().flatten())
            .is_some_and(|value| value.contains("bonjour"))
    });
    window.runtime.block_on(async {
        send_text(&mut client, "which greeting?").await;
        assert_eq!(recv_text(&mut client).await, "bonjour");
    });
}

#[test]
fn a_broken_save_shows_the_error_and_the_old_handlers_keep_answering() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Script");
    window.replace_text(
        "Script editor",
        "import { websocket } from '@nitric/sdk'; websocket('s').on('message', (ctx) => {",
    );
    window
        .harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    window.step_until_shown("Not loaded, the previous handlers keep running: SyntaxError");
    assert!(
        window
            .app()
            .state
            .script
            .failure
            .as_ref()
            .is_some_and(|failure| failure
                .location
                .as_ref()
                .is_some_and(|location| location.file == "handler.js" && location.line == 1))
    );
    let url = window.url("/?name=ann");
    window.runtime.block_on(async move {
        let (mut client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        send_text(&mut client, "still there?").await;
        assert_eq!(recv_text(&mut client).await, "v1:still there?");
    });
    assert!(
        std::fs::read_to_string(window.dir.path().join("handler.js"))
            .expect("script file")
            .ends_with("(ctx) => {"),
        "the broken version was saved to disk"
    );
}

#[test]
fn held_connections_wait_for_accept_or_deny() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Intercept");
    window.click("Hold new connections");
    window.step_until("holding", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.is_holding_connections())
    });

    let accepted = window
        .runtime
        .spawn(tokio_tungstenite::connect_async(window.url("/?name=ann")));
    window.step_until("a held connection", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| !engine.pending_approvals().is_empty())
    });
    // "Accept all" is always there: wait for the row's own button.
    window.step_until_shown("Hold new connections");
    window.harness.step();
    window.click("Accept");
    let (mut client, _) = window
        .runtime
        .block_on(accepted)
        .expect("join")
        .expect("accepted client upgrades");
    window.runtime.block_on(async {
        send_text(&mut client, "in").await;
        assert_eq!(recv_text(&mut client).await, "v1:in");
    });

    let denied = window
        .runtime
        .spawn(tokio_tungstenite::connect_async(window.url("/?name=bob")));
    // "Deny" alone: the timeout's label ("Deny undecided after") is always shown.
    window.step_until("bob to be held", |app| {
        app.state
            .engine
            .as_ref()
            .is_some_and(|engine| engine.pending_approvals().len() == 1)
    });
    window.harness.step();
    window.click("Deny");
    match window.runtime.block_on(denied).expect("join") {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[test]
fn the_built_in_client_talks_to_the_handlers() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Clients (0)");
    window.click("Connect");
    window.step_until("client open", |app| {
        app.state
            .clients
            .first()
            .is_some_and(|client| client.is_open())
    });
    window.harness.get_by_label("Message").focus();
    window.harness.step();
    window
        .harness
        .get_by_label("Message")
        .type_text("hello handler");
    window.harness.step();
    window.click("Send");
    window.step_until_shown("recv v1:hello handler");
    window.harness.check_accessibility();
}

#[test]
fn every_panel_names_its_widgets_and_a_selected_message_shows_as_a_tree() {
    let mut window = Window::open(&script(
        "const socket = websocket('s');
socket.on('connect', () => {});
         const store = kv('things').allow('get', 'set');
         socket.on('message', async (ctx) => {
           await store.set('last', { text: ctx.req.text() });
           await socket.send(ctx.req.connectionId, { reply: { nested: [1, 2] } });
         });",
    ));
    let mut client = window.connect("/?who=tester");
    window.runtime.block_on(async {
        send_text(&mut client, "hi").await;
        let _ = recv_text(&mut client).await;
    });
    window.step_until_shown("{\"reply\":{\"nested\":[1,2]}}");
    window
        .harness
        .get_by_label("{\"reply\":{\"nested\":[1,2]}}")
        .click();
    window.harness.step();
    window.step_until_shown("reply: {…} 1 key");
    window.harness.get_by_label("reply: {…} 1 key");
    for tab in [
        "Messages",
        "KV",
        "Script",
        "Log",
        "Sessions",
        "Services",
        "Plot",
        "Intercept",
    ] {
        window.open_tab(tab);
        window.harness.step();
        window.harness.check_accessibility();
    }
    window.open_tab("Clients (0)");
    window.harness.check_accessibility();
}

#[test]
fn record_in_the_window_then_replay_it_pass_and_then_fail_after_a_change() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let sessions_folder = window.dir.path().join("sessions");
    window.harness.state_mut().state.sessions.folder = sessions_folder.clone();
    window.click("Record");
    window.step_until("recording", |app| app.state.sessions.recording.is_some());

    let url = window.url("/?name=ann");
    window.runtime.block_on(async move {
        let (mut client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        send_text(&mut client, "hi").await;
        assert_eq!(recv_text(&mut client).await, "v1:hi");
        client.close(None).await.expect("close");
        while futures_util::StreamExt::next(&mut client).await.is_some() {}
    });
    // connect, accepted, send, recv, close
    window.stop_recording_after(5);
    let file_name = window.app().state.sessions.listing[0].file_name();
    assert!(sessions_folder.join(&file_name).is_file());

    window.open_tab("Sessions");
    window.harness.get_by_label(&file_name).click();
    window.harness.step();
    window.click("Replay selected");
    window.step_until_shown("PASS: 1 connections");

    std::fs::write(
        window.dir.path().join("handler.js"),
        script(&CHAT_LIKE.replace("'v1:'", "'v2:'")),
    )
    .expect("change the script");
    window.click("Replay selected");
    window.step_until_shown("FAIL: first divergence at c1 message 0");
    window.step_until_shown("v2:hi");
    window.harness.check_accessibility();
}

#[test]
fn replay_by_interleavings_names_the_seed_and_the_kv_panel_marks_the_lost_key() {
    let mut window = Window::open_with_racy_session();
    window.click("Replay ×20 (interleavings)");
    window.step_until_shown("interleaving seed 1: lost update: kv('counters') key 'shared'");

    // The window's own server loses one the same way: the KV panel marks it.
    let url = window.url("/");
    window.runtime.block_on(async move {
        let (mut first, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        let (mut second, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        send_text(&mut first, "one").await;
        send_text(&mut second, "two").await;
        assert_eq!(recv_text(&mut first).await, "counted");
        assert_eq!(recv_text(&mut second).await, "counted");
    });
    window.open_tab("KV");
    window.step_until("the lost update to reach the KV view", |app| {
        app.state.kv.lost_update("counters", "shared").is_some()
    });
}
