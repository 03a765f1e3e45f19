//! Everything the panels read and change, plus the channel that brings
//! results of background work (engine start, commands, file I/O) back.
//! Below the panels and the app: it draws nothing.
//!
//! - [`engine`]: starting and stopping the engine, approvals.
//! - [`ingest`]: engine events into the models, time boxed; periodic refresh.
//! - [`message`]: results of background work ([`UiMessage`]) and applying them.
//! - [`blocking`]: running blocking work off the runtime's threads.
//! - [`dialog`]: native file and folder dialogs.
//! - [`io`]: the kv store's contents and the script file.
//! - [`project`]: a Nitric project's services instead of the script.
//! - [`reveal`]: jumping to a `file:line` in the Script panel.
//! - [`sessions`]: recording, session files, replays.

pub mod blocking;
pub mod dialog;
pub mod engine;
pub mod ingest;
pub mod io;
pub mod message;
pub mod project;
pub mod reveal;
pub mod sessions;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::core::events::{ApprovalStage, ConnectionId, FrameDirection};
use crate::engine::breakpoints::{
    BreakpointRule, HoldSettings, OnTimeout, PayloadMatch, PayloadPattern,
};
use crate::engine::command::Command;
use crate::engine::config::InterceptConfig;
use crate::engine::{EngineHandle, SocketListener};
use crate::launch::LaunchConfig;
use crate::ui::model::approvals::ApprovalHistory;
use crate::ui::model::connections::Connections;
use crate::ui::model::kv_view::KvView;
use crate::ui::model::logs::Logs;
use crate::ui::model::rates::Rates;
use crate::ui::model::script::ScriptEditor;
use crate::ui::model::services::ServicesView;
use crate::ui::model::sessions::SessionsState;
use crate::ui::model::timeline::{Timeline, TimelineLimits};
use crate::ui::test_client::TestClient;

pub use message::UiMessage;
pub use project::ProjectRunOptions;

/// Settings of the window. The theme is kept between runs; the server's
/// address and script come from the command line each time, so that
/// `sockscope` always starts the way its flags (or defaults) say.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Listen address (as typed in the server bar).
    #[serde(skip)]
    pub bind: String,
    /// Listen port (0 = any free).
    #[serde(skip)]
    pub port: u16,
    /// Script opened in this run, if not the one from the command line.
    #[serde(skip)]
    pub script_path: Option<PathBuf>,
    /// Dark (true) or light theme.
    pub is_dark: bool,
    /// Seconds a held connection waits for a decision.
    pub approval_timeout_secs: u64,
    /// Whether connections are held before their connect handler runs.
    pub approval_stage: ApprovalStage,
    /// Message breakpoints for any connection (one connection's rules end
    /// with its server run), re-applied whenever the server starts.
    pub breakpoints: Vec<SavedBreakpoint>,
    /// How long held messages wait, and what then.
    pub hold_timeout_secs: u64,
    pub hold_on_timeout: OnTimeout,
    /// The proxy target last typed in the server bar's Mode menu.
    pub proxy_target: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".to_owned(),
            port: 4001,
            script_path: None,
            is_dark: true,
            approval_timeout_secs: 60,
            approval_stage: ApprovalStage::default(),
            breakpoints: Vec::new(),
            hold_timeout_secs: HoldSettings::default().timeout.as_secs(),
            hold_on_timeout: OnTimeout::default(),
            proxy_target: String::new(),
        }
    }
}

/// A message breakpoint as the settings keep it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedBreakpoint {
    /// In, out, or both (`None`).
    pub direction: Option<FrameDirection>,
    pub payload: PayloadPattern,
}

impl Settings {
    /// The interceptions a server started now begins with; saved rules
    /// that no longer parse are skipped, with the reason.
    pub fn intercept_config(&self) -> (InterceptConfig, Vec<String>) {
        let mut problems = Vec::new();
        let breakpoints = self
            .breakpoints
            .iter()
            .filter_map(|saved| match PayloadMatch::parse(&saved.payload) {
                Ok(payload) => Some(BreakpointRule {
                    direction: saved.direction,
                    connection_id: None,
                    payload,
                }),
                Err(error) => {
                    problems.push(format!("saved breakpoint not applied: {error}"));
                    None
                }
            })
            .collect();
        let config = InterceptConfig {
            approval_stage: self.approval_stage,
            breakpoints,
            hold_settings: self.hold_settings(),
        };
        (config, problems)
    }

    /// The held messages' timeout and what follows it.
    pub fn hold_settings(&self) -> HoldSettings {
        HoldSettings {
            timeout: std::time::Duration::from_secs(self.hold_timeout_secs.max(1)),
            on_timeout: self.hold_on_timeout,
        }
    }

    /// Keeps the rules that outlive a server run (those for any connection).
    pub fn save_breakpoints(&mut self, rules: &[BreakpointRule]) {
        self.breakpoints = rules
            .iter()
            .filter(|rule| rule.connection_id.is_none())
            .map(|rule| SavedBreakpoint {
                direction: rule.direction,
                payload: rule.payload.pattern(),
            })
            .collect();
    }
}

/// Where the embedded server stands.
#[derive(Clone, Debug)]
pub enum ServerStatus {
    /// Start requested.
    Starting,
    /// Accepting connections.
    Running,
    /// Stop requested: clients are being closed.
    Stopping,
    /// Stopped by the user.
    Stopped,
    /// Start failed, with the reason.
    Failed(String),
}

