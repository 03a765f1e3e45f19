//! The real-runtime lane from the window: a Nitric project folder opened
//! with "Open project…" (or its typed path) runs its services behind the
//! engine instead of the script; opening a script switches back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{AppState, ServerStatus, UiMessage};
use crate::launch::LaunchConfig;
use crate::nitric::{DEFAULT_SERVICE_ADDRESS, NitricConfig, Project, read_project};
use crate::ui::model::services::{OpenedProject, ServicesView};

/// How a project opened in the window runs its services: as the command
/// line's services did (`--service-address`, `--startup-timeout`,
/// `--no-permissions`, `--watch`), else as under `nitric start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRunOptions {
    /// Where services started by hand connect (the SDKs' default).
    pub service_address: Option<SocketAddr>,
    /// Longest wait for every service to register before serving anyway.
    pub startup_timeout: Duration,
    pub enforce_permissions: bool,
    /// Restart the services when their sources change. Off unless asked:
    /// a project's start commands usually watch by themselves.
    pub watch: bool,
    /// Run the service files in the embedded lane instead of their start
    /// commands ("embedded" beside Open project…).
    pub embedded: bool,
}

impl Default for ProjectRunOptions {
    fn default() -> Self {
        Self {
            service_address: Some(DEFAULT_SERVICE_ADDRESS),
            startup_timeout: Duration::from_secs(30),
            enforce_permissions: true,
            watch: false,
            embedded: false,
        }
    }
}

impl ProjectRunOptions {
    /// The options of the services `launch` runs, if any.
    pub fn from_launch(launch: &LaunchConfig) -> Self {
        match &launch.services {
            Some(services) => Self {
                service_address: services.service_address,
                startup_timeout: services.startup_timeout,
                enforce_permissions: services.enforce_permissions,
                watch: services.watch,
                embedded: false,
            },
            None => Self::default(),
        }
    }
}

impl AppState {
    /// Whether the user's services run (or are being started) instead of
    /// the script.
    pub fn runs_services(&self) -> bool {
        self.launch_config.services.is_some()
    }

    /// Whether the handlers may be switched now. Not while a start or stop
    /// is under way: the new engine would race the old one for the port.
    pub fn can_switch_handlers(&self) -> bool {
        !matches!(self.status, ServerStatus::Starting | ServerStatus::Stopping)
    }

    /// Says why a switch is refused; true when it may go ahead.
    pub(crate) fn check_can_switch_handlers(&mut self) -> bool {
        let can_switch = self.can_switch_handlers();
        if !can_switch {
            self.notify(
                "wait until the server has started or stopped, then open it again",
                true,
            );
        }
        can_switch
    }

    /// Asks for a project folder in a native dialog, in the background.
    pub fn pick_project_folder(&self) {
        self.spawn_dialog(
            rfd::AsyncFileDialog::new()
                .set_title("Open a Nitric project (the folder with nitric.yaml)")
                .pick_folder(),
            UiMessage::ProjectFolderPicked,
        );
    }

    /// Opens a typed or picked path on a blocking thread: a folder as a
    /// Nitric project ([`AppState::run_project`]), a file as the script. A
    /// bad project or path is a notice and changes nothing.
    pub fn open_path(&mut self, path: PathBuf) {
        if !self.check_can_switch_handlers() {
            return;
        }
        let read_from = path.clone();
        self.spawn_blocking(
            move || read_handlers(&read_from),
            move |result| UiMessage::PathRead { path, result },
        );
    }

    /// Runs `project`'s services instead of the current handlers: the
    /// server restarts with them, on the ports its local.nitric.yaml pins.
    pub fn run_project(&mut self, dir: PathBuf, project: Project) {
        if !self.check_can_switch_handlers() {
            return;
        }
        if self.project_options.embedded {
            self.run_project_embedded(&dir, project);
            return;
        }
        let options = &self.project_options;
        let services = NitricConfig {
            services: project.services,
            service_address: options.service_address,
            startup_timeout: options.startup_timeout,
            enforce_permissions: options.enforce_permissions,
            watch: options.watch,
        };
        let opened = OpenedProject {
            dir,
            name: project.name,
        };
        self.notify(
            format!(
                "opening project {} ({}): the server restarts",
                opened.name,
                opened.dir.display()
            ),
            false,
        );
        self.launch_config.services = Some(services);
        self.launch_config.proxy = None;
        self.launch_config.server.pinned_ports = project.socket_ports;
        self.services = ServicesView {
            project: Some(opened),
            summaries: Vec::new(),
        };
        self.start_engine();
    }

    /// Runs `project`'s service files in the embedded lane, a context
    /// each; the editor shows the first.
    fn run_project_embedded(&mut self, dir: &Path, project: Project) {
        let mut files = project.service_files().into_iter();
        let Some(first) = files.next() else {
            self.notify("the project has no service files", true);
            return;
        };
        self.leave_project();
        self.notify(
            format!(
                "opening project {} ({}) in the embedded lane: the server restarts",
                project.name,
                dir.display()
            ),
            false,
        );
        self.settings.script_path = Some(first.clone());
        self.launch_config.script.path = first;
        self.launch_config.script.other_services = files.collect();
        self.launch_config.server.pinned_ports = project.socket_ports;
        self.script = Default::default();
        self.load_script_file();
        self.start_engine();
    }

    /// Back to the embedded lane (a script was opened): the project's
    /// services and its port pins go.
    pub(crate) fn leave_project(&mut self) {
        if self.launch_config.services.take().is_some() {
            self.launch_config.server.pinned_ports.clear();
        }
        self.launch_config.script.other_services.clear();
        self.services = ServicesView::default();
    }
}

/// What an opened path holds.
pub enum OpenedPath {
    Script,
    Project(Project),
}

fn read_handlers(path: &Path) -> Result<OpenedPath, String> {
    if path.is_dir() {
        read_project(path)
            .map(OpenedPath::Project)
            .map_err(|error| format!("project not opened: {error}"))
    } else if path.is_file() {
        Ok(OpenedPath::Script)
    } else {
        Err(format!("{} is neither a file nor a folder", path.display()))
    }
}
