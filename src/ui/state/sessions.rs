//! Sessions in the window: recording the embedded server (and built-in
//! clients talking to other servers), listing files, replaying them with
//! live progress, and file operations. Everything slow runs in the
//! background and reports through [`UiMessage`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AppState, UiMessage};
use crate::core::events::ClosedBy;
use crate::nitric::NitricConfig;
use crate::session::format::{Frame, IgnoreRule, SessionEvent};
use crate::session::runner::{
    FileProgress, ReplayFileOptions, ReplayResult, ReplayServer, replay_file,
};
use crate::session::{Header, Recorder, Timing, script_reference};
use crate::ui::model::sessions::{ReplayTarget, connect_event, list_sessions, recording_file_name};
use crate::ui::test_client::{ClientActivity, ClientState};

impl AppState {
    /// Re-reads the session files (in the background).
    pub fn list_sessions(&mut self) {
        let folder = self.sessions.folder.clone();
        let extra = self.sessions.extra_files.clone();
        self.spawn_blocking(
            move || Ok(list_sessions(&folder, &extra)),
            UiMessage::SessionsListed,
        );
    }

    /// Starts recording every connection of the running server into a new
    /// file in the sessions folder.
    pub fn start_recording(&mut self) {
        let Some(engine) = self.engine.clone() else {
            self.notify("start the server before recording", true);
            return;
        };
        if let Err(error) = std::fs::create_dir_all(&self.sessions.folder) {
            self.notify(
                format!("cannot create {}: {error}", self.sessions.folder.display()),
                true,
            );
            return;
        }
        let path = self
            .sessions
            .folder
            .join(recording_file_name(chrono::Local::now()));
        let target = self
            .launch_config
            .proxy
            .as_ref()
            .map(|proxy| proxy.target.url().to_owned());
        let mut header = Header::new(if target.is_some() {
            "proxy"
        } else {
            "recorded"
        });
        // A session recorded against the user's services (or through a
        // proxy) names no script.
        if target.is_some() {
            header.target = target;
        } else if !self.runs_services() {
            header.script = Some(script_reference(&path, &self.launch_config.script.path));
        }
        // The recorder spawns its forwarding task on the runtime.
        let _runtime = self.runtime.enter();
        match Recorder::start(&engine, &path, header) {
            Ok(handle) => {
                let open = handle.status().connections;
                if open == 0 {
                    self.notify(format!("recording to {}", path.display()), false);
                } else {
                    self.notify(
                        format!(
                            "recording to {}, with the {open} open connection{} from here on (what they did before is not in it)",
                            path.display(),
                            if open == 1 { "" } else { "s" }
                        ),
                        false,
                    );
                }
                self.sessions.recording = Some(handle);
            }
            Err(error) => self.notify(format!("cannot record: {error}"), true),
        }
    }

    /// Finishes the recording (in the background).
    pub fn stop_recording(&mut self) {
        if let Some(handle) = self.sessions.recording.take() {
            let path = handle.path().to_path_buf();
            self.spawn(async move {
                let status = handle.stop().await;
                UiMessage::RecordingStopped { path, status }
            });
        }
    }

    /// Adds what built-in clients did to the recording, for clients talking
    /// to other servers (the embedded server's side is recorded already).
    pub fn record_client_activity(
        &mut self,
        label: &str,
        url: &str,
        close_requested: bool,
        activity: &[(chrono::DateTime<chrono::Utc>, ClientActivity)],
    ) {
        let Some(recording) = &self.sessions.recording else {
            return;
        };
        let server = self.engine.as_ref().map(|engine| engine.url());
        if server
            .as_deref()
            .is_some_and(|server| url.starts_with(server))
        {
            return;
        }
        let key = format!("client:{label}");
        for (at, activity) in activity {
            let events: Vec<SessionEvent> = match activity {
                ClientActivity::Opened => {
                    vec![connect_event(url), SessionEvent::Accepted { id: None }]
                }
                ClientActivity::Refused(status) => vec![
                    connect_event(url),
                    SessionEvent::Rejected { status: *status },
                ],
                ClientActivity::Sent(payload) => vec![SessionEvent::Send(Frame::from(payload))],
                ClientActivity::Received(payload) => vec![SessionEvent::Recv(Frame::from(payload))],
                ClientActivity::Ended(ClientState::Closed { code, .. }) => {
                    vec![SessionEvent::Close {
                        code: *code,
                        by: if close_requested {
                            ClosedBy::Client
                        } else {
                            ClosedBy::Server
                        },
                    }]
                }
                ClientActivity::Ended(_) => Vec::new(),
            };
            for event in events {
                recording.record_external(&key, event, *at);
            }
        }
    }

    /// Replays `paths` one after another against `target`.
    pub fn replay(
        &mut self,
        paths: Vec<PathBuf>,
        target: ReplayTarget,
        timing: Timing,
        speed: f64,
    ) {
        if paths.is_empty() || self.sessions.is_replaying {
            return;
        }
        let server = match target {
            ReplayTarget::FreshServer => match &self.launch_config.services {
                // New copies of the user's services, left alone during the
                // replay; the SDKs' shared port stays with this window's
                // server.
                Some(services) => ReplayServer::Services(NitricConfig {
                    service_address: None,
                    watch: false,
                    ..services.clone()
                }),
                None => ReplayServer::Fresh {
                    script: None,
                    seed: None,
                },
            },
            ReplayTarget::Url(url) => ReplayServer::Url(url),
            ReplayTarget::ThisServer => match &self.engine {
                Some(engine) => ReplayServer::Url(engine.url()),
                None => {
                    self.notify(
                        "the server is not running: start it or replay against a fresh server",
                        true,
                    );
                    return;
                }
            },
        };
        let options = ReplayFileOptions {
            timing,
            speed,
            ..ReplayFileOptions::new(server)
        };
        self.sessions.is_replaying = true;
        let progress = Arc::clone(&self.sessions.progress);
        let repaint = Arc::clone(&self.repaint);
        let messages = self.message_sender();
        self.spawn(async move {
            for path in paths {
                let result = replay_file(&path, &options, |event| {
                    if let FileProgress::Steps(steps) = event {
                        *progress.lock() = Some((path.clone(), steps));
                        repaint();
                    }
                })
                .await;
                let _ = messages.send(UiMessage::ReplayFinished { path, result });
                repaint();
            }
            *progress.lock() = None;
            UiMessage::ReplaysDone
        });
    }

