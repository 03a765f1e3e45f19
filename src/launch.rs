//! Starting an engine with the handlers a user chose: the one place that
//! knows which lanes exist. The embedded script lane, the user's own
//! services over Nitric's gRPC contract (`--run`, `--project`), or a
//! target server to proxy to (`proxy --target`).

use std::path::PathBuf;

use crate::engine::config::EngineConfig;
use crate::engine::{EngineError, EngineHandle};
use crate::nitric::{NitricConfig, NitricLauncher};
use crate::proxy::{ProxyConfig, ProxyLauncher};
use crate::script::{EmbeddedLauncher, ScriptConfig};

/// A server and the handlers behind it.
#[derive(Clone, Debug)]
pub struct LaunchConfig {
    pub server: EngineConfig,
    /// The embedded lane's script, run unless `services` is set.
    pub script: ScriptConfig,
    /// The user's services (the real-runtime lane); they run instead of
    /// the script.
    pub services: Option<NitricConfig>,
    /// A target server to forward every connection to; when set, neither
    /// the script nor the services run.
    pub proxy: Option<ProxyConfig>,
}

impl LaunchConfig {
    /// The default server (127.0.0.1:4001, in-memory kv) running `script_path`.
    pub fn new(script_path: impl Into<PathBuf>) -> Self {
        Self {
            server: EngineConfig::default(),
            script: ScriptConfig::new(script_path),
            services: None,
            proxy: None,
        }
    }
}

/// Starts the engine and its handlers. Must be called inside a tokio runtime.
pub async fn start(config: LaunchConfig) -> Result<EngineHandle, EngineError> {
    if let Some(proxy) = config.proxy {
        return EngineHandle::start(config.server, Box::new(ProxyLauncher(proxy))).await;
    }
    match config.services {
        Some(services) => {
            EngineHandle::start(config.server, Box::new(NitricLauncher(services))).await
        }
        None => EngineHandle::start(config.server, Box::new(EmbeddedLauncher(config.script))).await,
    }
}
