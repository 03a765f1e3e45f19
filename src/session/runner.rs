//! Replaying session files: [`replay_file`], the one driver that reads a
//! file, starts a fresh engine when asked, replays with progress and returns
//! a typed [`ReplayResult`] (the window's Sessions panel uses it), and
//! `sockscope replay`'s [`run_replays`], which prints one line per session,
//! writes JUnit XML and decides the exit status.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::compare::shorten;
use super::format::{Session, read_session};
use super::junit::{JunitCase, JunitOutcome, junit_xml};
use super::replay::{ReplayOptions, ReplayProgress, ReplayReport, Timing, replay_session};
use crate::core::config::KvLocation;
use crate::engine::EngineHandle;
use crate::launch::{self, LaunchConfig};
use crate::nitric::NitricConfig;
use crate::script::bundled::default_script_path;

/// What `sockscope replay` was asked to do.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Session files, replayed in this order.
    pub files: Vec<PathBuf>,
    /// Server to replay against; `None` starts the embedded engine per session.
    pub url: Option<String>,
    /// Script for the embedded engine; `None`: the session's own, else the default.
    pub script: Option<PathBuf>,
    /// The user's services to replay against instead of a script (`--run`,
    /// `--project`), started fresh for each session.
    pub services: Option<NitricConfig>,
    /// When actions happen.
    pub timing: Timing,
    /// Speed factor for recorded timing.
    pub speed: f64,
    /// Longest wait for one expected step.
    pub step_timeout: Duration,
    /// Where to write JUnit XML, if anywhere.
    pub junit: Option<PathBuf>,
    /// Draw a progress line on stderr.
    pub show_progress: bool,
}

/// The overall result, ordered by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunOutcome {
    /// Every session passed (exit 0).
    Passed,
    /// At least one session diverged (exit 1).
    Mismatch,
    /// A file was unreadable or a server unreachable (exit 2).
    Unusable,
}

impl RunOutcome {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            RunOutcome::Passed => 0,
            RunOutcome::Mismatch => 1,
            RunOutcome::Unusable => 2,
        }
    }
}

impl From<Verdict> for RunOutcome {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Pass => RunOutcome::Passed,
            Verdict::Fail => RunOutcome::Mismatch,
            Verdict::Error => RunOutcome::Unusable,
        }
    }
}

/// Where a replay sends its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayServer {
    /// A server already listening at this `ws://host:port`.
    Url(String),
    /// A fresh embedded engine for each session, from [`start_engine_for`].
    Fresh {
        /// Script to run instead of the session's own.
        script: Option<PathBuf>,
    },
    /// A fresh engine running the user's services for each session.
    Services(NitricConfig),
}

/// How [`replay_file`] replays one file.
#[derive(Clone, Debug)]
pub struct ReplayFileOptions {
    /// Where the clients go.
    pub server: ReplayServer,
    /// When actions happen.
    pub timing: Timing,
    /// Speed factor for recorded timing.
    pub speed: f64,
    /// Longest wait for one expected step.
    pub step_timeout: Duration,
}

impl ReplayFileOptions {
    /// The defaults of [`ReplayOptions::new`] against `server`.
    pub fn new(server: ReplayServer) -> Self {
        let defaults = ReplayOptions::new(String::new());
        Self {
            server,
            timing: defaults.timing,
            speed: defaults.speed,
            step_timeout: defaults.step_timeout,
        }
    }
}

/// What [`replay_file`] reports while it runs, in this order.
#[derive(Clone, Copy, Debug)]
pub enum FileProgress<'a> {
    /// The file was read with a problem (a torn last line); it is replayed anyway.
    Warning(&'a str),
    /// Steps done so far.
    Steps(ReplayProgress),
    /// The replay is over (a fresh engine is stopped next).
    Replayed,
}

