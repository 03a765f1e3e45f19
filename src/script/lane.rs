//! The embedded lane behind the engine's seam: one script file, run on the
//! script thread, reloaded from its file or an editor buffer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::modules::ServiceSource;
use super::turns::TurnOrder;
use super::{Gateway, ScriptHost, ScriptLoaded, ScriptSettings, watch};
use crate::core::bus::EventBus;
use crate::core::events::{ConnectionId, Event, Payload, ScriptFailure};
use crate::runtime::{
    ConnectRequest, ConnectVerdict, HandlerRuntime, ReloadError, RuntimeFuture, RuntimeLauncher,
    RuntimeServices, RuntimeStartError,
};

/// Which script the embedded lane runs, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptConfig {
    /// The script, or a project's first service file (the one the editor
    /// shows).
    pub path: PathBuf,
    /// A project's other service files, each run in a context of its own.
    pub other_services: Vec<PathBuf>,
    /// Reload the script when its file changes on disk.
    pub watch: bool,
    /// Start even if the script fails to load (the GUI shows the error and
    /// waits for a fix); otherwise a broken script is a start error.
    pub start_with_broken_script: bool,
    /// Where the lane's gateway deliberately differs from `nitric start`.
    pub gateway: Gateway,
    /// Settle each turn's calls in an order shuffled by this seed
    /// (`replay --interleavings`), instead of the order they were made in.
    pub interleaving_seed: Option<u64>,
    /// `--low-cpu`: the sockets run on the script thread, so a message is
    /// never handed from one thread to another (nothing waits by looking
    /// ahead either), at the price of one CPU at most for the whole server.
    pub low_cpu: bool,
}

impl ScriptConfig {
    /// `path`, not watched, and a broken script does not start.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            other_services: Vec::new(),
            watch: false,
            start_with_broken_script: false,
            gateway: Gateway::default(),
            interleaving_seed: None,
            low_cpu: false,
        }
    }
}

/// The module name a script is loaded under: its path inside its project
/// (`services/chat.ts`; the file name when it has no project around it).
pub fn script_module_name(path: &Path) -> String {
    super::modules::module_name(path)
}

/// Starts the embedded lane for one script.
pub struct EmbeddedLauncher(pub ScriptConfig);

impl RuntimeLauncher for EmbeddedLauncher {
    fn launch(
        self: Box<Self>,
        services: RuntimeServices,
    ) -> RuntimeFuture<'static, Result<Arc<dyn HandlerRuntime>, RuntimeStartError>> {
        Box::pin(async move {
            let runtime = EmbeddedRuntime::start(self.0, services).await?;
            Ok(runtime as Arc<dyn HandlerRuntime>)
        })
    }
}

/// The script thread as a [`HandlerRuntime`].
pub struct EmbeddedRuntime {
    host: ScriptHost,
    config: ScriptConfig,
    bus: EventBus,
    sockets: Mutex<Vec<String>>,
    /// The files the loaded script is made of, watched for changes.
    files: watch::WatchedFiles,
    failure: Mutex<Option<ScriptFailure>>,
    stopped: CancellationToken,
}

impl EmbeddedRuntime {
    async fn start(
        config: ScriptConfig,
        services: RuntimeServices,
    ) -> Result<Arc<Self>, RuntimeStartError> {
        let files = read_services(&config, None)
            .map_err(|(path, reason)| RuntimeStartError::Read { path, reason })?;
        let host = ScriptHost::start(
            ScriptSettings {
                handler_timeout: services.limits.handler_timeout,
                memory_limit_bytes: services.limits.script_memory_bytes,
                url: services.url.clone(),
                directory: Arc::clone(&services.connections),
                gateway: config.gateway,
                order: config
                    .interleaving_seed
                    .map(TurnOrder::seeded)
                    .unwrap_or_default(),
                shares_thread_with_sockets: config.low_cpu,
            },
            services.kv.clone(),
            services.bus.clone(),
        )
        .map_err(|error| RuntimeStartError::Start(error.to_string()))?;
        let (loaded, failure) = match host.load(files).await {
            Ok(loaded) => (loaded, None),
            Err(failure) if config.start_with_broken_script => (
                ScriptLoaded {
                    sockets: Vec::new(),
                    files: std::iter::once(&config.path)
                        .chain(&config.other_services)
                        .cloned()
                        .collect(),
                },
                Some(failure),
            ),
            Err(failure) => {
                host.stop().await;
                return Err(RuntimeStartError::Load {
                    path: config.path.clone(),
                    failure,
                });
            }
        };
        let runtime = Arc::new(Self {
            host,
            bus: services.bus.clone(),
            sockets: Mutex::new(loaded.sockets),
            files: Arc::new(Mutex::new(loaded.files)),
            failure: Mutex::new(failure.clone()),
            stopped: CancellationToken::new(),
            config,
        });
        if let Some(failure) = failure {
            runtime.bus.publish(Event::ScriptReloadFailed {
                path: runtime.config.path.display().to_string(),
                failure,
                at: Utc::now(),
            });
        }
        if runtime.config.watch {
            let watched = Arc::downgrade(&runtime);
            tokio::spawn(watch::watch_files(
                Arc::clone(&runtime.files),
                runtime.stopped.clone(),
                move || {
                    let watched = watched.clone();
                    async move {
                        let Some(runtime) = watched.upgrade() else {
                            return false;
                        };
                        // A failure is published on the bus as ScriptReloadFailed.
                        let _ = runtime.load(None).await;
                        true
                    }
                },
            ));
        }
        Ok(runtime)
    }