/// A short message at the bottom of the window.
#[derive(Clone, Debug)]
pub struct Notice {
    /// Text.
    pub text: String,
    /// Whether it reports a failure.
    pub is_error: bool,
    /// When it was posted.
    pub at: Instant,
}

/// State shared by all panels.
pub struct AppState {
    /// The tokio runtime everything async runs on.
    pub runtime: tokio::runtime::Handle,
    /// Wakes the UI from other threads.
    pub repaint: Arc<dyn Fn() + Send + Sync>,
    /// The running engine, if any.
    pub engine: Option<EngineHandle>,
    /// The running engine's sockets and their listeners (fixed while it
    /// runs), for the server bar.
    pub sockets: Vec<SocketListener>,
    /// Engine configuration for the next start.
    pub launch_config: LaunchConfig,
    /// Server status.
    pub status: ServerStatus,
    /// Persisted settings.
    pub settings: Settings,
    /// Every frame and lifecycle event.
    pub timeline: Timeline,
    /// Connections table.
    pub connections: Connections,
    /// Console and script errors.
    pub logs: Logs,
    /// How held connections' waits ended.
    pub approvals: ApprovalHistory,
    /// Rates for the plot and the server bar.
    pub rates: Rates,
    /// KV panel data.
    pub kv: KvView,
    /// Script editor.
    pub script: ScriptEditor,
    /// The user's services, when they run instead of the script.
    pub services: ServicesView,
    /// How a project opened in the window runs.
    pub project_options: ProjectRunOptions,
    /// Built-in test clients.
    pub clients: Vec<TestClient>,
    /// Clients created so far (for labels).
    pub clients_created: usize,
    /// Connection selected in the Connections table.
    pub selected_connection: Option<ConnectionId>,
    /// Messages at the bottom of the window.
    pub notices: Vec<Notice>,
    /// Events the display lost because it fell behind (total).
    pub missed_events: u64,
    /// Events pour in faster than anyone reads them: the window draws a
    /// few frames a second and shows what it can take ([`ingest`]).
    pub is_flooded: bool,
    /// Session files, replays and the recording.
    pub sessions: SessionsState,
    messages: mpsc::UnboundedSender<UiMessage>,
    /// A line another panel asked to show (a `file:line` in the Log,
    /// Messages or Sessions), in the script or the module the Script panel
    /// shows; the app brings the Script panel to the front for it.
    pub reveal_script_line: Option<u32>,
}

impl AppState {
    /// Fresh state; `messages` is where background work reports.
    pub fn new(
        runtime: tokio::runtime::Handle,
        repaint: Arc<dyn Fn() + Send + Sync>,
        launch_config: LaunchConfig,
        settings: Settings,
        messages: mpsc::UnboundedSender<UiMessage>,
    ) -> Self {
        let project_options = ProjectRunOptions::from_launch(&launch_config);
        let mut settings = settings;
        if let Some(proxy) = &launch_config.proxy {
            settings.proxy_target = proxy.target.url().to_owned();
        }
        Self {
            runtime,
            repaint,
            engine: None,
            sockets: Vec::new(),
            launch_config,
            status: ServerStatus::Stopped,
            settings,
            timeline: Timeline::new(TimelineLimits::default()),
            connections: Connections::default(),
            logs: Logs::default(),
            approvals: ApprovalHistory::default(),
            rates: Rates::default(),
            kv: KvView::default(),
            script: ScriptEditor::default(),
            services: ServicesView::default(),
            project_options,
            clients: Vec::new(),
            clients_created: 0,
            selected_connection: None,
            notices: Vec::new(),
            missed_events: 0,
            is_flooded: false,
            sessions: SessionsState::default(),
            messages,
            reveal_script_line: None,
        }
    }

    /// Where background work reports (for work that reports more than once).
    pub fn message_sender(&self) -> mpsc::UnboundedSender<UiMessage> {
        self.messages.clone()
    }

    /// Runs `work` on the runtime and delivers its message to the UI.
    pub fn spawn<F>(&self, work: F)
    where
        F: std::future::Future<Output = UiMessage> + Send + 'static,
    {
        let messages = self.messages.clone();
        let repaint = Arc::clone(&self.repaint);
        self.runtime.spawn(async move {
            let _ = messages.send(work.await);
            repaint();
        });
    }

    /// Sends a command to the engine; `what` names it in the result notice.
    pub fn command(&mut self, what: impl Into<String>, command: Command) {
        let what = what.into();
        let Some(engine) = self.engine.clone() else {
            self.notify(format!("{what}: the server is not running"), true);
            return;
        };
        self.spawn(async move {
            let result = engine
                .execute(command)
                .await
                .map_err(|error| format!("{error:#}"));
            UiMessage::CommandDone { what, result }
        });
    }

    /// Shows a notice at the bottom of the window.
    pub fn notify(&mut self, text: impl Into<String>, is_error: bool) {
        self.notices.push(Notice {
            text: text.into(),
            is_error,
            at: Instant::now(),
        });
        if self.notices.len() > 5 {
            self.notices.remove(0);
        }
    }

    /// The URL of the running server, or of the configured one.
    pub fn server_url(&self) -> String {
        match &self.engine {
            Some(engine) => engine.url(),
            None => format!("ws://{}:{}", self.settings.bind, self.settings.port),
        }
    }
}
