//! The window with the real-runtime lane: Open project…, the Services panel
//! and the server bar with a project and several sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egui_kittest::kittest::Queryable as _;
use sockscope::engine::SocketListener;
use sockscope::nitric::{NitricConfig, Program, ServiceSpec};
use sockscope::ui::model::services::OpenedProject;
use sockscope::ui::panels::services::EMBEDDED_LANE_TEXT;
use sockscope::ui::state::{ProjectRunOptions, ServerStatus};

use super::{CHAT_LIKE, Window};
use crate::util::{recv_text, script, send_text};

/// CHAT_LIKE's handlers answer a client.
fn assert_the_script_answers(window: &Window) {
    let url = window.url("/?name=ann");
    window.runtime.block_on(async move {
        let (mut client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        send_text(&mut client, "there?").await;
        assert_eq!(recv_text(&mut client).await, "v1:there?");
    });
}

/// The Script panel's typed path: what "Open project…" does when no dialog
/// can be shown.
fn open_typed_path(window: &mut Window, path: &std::path::Path) {
    window.open_tab("Script");
    window.replace_text("or path", &path.display().to_string());
    window.click("Open path");
}

#[test]
fn the_services_panel_says_how_to_get_services_while_the_script_runs() {
    let mut window = Window::open(&script(CHAT_LIKE));
    window.open_tab("Services");
    window.step_until_shown(EMBEDDED_LANE_TEXT);
    window.harness.get_by_label("Open project…");
    window.harness.check_accessibility();
    assert_bar_is_one_row(&window);
}

#[test]
fn a_folder_without_nitric_yaml_is_refused_and_the_script_keeps_running() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let url_before = window.url("");
    let not_a_project = window.dir.path().join("not-a-project");
    std::fs::create_dir(&not_a_project).expect("a folder");
    open_typed_path(&mut window, &not_a_project);
    window.step_until_shown("project not opened: cannot read");
    window.step_until_shown("nitric.yaml");
    assert!(!window.app().state.runs_services());
    assert!(matches!(window.app().state.status, ServerStatus::Running));
    assert_eq!(window.url(""), url_before, "the server did not restart");
    assert_the_script_answers(&window);
}

#[test]
fn a_project_runs_its_services_restart_restarts_them_and_a_script_switches_back() {
    let mut window = Window::open(&script(CHAT_LIKE));
    // A service that never registers: the start waits out a short timeout.
    let project = window.dir.path().join("demo");
    std::fs::create_dir_all(project.join("services")).expect("project folders");
    std::fs::write(
        project.join("nitric.yaml"),
        "name: demo\nservices:\n  - match: services/*.sh\n    start: sleep 60\n",
    )
    .expect("nitric.yaml");
    std::fs::write(project.join("services/main.sh"), "").expect("service file");
    window.harness.state_mut().state.project_options = ProjectRunOptions {
        service_address: Some("127.0.0.1:0".parse().expect("an address")),
        startup_timeout: Duration::from_millis(300),
        ..ProjectRunOptions::default()
    };

    open_typed_path(&mut window, &project);
    window.step_until("the services to run", |app| {
        app.state.runs_services()
            && app.state.engine.is_some()
            && app
                .state
                .services
                .summaries
                .iter()
                .any(|summary| summary.name == "services/main.sh")
    });
    window.step_until_shown("Project demo · 1 service");
    window.open_tab("Services");
    window.step_until_shown("services/main.sh");
    window.harness.get_by_label("sleep 60");
    window.step_until_shown("running (pid");
    window.harness.get_by_label("started by hand");
    window.harness.check_accessibility();

    window.click("Restart all");
    window.step_until("the restart", |app| {
        app.state
            .services
            .summaries
            .iter()
            .any(|summary| summary.name == "services/main.sh" && summary.restarts == 1)
    });
    window.step_until_shown("restart the services: done");

    // One service on its own: its row's Stop, then its Restart.
    window.click("Stop service");
    window.step_until_shown("stop the service: done");
    window.step_until("the service to stop", |app| {
        app.state
            .services
            .summaries
            .iter()
            .any(|summary| summary.name == "services/main.sh" && summary.state == "stopped")
    });
    window.click("Restart service");
    window.step_until("the second restart", |app| {
        app.state
            .services
            .summaries
            .iter()
            .any(|summary| summary.name == "services/main.sh" && summary.restarts == 2)
    });

    let handler = window.dir.path().join("handler.js");
    open_typed_path(&mut window, &handler);
    window.step_until("the script to run again", |app| {
        !app.state.runs_services() && app.state.engine.is_some()
    });
    window.open_tab("Services");
    window.step_until_shown(EMBEDDED_LANE_TEXT);
    assert_the_script_answers(&window);
}

