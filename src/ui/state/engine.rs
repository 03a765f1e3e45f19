//! The engine's lifecycle as the window drives it: start (or restart with
//! other settings), stop, switch scripts, and decide on held connections.

use std::path::PathBuf;
use std::time::Duration;

use super::{AppState, ServerStatus, UiMessage};
use crate::core::events::{ApprovalDecision, ConnectionId};
use crate::engine::command::Command;
use crate::proxy::ProxyConfig;

impl AppState {
    /// (Re)starts the engine with the current settings, in the background.
    /// A running engine is shut down first (its clients get 1001), so the
    /// new one can bind the same port and open the same kv file.
    pub fn start_engine(&mut self) {
        let mut config = self.launch_config.clone();
        match self.settings.bind.parse() {
            Ok(bind) => config.server.bind = bind,
            Err(_) => {
                self.status =
                    ServerStatus::Failed(format!("'{}' is not an IP address", self.settings.bind));
                return;
            }
        }
        config.server.port = self.settings.port;
        config.server.limits.approval_timeout =
            Duration::from_secs(self.settings.approval_timeout_secs.max(1));
        let (intercept, problems) = self.settings.intercept_config();
        config.server.intercept = intercept;
        for problem in problems {
            self.notify(problem, true);
        }
        if let Some(path) = &self.settings.script_path {
            config.script.path = path.clone();
        }
        self.launch_config = config.clone();
        self.status = ServerStatus::Starting;
        // A recording belongs to one server run.
        self.stop_recording();
        let previous = self.engine.take();
        self.sockets.clear();
        self.spawn(async move {
            if let Some(previous) = previous {
                previous.shutdown().await;
            }
            UiMessage::EngineStarted(
                crate::launch::start(config)
                    .await
                    .map_err(|error| format!("{error:#}")),
            )
        });
    }

    /// Stops the engine (clients get 1001) in the background.
    pub fn stop_engine(&mut self) {
        self.stop_recording();
        self.sockets.clear();
        if let Some(engine) = self.engine.take() {
            self.status = ServerStatus::Stopping;
            self.spawn(async move {
                engine.shutdown().await;
                UiMessage::EngineStopped
            });
        }
    }

    /// Switches to another script (from the user's services, too): the
    /// server restarts with it.
    pub fn open_script(&mut self, path: PathBuf) {
        if !self.check_can_switch_handlers() {
            return;
        }
        self.leave_project();
        self.launch_config.proxy = None;
        self.notify(
            format!("opening {}: the server restarts", path.display()),
            false,
        );
        self.settings.script_path = Some(path.clone());
        self.launch_config.script.path = path;
        self.script = Default::default();
        self.load_script_file();
        self.start_engine();
    }

    /// Whether connections go to a target server instead of handlers.
    pub fn is_proxy(&self) -> bool {
        self.launch_config.proxy.is_some()
    }

    /// Proxy mode: the server restarts forwarding every connection to
    /// `url` (the settings' `proxy_target`).
    pub fn switch_to_proxy(&mut self) {
        if !self.check_can_switch_handlers() {
            return;
        }
        let url = self.settings.proxy_target.trim().to_owned();
        match ProxyConfig::new(&url) {
            Ok(proxy) => {
                self.notify(format!("proxying to {url}: the server restarts"), false);
                self.launch_config.proxy = Some(proxy);
                self.start_engine();
            }
            Err(error) => self.notify(error.to_string(), true),
        }
    }

    /// Back to running handlers (the script or the services): the server
    /// restarts.
    pub fn switch_to_handlers(&mut self) {
        if !self.is_proxy() || !self.check_can_switch_handlers() {
            return;
        }
        self.notify("running handlers again: the server restarts", false);
        self.launch_config.proxy = None;
        self.start_engine();
    }

    /// Lets a held connection in, or refuses it.
    pub fn resolve_approval(&mut self, connection_id: ConnectionId, decision: ApprovalDecision) {
        let what = match decision {
            ApprovalDecision::Accept => "accept connection",
            ApprovalDecision::Deny(_) => "deny connection",
        };
        self.command(
            what,
            Command::ResolveApproval {
                connection_id,
                decision,
            },
        );
    }
}