    async fn load(&self, source: Option<String>) -> Result<(), ReloadError> {
        let path = &self.config.path;
        let services = read_services(&self.config, source)
            .map_err(|(path, reason)| ReloadError::Read { path, reason })?;
        let loaded = self.host.load(services).await;
        *self.failure.lock() = loaded.as_ref().err().cloned();
        let shown_path = path.display().to_string();
        match loaded {
            Ok(loaded) => {
                *self.sockets.lock() = loaded.sockets;
                *self.files.lock() = loaded.files;
                self.bus.publish(Event::ScriptReloaded {
                    path: shown_path,
                    at: Utc::now(),
                });
                Ok(())
            }
            Err(failure) => {
                self.bus.publish(Event::ScriptReloadFailed {
                    path: shown_path,
                    failure: failure.clone(),
                    at: Utc::now(),
                });
                Err(ReloadError::Load {
                    path: path.clone(),
                    failure,
                })
            }
        }
    }
}

/// The service files' texts: the first from `edited` when the editor
/// gave one, the rest from disk.
fn read_services(
    config: &ScriptConfig,
    edited: Option<String>,
) -> Result<Vec<ServiceSource>, (PathBuf, std::io::Error)> {
    let mut edited = edited;
    std::iter::once(&config.path)
        .chain(&config.other_services)
        .map(|path| {
            let source = match edited.take() {
                Some(source) => source,
                None => std::fs::read_to_string(path).map_err(|reason| (path.clone(), reason))?,
            };
            Ok(ServiceSource {
                path: path.clone(),
                source,
            })
        })
        .collect()
}

impl HandlerRuntime for EmbeddedRuntime {
    fn connect(&self, request: ConnectRequest) -> RuntimeFuture<'_, ConnectVerdict> {
        Box::pin(
            self.host
                .connect(request.connection_id, request.socket, request.query),
        )
    }

    fn message(&self, connection_id: ConnectionId, payload: Payload) -> RuntimeFuture<'_, ()> {
        Box::pin(self.host.message(connection_id, payload))
    }

    fn disconnect(&self, connection_id: ConnectionId) -> RuntimeFuture<'_, ()> {
        Box::pin(self.host.disconnect(connection_id))
    }

    fn reload(&self, source: Option<String>) -> RuntimeFuture<'_, Result<(), ReloadError>> {
        Box::pin(async move {
            if self.stopped.is_cancelled() {
                return Err(ReloadError::Stopped);
            }
            self.load(source).await
        })
    }

    fn stop(&self) -> RuntimeFuture<'_, ()> {
        self.stopped.cancel();
        Box::pin(self.host.stop())
    }

    fn sockets_runtime(&self) -> Option<tokio::runtime::Handle> {
        self.host.sockets_runtime()
    }

    fn sockets(&self) -> Vec<String> {
        // Each declared socket gets a listener of its own, as under `nitric start`.
        self.sockets.lock().clone()
    }

    fn load_failure(&self) -> Option<ScriptFailure> {
        self.failure.lock().clone()
    }

    fn source_files(&self) -> Vec<PathBuf> {
        self.files.lock().clone()
    }
}
