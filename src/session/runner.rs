//! `sockscope replay`: replays session files one after another, prints one
//! line per session, writes JUnit XML and decides the exit status.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::compare::shorten;
use super::format::{Session, read_session};
use super::junit::{JunitCase, JunitOutcome, junit_xml};
use super::replay::{ReplayOptions, ReplayProgress, ReplayReport, Timing, replay_session};
use crate::engine::EngineHandle;
use crate::engine::config::{EngineConfig, KvLocation};
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

/// Replays every file; results go to `out`, problems and progress to stderr.
pub async fn run_replays(options: &RunOptions, out: &mut impl Write) -> RunOutcome {
    let mut outcome = RunOutcome::Passed;
    let mut cases = Vec::new();
    for file in &options.files {
        let name = file.display().to_string();
        let case = match replay_file(file, options).await {
            Ok(report) => {
                let summary = format!(
                    "{}, {}, {} ms",
                    plural(report.connections.len(), "connection"),
                    plural(report.messages, "message"),
                    report.elapsed_ms
                );
                match &report.divergence {
                    None => {
                        let _ = writeln!(out, "PASS {name} ({summary})");
                        JunitCase {
                            name,
                            time_ms: report.elapsed_ms,
                            outcome: JunitOutcome::Passed,
                        }
                    }
                    Some(divergence) => {
                        outcome = outcome.max(RunOutcome::Mismatch);
                        let _ = writeln!(out, "FAIL {name} ({summary})");
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
            Err(message) => {
                outcome = outcome.max(RunOutcome::Unusable);
                let _ = writeln!(out, "ERROR {name}: {message}");
                JunitCase {
                    name,
                    time_ms: 0,
                    outcome: JunitOutcome::Error { message },
                }
            }
        };
        cases.push(case);
    }
    if let Some(junit) = &options.junit {
        if let Err(error) = std::fs::write(junit, junit_xml("sockscope.replay", &cases)) {
            eprintln!("sockscope: cannot write {}: {error}", junit.display());
            outcome = outcome.max(RunOutcome::Unusable);
        }
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

/// Reads and replays one file; `Err` carries a one-line reason.
async fn replay_file(file: &Path, options: &RunOptions) -> Result<ReplayReport, String> {
    let session = read_session(file).map_err(|error| error.to_string())?;
    for warning in &session.warnings {
        eprintln!("warning: {warning}");
    }
    let engine = match &options.url {
        Some(_) => None,
        None => Some(start_engine_for(&session, options.script.as_deref()).await?),
    };
    let url = match (&options.url, &engine) {
        (Some(url), _) => url.clone(),
        (None, Some(engine)) => engine.url(),
        (None, None) => return Err("no server to replay against".to_owned()),
    };
    let replay_options = ReplayOptions {
        url,
        timing: options.timing,
        speed: options.speed,
        step_timeout: options.step_timeout,
    };
    let show_progress = options.show_progress;
    let label = file.display().to_string();
    let result = replay_session(&session, &replay_options, |progress: ReplayProgress| {
        if show_progress {
            eprint!(
                "\r{label}: {}/{} steps",
                progress.steps_done, progress.steps_total
            );
        }
    })
    .await;
    if show_progress {
        // Clear the progress line.
        eprint!("\r\x1b[2K");
    }
    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    result.map_err(|error| error.to_string())
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
    let mut config = EngineConfig::new(script);
    config.port = 0;
    config.kv = KvLocation::Memory;
    EngineHandle::start(config)
        .await
        .map_err(|error| error.to_string())
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
