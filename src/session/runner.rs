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
use crate::core::bus::{BusMessage, Subscription};
use crate::core::config::KvLocation;
use crate::core::events::{Event, LogLevel, handler_error_summary};
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
    /// Replay each session this many times against fresh embedded engines,
    /// each settling its handlers' calls in another seeded order.
    pub interleavings: Option<u32>,
    /// The first (or only) seed of those orders.
    pub seed: Option<u64>,
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
        /// Settle each turn's calls in an order shuffled by this seed.
        seed: Option<u64>,
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
        ReplayServer::Fresh { script, seed } => {
            match start_engine_for(&session, script.as_deref(), *seed).await {
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
    let mut events = engine.as_ref().map(EngineHandle::subscribe_lossless);
    let result = replay_session(&session, &replay_options, |steps: ReplayProgress| {
        progress(FileProgress::Steps(steps));
    })
    .await;
    progress(FileProgress::Replayed);
    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    let problems = events.as_mut().map(problems_in).unwrap_or_default();
    match result {
        Ok(mut report) => {
            report.lost_updates = problems.lost_updates;
            report.handler_failures = problems.handler_failures;
            ReplayResult::Report(Box::new(report))
        }
        Err(error) => ReplayResult::Error(error.to_string()),
    }
}

/// What went wrong in the handlers during a replay.
#[derive(Default)]
struct Problems {
    lost_updates: Vec<String>,
    handler_failures: Vec<String>,
}

/// The lost-update warnings and handler failures published so far.
/// Problems are logged, as they are when nobody watches the bus.
fn problems_in(events: &mut Subscription) -> Problems {
    let mut found = Problems::default();
    while let Some(message) = events.try_recv() {
        let BusMessage::Event(event) = message else {
            continue;
        };
        if event.is_problem() {
            crate::core::logging::log_event(&event);
        }
        match event.as_ref() {
            Event::Log {
                level: LogLevel::Warn,
                message,
                ..
            } if message.starts_with("lost update") => found.lost_updates.push(message.clone()),
            Event::ScriptError {
                handler, failure, ..
            } => {
                let summary = handler_error_summary(*handler, failure);
                let first_line = summary.lines().next().unwrap_or_default();
                found.handler_failures.push(first_line.to_owned());
            }
            _ => {}
        }
    }
    found
}

/// Replays every file; results go to `out`, problems and progress to stderr.
pub async fn run_replays(options: &RunOptions, out: &mut impl Write) -> RunOutcome {
    let server = match (&options.url, &options.services) {
        (Some(url), _) => ReplayServer::Url(url.clone()),
        (None, Some(services)) => ReplayServer::Services(services.clone()),
        (None, None) => ReplayServer::Fresh {
            script: options.script.clone(),
            seed: options.seed,
        },
    };
    let explores = options.interleavings.is_some() || options.seed.is_some();
    if explores && !matches!(server, ReplayServer::Fresh { .. }) {
        let _ = writeln!(
            out,
            "ERROR --interleavings and --seed reorder the embedded lane's handlers; they cannot be used with --url, --run or --project"
        );
        return RunOutcome::Unusable;
    }
    let file_options = ReplayFileOptions {
        server,
        timing: options.timing,
        speed: options.speed,
        step_timeout: options.step_timeout,
    };
    let mut outcome = RunOutcome::Passed;
    let mut cases = Vec::new();
    for file in &options.files {
        let (verdict, case) = match options.interleavings {
            Some(runs) => explore(file, &file_options, options, runs, out).await,
            None => replay_once(file, &file_options, options.show_progress, out).await,
        };
        outcome = outcome.max(verdict.into());
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

/// Replays `file` once and prints its line.
async fn replay_once(
    file: &Path,
    file_options: &ReplayFileOptions,
    show_progress: bool,
    out: &mut impl Write,
) -> (Verdict, JunitCase) {
    let name = file.display().to_string();
    let result = replay_file(file, file_options, |event| match event {
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
    let label = verdict.label();
    let case = match result {
        ReplayResult::Report(report) => {
            let _ = writeln!(out, "{label} {name} ({})", summary(&report));
            for lost in &report.lost_updates {
                let _ = writeln!(out, "  {lost}");
            }
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
    (verdict, case)
}

/// Replays `file` `runs` times, each against a fresh engine settling its
/// handlers' calls in the order of another seed; the first run that
/// diverges or loses an update fails the file and names its seed.
async fn explore(
    file: &Path,
    file_options: &ReplayFileOptions,
    options: &RunOptions,
    runs: u32,
    out: &mut impl Write,
) -> (Verdict, JunitCase) {
    let name = file.display().to_string();
    let first_seed = options.seed.unwrap_or(1);
    let started = std::time::Instant::now();
    for run in 0..runs {
        let seed = first_seed.wrapping_add(u64::from(run));
        let mut seeded = file_options.clone();
        if let ReplayServer::Fresh { script, .. } = &file_options.server {
            seeded.server = ReplayServer::Fresh {
                script: script.clone(),
                seed: Some(seed),
            };
        }
        if options.show_progress {
            eprint!("\r{name}: interleaving {}/{runs}", run + 1);
        }
        let result = replay_file(file, &seeded, |event| {
            if let FileProgress::Warning(warning) = event {
                eprintln!("warning: {warning}");
            }
        })
        .await;
        if options.show_progress {
            eprint!("\r\x1b[2K");
        }
        let failure = match &result {
            ReplayResult::Error(message) => Some((Verdict::Error, message.clone())),
            ReplayResult::Report(report) => match (&report.divergence, report.lost_updates.first())
            {
                (Some(divergence), _) => {
                    Some((Verdict::Fail, format!("first divergence: {divergence}")))
                }
                (None, Some(lost)) => Some((Verdict::Fail, lost.clone())),
                (None, None) => None,
            },
        };
        if let Some((verdict, message)) = failure {
            let _ = writeln!(
                out,
                "{} {name} (interleaving {} of {runs}, seed {seed}; reproduce with --seed {seed})\n  {message}",
                verdict.label(),
                run + 1
            );
            let outcome = match verdict {
                Verdict::Error => JunitOutcome::Error { message },
                _ => JunitOutcome::Failed {
                    message: format!("seed {seed}: {message}"),
                    detail: match &result {
                        ReplayResult::Report(report) => side_by_side(report),
                        ReplayResult::Error(_) => String::new(),
                    },
                },
            };
            return (
                verdict,
                JunitCase {
                    name,
                    time_ms: elapsed_ms(started),
                    outcome,
                },
            );
        }
    }
    let _ = writeln!(
        out,
        "PASS {name} ({}, seeds {first_seed}..={})",
        plural(usize::try_from(runs).unwrap_or(usize::MAX), "interleaving"),
        first_seed.wrapping_add(u64::from(runs.saturating_sub(1)))
    );
    (
        Verdict::Pass,
        JunitCase {
            name,
            time_ms: elapsed_ms(started),
            outcome: JunitOutcome::Passed,
        },
    )
}

fn elapsed_ms(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `2 connections, 5 messages, 12 ms[, 1 lost update]`.
fn summary(report: &ReplayReport) -> String {
    let mut summary = format!(
        "{}, {}, {} ms",
        plural(report.connections.len(), "connection"),
        plural(report.messages, "message"),
        report.elapsed_ms
    );
    if !report.lost_updates.is_empty() {
        summary.push_str(&format!(
            ", {}",
            plural(report.lost_updates.len(), "lost update")
        ));
    }
    summary
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
    seed: Option<u64>,
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
    config.script.interleaving_seed = seed;
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
