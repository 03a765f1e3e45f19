//! Starting an engine with the handlers a user chose: the one place that
//! knows which lanes exist. Today that is the embedded script lane; the real
//! runtime (`--run`, `--project`) joins it here.

use std::path::PathBuf;

use crate::engine::config::EngineConfig;
use crate::engine::{EngineError, EngineHandle};
use crate::script::{EmbeddedLauncher, ScriptConfig};

/// A server and the handlers behind it.
#[derive(Clone, Debug)]
pub struct LaunchConfig {
    pub server: EngineConfig,
    pub script: ScriptConfig,
}

impl LaunchConfig {
    /// The default server (127.0.0.1:4001, in-memory kv) running `script_path`.
    pub fn new(script_path: impl Into<PathBuf>) -> Self {
        Self {
            server: EngineConfig::default(),
            script: ScriptConfig::new(script_path),
        }
    }
}

/// Starts the engine and its handlers. Must be called inside a tokio runtime.
pub async fn start(config: LaunchConfig) -> Result<EngineHandle, EngineError> {
    EngineHandle::start(config.server, Box::new(EmbeddedLauncher(config.script))).await
}