/// The outcome of replaying one file.
#[derive(Clone, Debug)]
pub enum ReplayResult {
    /// It ran to the end, passing or with a divergence.
    Report(Box<ReplayReport>),
    /// It could not run (unreadable file, no server, bad rule), in one line.
    Error(String),
}

impl ReplayResult {
    /// Passed, failed or could not run.
    pub fn verdict(&self) -> Verdict {
        match self {
            ReplayResult::Report(report) if report.passed() => Verdict::Pass,
            ReplayResult::Report(_) => Verdict::Fail,
            ReplayResult::Error(_) => Verdict::Error,
        }
    }
}

/// A replay's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing diverged.
    Pass,
    /// Something diverged.
    Fail,
    /// The replay could not run.
    Error,
}

impl Verdict {
    /// `PASS`, `FAIL` or `ERROR`, as `sockscope replay` prints it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        }
    }

    pub fn is_pass(self) -> bool {
        self == Verdict::Pass
    }
}

/// Reads `file` (on a blocking thread), starts a fresh engine if
/// `options.server` asks for one, replays the session against it and stops
/// the engine again.
pub async fn replay_file(
    file: &Path,
    options: &ReplayFileOptions,
    mut progress: impl FnMut(FileProgress<'_>) + Send,
) -> ReplayResult {
    let read = tokio::task::spawn_blocking({
        let file = file.to_path_buf();
        move || read_session(&file)
    })
    .await;
    let session = match read {
        Ok(Ok(session)) => session,
        Ok(Err(error)) => return ReplayResult::Error(error.to_string()),
        Err(error) => return ReplayResult::Error(error.to_string()),
    };
    for warning in &session.warnings {
        progress(FileProgress::Warning(warning));
    }
    let engine = match &options.server {
        ReplayServer::Url(_) => None,
        ReplayServer::Fresh { script } => {
            match start_engine_for(&session, script.as_deref()).await {
                Ok(engine) => Some(engine),
                Err(error) => return ReplayResult::Error(error),
            }
        }
        ReplayServer::Services(services) => match start_services(services.clone()).await {
            Ok(engine) => Some(engine),
            Err(error) => return ReplayResult::Error(error),
        },
    };
    let url = match (&options.server, &engine) {
        (ReplayServer::Url(url), _) => url.clone(),
        (_, Some(engine)) => engine.url(),
        (_, None) => {
            return ReplayResult::Error("no server to replay against".to_owned());
        }
    };
    let replay_options = ReplayOptions {
        url,
        timing: options.timing,
        speed: options.speed,
        step_timeout: options.step_timeout,
    };
    let result = replay_session(&session, &replay_options, |steps: ReplayProgress| {
        progress(FileProgress::Steps(steps));
    })
    .await;
    progress(FileProgress::Replayed);
    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    match result {
        Ok(report) => ReplayResult::Report(Box::new(report)),
        Err(error) => ReplayResult::Error(error.to_string()),
    }
}

/// Replays every file; results go to `out`, problems and progress to stderr.
pub async fn run_replays(options: &RunOptions, out: &mut impl Write) -> RunOutcome {
    let file_options = ReplayFileOptions {
        server: match (&options.url, &options.services) {
            (Some(url), _) => ReplayServer::Url(url.clone()),
            (None, Some(services)) => ReplayServer::Services(services.clone()),
            (None, None) => ReplayServer::Fresh {
                script: options.script.clone(),
            },
        },
        timing: options.timing,
        speed: options.speed,
        step_timeout: options.step_timeout,
    };
    let show_progress = options.show_progress;
    let mut outcome = RunOutcome::Passed;
    let mut cases = Vec::new();
    for file in &options.files {
        let name = file.display().to_string();
        let result = replay_file(file, &file_options, |event| match event {
            FileProgress::Warning(warning) => eprintln!("warning: {warning}"),
            FileProgress::Steps(steps) if show_progress => {
                eprint!("\r{name}: {}/{} steps", steps.steps_done, steps.steps_total);
            }
            // Clear the progress line.
            FileProgress::Replayed if show_progress => eprint!("\r\x1b[2K"),
            FileProgress::Steps(_) | FileProgress::Replayed => {}
        })
        .await;
        let verdict = result.verdict();
        outcome = outcome.max(verdict.into());
        let label = verdict.label();
        let case = match result {
            ReplayResult::Report(report) => {
                let summary = format!(
                    "{}, {}, {} ms",
                    plural(report.connections.len(), "connection"),
                    plural(report.messages, "message"),
                    report.elapsed_ms
                );
                let _ = writeln!(out, "{label} {name} ({summary})");
                match &report.divergence {
                    None => JunitCase {
                        name,
                        time_ms: report.elapsed_ms,
                        outcome: JunitOutcome::Passed,
                    },
                    Some(divergence) => {
                        let _ = writeln!(out, "  first divergence: {divergence}");
                        JunitCase {
                            name,
                            time_ms: report.elapsed_ms,
                            outcome: JunitOutcome::Failed {
                                message: divergence.to_string(),
                                detail: side_by_side(&report),
                            },
                        }
                    }
                }
            }
            ReplayResult::Error(message) => {
                let _ = writeln!(out, "{label} {name}: {message}");
                JunitCase {
                    name,
                    time_ms: 0,
                    outcome: JunitOutcome::Error { message },
                }
            }
        };
        cases.push(case);
    }
    if let Some(junit) = &options.junit
        && let Err(error) = std::fs::write(junit, junit_xml("sockscope.replay", &cases))
    {
        eprintln!("sockscope: cannot write {}: {error}", junit.display());
        outcome = outcome.max(RunOutcome::Unusable);
    }
    outcome
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Starts a fresh embedded engine for `session`: `script` if given, else
/// the session's own script, else the bundled chat example; in-memory kv,
/// a free port. What `replay` without `--url` (and the window's "fresh
/// server" target) replays against.
pub async fn start_engine_for(
    session: &Session,
    script: Option<&Path>,
) -> Result<EngineHandle, String> {
    let script = match (script.map(Path::to_path_buf), session.script_path()) {
        (Some(script), _) => script.clone(),
        (None, Some(script)) => script,
        (None, None) => default_script_path()
            .map_err(|error| format!("cannot write the bundled example script: {error}"))?,
    };
    let mut config = LaunchConfig::new(script);
    config.server.port = 0;
    config.server.kv = KvLocation::Memory;
    launch::start(config)
        .await
        .map_err(|error| error.to_string())
}

/// Starts a fresh engine running the user's services: in-memory kv, free
/// ports. What `replay --run`/`--project` replays against.
pub async fn start_services(services: NitricConfig) -> Result<EngineHandle, String> {
    let mut config = LaunchConfig::new(PathBuf::new());
    config.server.port = 0;
    config.server.kv = KvLocation::Memory;
    config.services = Some(services);
    launch::start(config)
        .await
        .map_err(|error| format!("{error:#}"))
}

/// Every connection's expected and actual steps, for a failure report.
fn side_by_side(report: &ReplayReport) -> String {
    let mut text = String::new();
    for connection in &report.connections {
        let marker = if connection.divergence.is_some() {
            "FAIL"
        } else {
            "ok"
        };
        text.push_str(&format!(
            "{} {} {marker}\n",
            connection.label, connection.path_and_query
        ));
        for index in 0..connection.expected.len().max(connection.actual.len()) {
            let shown = |steps: &[super::compare::Step]| {
                steps
                    .get(index)
                    .map(|step| shorten(&step.kind.display(), 80))
                    .unwrap_or_else(|| "(nothing)".to_owned())
            };
            text.push_str(&format!(
                "  [{index}] expected {} | actual {}\n",
                shown(&connection.expected),
                shown(&connection.actual)
            ));
        }
    }
    if let Some(divergence) = &report.divergence {
        text.push_str(&format!("first divergence: {divergence}\n"));
    }
    text
}
