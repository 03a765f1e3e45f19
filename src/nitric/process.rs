//! The user's service processes: started like `nitric start` starts them
//! (their own gRPC port in `SERVICE_ADDRESS`, `NITRIC_ENVIRONMENT=run`,
//! `PYTHONUNBUFFERED=TRUE`, `.env` applied last), their output logged under
//! their name, their exit reported with its code and last stderr lines, and
//! stopped with SIGTERM, then SIGKILL after a grace period, process group
//! and all.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use super::hub::{Hub, ServiceId};
use crate::core::events::LogLevel;

/// Time a service gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Stderr lines kept for the report when a service exits.
const LAST_STDERR_LINES: usize = 8;

/// How a service is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// `--run CMD`: through `sh -c`.
    Shell(String),
    /// A `nitric.yaml` start command: split on spaces and run directly, as
    /// `nitric start` does.
    Argv(Vec<String>),
}

/// One service to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// What logs and panels call it: the file it serves, or its command.
    pub name: String,
    pub program: Program,
    pub cwd: PathBuf,
    /// Applied after `SERVICE_ADDRESS` and the rest, so they win (`.env`).
    pub env: Vec<(String, String)>,
}

impl ServiceSpec {
    /// The command as a user would type it.
    pub fn command_line(&self) -> String {
        match &self.program {
            Program::Shell(command) => command.clone(),
            Program::Argv(argv) => argv.join(" "),
        }
    }
}

/// Where a service process is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessState {
    Running {
        pid: u32,
    },
    /// It ended by itself (or could not start); the text says how.
    Exited(String),
    /// sockscope stopped it.
    Stopped,
}

/// A running (or ended) service process.
pub(crate) struct ServiceProcess {
    pub state: watch::Receiver<ProcessState>,
    pid: Option<u32>,
    is_stopping: Arc<AtomicBool>,
}

impl ServiceProcess {
    /// Starts `spec` with its gRPC server at `grpc`. Output and the exit are
    /// reported on the hub, attributed to `service`.
    pub(crate) fn start(
        hub: Arc<Hub>,
        service: ServiceId,
        spec: &ServiceSpec,
        grpc: SocketAddr,
    ) -> std::io::Result<Self> {
        let mut command = match &spec.program {
            Program::Shell(line) => {
                let mut command = tokio::process::Command::new("sh");
                command.arg("-c").arg(line);
                command
            }
            Program::Argv(argv) => {
                let Some((program, args)) = argv.split_first() else {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "empty start command",
                    ));
                };
                let mut command = tokio::process::Command::new(program);
                command.args(args);
                command
            }
        };
        command
            .current_dir(&spec.cwd)
            .env("SERVICE_ADDRESS", grpc.to_string())
            .env("NITRIC_ENVIRONMENT", "run")
            .env("PYTHONUNBUFFERED", "TRUE")
            .envs(spec.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own group, so a stop reaches what a shell or npm started.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork
        // and exec here.
        unsafe {
            command.pre_exec(|| {
                // If sockscope dies without stopping it, the service gets
                // SIGTERM instead of living on as an orphan.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let pid = child.id();
        let (state_sender, state) = watch::channel(ProcessState::Running {
            pid: pid.unwrap_or_default(),
        });
        let last_stderr: Arc<Mutex<VecDeque<String>>> = Arc::default();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward_lines(
                Arc::clone(&hub),
                service,
                stdout,
                LogLevel::Info,
                None,
            ));
        }
        let stderr_done = child.stderr.take().map(|stderr| {
            tokio::spawn(forward_lines(
                Arc::clone(&hub),
                service,
                stderr,
                LogLevel::Warn,
                Some(Arc::clone(&last_stderr)),
            ))
        });
        let kept = Arc::clone(&last_stderr);
        let is_stopping = Arc::new(AtomicBool::new(false));
        let stopped_by_us = Arc::clone(&is_stopping);
        tokio::spawn(async move {
            let status = child.wait().await;
            if let Some(done) = stderr_done {
                // The last lines explain the exit: read them first.
                let _ = tokio::time::timeout(Duration::from_millis(500), done).await;
            }
            if stopped_by_us.load(Ordering::Acquire) {
                hub.log(service, LogLevel::Info, "stopped");
                let _ = state_sender.send(ProcessState::Stopped);
                return;
            }
            let how = match status {
                Ok(status) => match (
                    status.code(),
                    std::os::unix::process::ExitStatusExt::signal(&status),
                ) {
                    (Some(code), _) => format!("exited with code {code}"),
                    (None, Some(signal)) => format!("was killed by signal {signal}"),
                    (None, None) => "exited".to_owned(),
                },
                Err(error) => format!("could not be waited for: {error}"),
            };
            let lines: Vec<String> = kept.lock().iter().cloned().collect();
            let tail = if lines.is_empty() {
                String::new()
            } else {
                format!("; last stderr lines:\n{}", lines.join("\n"))
            };
            hub.log(
                service,
                LogLevel::Error,
                format!("{how}; not restarted (connections stay open; new connects are refused until it registers again){tail}"),
            );
            let _ = state_sender.send(ProcessState::Exited(how));
        });
        Ok(Self {
            state,
            pid,
            is_stopping,
        })
    }

    /// SIGTERM to its process group, SIGKILL after the grace period.
    pub(crate) async fn stop(&mut self) {
        let Some(pid) = self.pid.and_then(|pid| i32::try_from(pid).ok()) else {
            return;
        };
        if !matches!(*self.state.borrow(), ProcessState::Running { .. }) {
            return;
        }
        self.is_stopping.store(true, Ordering::Release);
        // SAFETY: kill(2) with a negative pid signals the group we created.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
        let ended = tokio::time::timeout(
            STOP_GRACE,
            self.state
                .wait_for(|state| !matches!(state, ProcessState::Running { .. })),
        )
        .await;
        if ended.is_err() {
            // SAFETY: as above.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// Logs each line of a child's stream under its service's name.
async fn forward_lines(
    hub: Arc<Hub>,
    service: ServiceId,
    stream: impl AsyncRead + Unpin,
    level: LogLevel,
    keep: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(keep) = &keep {
            let mut kept = keep.lock();
            if kept.len() == LAST_STDERR_LINES {
                kept.pop_front();
            }
            kept.push_back(line.clone());
        }
        hub.log(service, level, line);
    }
}