    /// Replays `path` `runs` times against fresh embedded servers, each
    /// settling the handlers' calls in the order of another seed; stops at
    /// the first run that diverges or loses an update, shows its report and
    /// names its seed.
    pub fn replay_interleavings(&mut self, path: PathBuf, runs: u32, timing: Timing, speed: f64) {
        if self.sessions.is_replaying || runs == 0 {
            return;
        }
        if self.launch_config.services.is_some() {
            self.notify(
                "interleavings reorder the embedded lane's handlers; your services run in their own runtime",
                true,
            );
            return;
        }
        self.sessions.is_replaying = true;
        let progress = Arc::clone(&self.sessions.progress);
        let repaint = Arc::clone(&self.repaint);
        let messages = self.message_sender();
        self.spawn(async move {
            let what = format!("Replay ×{runs} (interleavings) of {}", path.display());
            for seed in 1..=u64::from(runs) {
                let options = ReplayFileOptions {
                    timing,
                    speed,
                    ..ReplayFileOptions::new(ReplayServer::Fresh {
                        script: None,
                        seed: Some(seed),
                    })
                };
                let result = replay_file(&path, &options, |event| {
                    if let FileProgress::Steps(steps) = event {
                        *progress.lock() = Some((path.clone(), steps));
                        repaint();
                    }
                })
                .await;
                let problem = match &result {
                    ReplayResult::Error(message) => Some(message.clone()),
                    ReplayResult::Report(report) => match (&report.divergence, report.lost_updates.first()) {
                        (Some(divergence), _) => Some(divergence.to_string()),
                        (None, Some(lost)) => Some(lost.clone()),
                        (None, None) => None,
                    },
                };
                let last = seed == u64::from(runs);
                if problem.is_some() || last {
                    let _ = messages.send(UiMessage::ReplayFinished {
                        path: path.clone(),
                        result,
                    });
                    let outcome = match problem {
                        Some(problem) => Err(format!(
                            "interleaving seed {seed}: {problem} (reproduce: sockscope replay {} --seed {seed})",
                            path.display()
                        )),
                        None => Ok(()),
                    };
                    let _ = messages.send(UiMessage::CommandDone {
                        what: what.clone(),
                        result: outcome,
                    });
                    break;
                }
            }
            *progress.lock() = None;
            repaint();
            UiMessage::ReplaysDone
        });
    }

    /// Writes `rules` into the header of the session at `path`.
    pub fn save_ignore_rules(&mut self, path: PathBuf, rules: Vec<IgnoreRule>) {
        let Some(session) = self.session_at(&path) else {
            return;
        };
        let mut session = session.clone();
        session.header.ignore = rules;
        self.spawn_blocking(
            move || {
                session
                    .save(&path)
                    .map(|()| format!("ignore rules saved in {}", path.display()))
                    .map_err(|error| error.to_string())
            },
            UiMessage::SessionFileWritten,
        );
    }

    /// Writes the session at `from` to `to` (save as, rename, import).
    pub fn write_session_copy(&mut self, from: &Path, to: PathBuf, remove_original: bool) {
        let Some(session) = self.session_at(from).cloned() else {
            return;
        };
        let from = from.to_path_buf();
        self.spawn_blocking(
            move || {
                session.save(&to).map_err(|error| error.to_string())?;
                if remove_original && from != to {
                    std::fs::remove_file(&from)
                        .map_err(|error| format!("cannot remove {}: {error}", from.display()))?;
                }
                Ok(format!("wrote {}", to.display()))
            },
            UiMessage::SessionFileWritten,
        );
    }

    /// Imports a browser HAR file into the sessions folder.
    pub fn import_har(&mut self, har: PathBuf) {
        let folder = self.sessions.folder.clone();
        self.spawn_blocking(
            move || {
                let text = std::fs::read_to_string(&har)
                    .map_err(|error| format!("cannot read {}: {error}", har.display()))?;
                let session = crate::session::har::import_har(&text)
                    .map_err(|error| format!("cannot import {}: {error}", har.display()))?;
                std::fs::create_dir_all(&folder)
                    .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
                let stem = har.file_stem().map_or("imported".into(), |stem| {
                    stem.to_string_lossy().into_owned()
                });
                let target = folder.join(format!("{stem}.jsonl"));
                session.save(&target).map_err(|error| error.to_string())?;
                Ok(format!(
                    "imported {} into {}",
                    har.display(),
                    target.display()
                ))
            },
            UiMessage::SessionFileWritten,
        );
    }

    /// The parsed session listed at `path`.
    pub fn session_at(&self, path: &Path) -> Option<&crate::session::Session> {
        self.sessions
            .listing
            .iter()
            .find(|summary| summary.path == path)
            .and_then(|summary| summary.session.as_ref())
    }
}
