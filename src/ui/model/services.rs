//! What the window knows about the user's services (the real-runtime lane):
//! the project they come from and the engine's latest summaries.

use std::path::PathBuf;

use crate::nitric::NitricConfig;
use crate::runtime::ServiceSummary;

/// How a declared resource sockscope accepts but does not serve ends in
/// [`ServiceSummary::declared`] (kept in sync with `nitric/grpc/held.rs`).
pub const NOT_SERVED_SUFFIX: &str = "(declared, not served)";

/// A project folder opened in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedProject {
    pub dir: PathBuf,
    /// `name:` in its nitric.yaml, or the folder's name.
    pub name: String,
}

/// The Services panel's data.
#[derive(Default)]
pub struct ServicesView {
    /// The project opened in the window; `None` for services from the
    /// command line (`--project`, `--run`), whose project name the window
    /// does not know.
    pub project: Option<OpenedProject>,
    /// The engine's summaries as of the last periodic refresh.
    pub summaries: Vec<ServiceSummary>,
}

/// "Project demo · 2 services", "1 service", "services at 127.0.0.1:50051":
/// what runs instead of a script, for the server bar and the Services panel.
pub fn services_title(config: &NitricConfig, project: Option<&OpenedProject>) -> String {
    let count = config.services.len();
    let counted = match count {
        1 => "1 service".to_owned(),
        _ => format!("{count} services"),
    };
    match (project, config.service_address) {
        (Some(project), _) => format!("Project {} · {counted}", project.name),
        (None, Some(address)) if count == 0 => format!("services at {address}"),
        (None, _) => counted,
    }
}

/// Whether a line of [`ServiceSummary::declared`] names a resource that is
/// accepted but not served.
pub fn is_not_served(declared: &str) -> bool {
    declared.ends_with(NOT_SERVED_SUFFIX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::nitric::{DEFAULT_SERVICE_ADDRESS, Program, ServiceSpec};

    fn config(count: usize) -> NitricConfig {
        NitricConfig {
            services: (0..count)
                .map(|index| ServiceSpec {
                    name: format!("services/s{index}.js"),
                    program: Program::Shell("node s.js".to_owned()),
                    cwd: PathBuf::from("."),
                    env: Vec::new(),
                })
                .collect(),
            service_address: Some(DEFAULT_SERVICE_ADDRESS),
            startup_timeout: Duration::from_secs(30),
            enforce_permissions: true,
            // The window restarts services on a save, as it reloads scripts.
            watch: true,
        }
    }

    #[test]
    fn titles_name_the_project_and_count_its_services() {
        let project = OpenedProject {
            dir: PathBuf::from("/tmp/demo"),
            name: "demo".to_owned(),
        };
        assert_eq!(
            services_title(&config(2), Some(&project)),
            "Project demo · 2 services"
        );
        assert_eq!(services_title(&config(1), None), "1 service");
        assert_eq!(
            services_title(&config(0), None),
            "services at 127.0.0.1:50051"
        );
    }

    #[test]
    fn not_served_declarations_are_recognised() {
        assert!(is_not_served("api main (declared, not served)"));
        assert!(!is_not_served("websocket chat"));
    }
}