/// Listeners as the real lane has them for a project serving `sockets`,
/// on ports from `first_port` (only drawn: the embedded lane serves one).
fn fake_listeners(sockets: &[&str], first_port: u16) -> Vec<SocketListener> {
    sockets
        .iter()
        .zip(first_port..)
        .map(|(socket, port)| SocketListener {
            socket: Arc::from(*socket),
            local_addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
        .collect()
}

/// The server bar's first and last widgets are on one row, inside 1280 px.
fn assert_bar_is_one_row(window: &Window) {
    let first = window.harness.get_by_label("sockscope").rect();
    let last = window.harness.get_by_label("View").rect();
    assert!(
        last.max.x <= 1280.0,
        "the bar runs off the window: {last:?}"
    );
    assert!(
        (last.center().y - first.center().y).abs() < 2.0,
        "the bar wrapped: {first:?} {last:?}"
    );
}

#[test]
fn the_server_bar_stays_one_row_with_a_project_and_several_sockets() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let state = &mut window.harness.state_mut().state;
    let port = 4001;
    let service = |name: &str| ServiceSpec {
        name: name.to_owned(),
        program: Program::Argv(vec!["node".to_owned(), name.to_owned()]),
        cwd: PathBuf::from("."),
        env: Vec::new(),
    };
    state.launch_config.services = Some(NitricConfig {
        services: vec![service("services/chat.js"), service("services/alerts.js")],
        service_address: None,
        startup_timeout: Duration::from_secs(1),
        enforce_permissions: true,
        watch: false,
    });
    state.services.project = Some(OpenedProject {
        dir: PathBuf::from("/tmp/demo-project"),
        name: "demo-project".to_owned(),
    });

    // Two sockets: each one's port in the bar, the URL on hover.
    state.sockets = fake_listeners(&["chat", "alerts"], port);
    window.step_until_shown("Project demo-project · 2 services");
    for (socket, port) in ["chat", "alerts"].iter().zip(port..) {
        window.harness.get_by_label(socket);
        window.harness.get_by_label(&format!(":{port}"));
    }
    assert_bar_is_one_row(&window);

    // Three: in the bar's menu, and every URL in the Services panel.
    let sockets = ["chat", "notifications", "alerts"];
    window.harness.state_mut().state.sockets = fake_listeners(&sockets, port);
    window.step_until_shown("3 sockets");
    assert_bar_is_one_row(&window);
    // Recording, with a long project name: still one row.
    let sessions_folder = window.dir.path().join("sessions");
    let state = &mut window.harness.state_mut().state;
    state.sessions.folder = sessions_folder;
    state.start_recording();
    if let Some(project) = state.services.project.as_mut() {
        project.name = "a-project-with-a-rather-long-name-indeed".to_owned();
    }
    window.step_until_shown("REC 0 conn");
    assert_bar_is_one_row(&window);
    window.click("Stop recording");

    window.open_tab("Services");
    for (socket, port) in sockets.iter().zip(port..) {
        window.harness.get_by_label(&format!("socket {socket}"));
        window
            .harness
            .get_by_label(&format!("ws://127.0.0.1:{port}"));
    }
    window.harness.check_accessibility();
}

#[test]
fn a_project_opened_embedded_serves_each_socket_and_the_clients_panel_picks_one() {
    let mut window = Window::open(&script(CHAT_LIKE));
    let project = window.dir.path().join("two");
    for (name, text) in [
        (
            "nitric.yaml",
            "name: two\nservices:\n  - match: services/*.ts\n    start: npx tsx $SERVICE_PATH\n",
        ),
        (
            "services/chat.ts",
            "import { websocket } from '@nitric/sdk';\nconst chat = websocket('chat');\n\
             chat.on('connect', (ctx) => ctx);\n\
             chat.on('message', async (ctx) => { await chat.send(ctx.req.connectionId, 'chat: ' + ctx.req.text()); });\n",
        ),
        (
            "services/feed.ts",
            "import { websocket } from '@nitric/sdk';\nconst feed = websocket('feed');\n\
             feed.on('connect', (ctx) => ctx);\n\
             feed.on('message', async (ctx) => { await feed.send(ctx.req.connectionId, 'feed: ' + ctx.req.text()); });\n",
        ),
    ] {
        let path = project.join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders");
        std::fs::write(path, text).expect("write");
    }
    window.open_tab("Script");
    window.click("embedded");
    open_typed_path(&mut window, &project);
    window.step_until("both sockets", |app| {
        !app.state.runs_services() && app.state.engine.is_some() && app.state.sockets.len() == 2
    });
    window.step_until_shown("services/chat.ts");

    // The other service file, read-only, from the Script panel's picker.
    window.open_tab("Script");
    window
        .harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "Module")
        .click();
    window.harness.step();
    window.harness.step();
    window.harness.get_by_label("services/feed.ts").click();
    window.step_until_shown("Read-only here");
    window.step_until_shown("feed: ");

    window.open_tab("Clients (0)");
    window
        .harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "Socket")
        .click();
    window.harness.step();
    window.harness.step();
    window.harness.get_by_label_contains("feed  :").click();
    window.harness.step();
    window.click("Connect");
    window.step_until("the client to open", |app| {
        app.state
            .clients
            .iter()
            .any(|client| matches!(client.state, sockscope::ui::test_client::ClientState::Open))
    });
    let feed_port = window
        .app()
        .state
        .sockets
        .iter()
        .find(|listener| &*listener.socket == "feed")
        .map(|listener| listener.local_addr.port())
        .expect("feed is served");
    assert!(
        window.app().state.clients[0]
            .url
            .contains(&format!(":{feed_port}")),
        "the client went to the picked socket"
    );
}
