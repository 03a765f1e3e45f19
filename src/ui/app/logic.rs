//! The non-drawing half of the app: engine lifecycle, event ingest (time
//! boxed, so a flood of frames cannot freeze the window), periodic refresh,
//! and results of background work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::EngineHandle;
use crate::engine::approvals::ApprovalDecision;
use crate::engine::bus::{BusMessage, Subscription};
use crate::engine::events::{ClosedBy, Event, LogLevel};
use crate::engine::query::path_and_query;
use crate::ui::model::logs::LogLine;
use crate::ui::model::timeline::{Direction, EntryBody};

use super::state::{AppState, ServerStatus, UiMessage};

/// Time one frame may spend ingesting events.
pub const INGEST_BUDGET: Duration = Duration::from_millis(8);

/// How often live traffic counters are refreshed.
const TRAFFIC_REFRESH: Duration = Duration::from_millis(500);

/// Events between two looks at the clock while ingesting.
const EVENTS_PER_CLOCK_CHECK: usize = 64;

/// The engine subscription and refresh timers.
#[derive(Default)]
pub struct Ingest {
    subscription: Option<Subscription>,
    last_traffic_refresh: Option<Instant>,
}

fn closed_by_label(by: ClosedBy) -> &'static str {
    match by {
        ClosedBy::Client => "client",
        ClosedBy::Script => "script",
        ClosedBy::User => "you",
        ClosedBy::Server => "server",
    }
}

impl AppState {
    /// (Re)starts the engine with the current settings, in the background.
    /// A running engine is shut down first (its clients get 1001), so the
    /// new one can bind the same port and open the same kv file.
    pub fn start_engine(&mut self) {
        let mut config = self.engine_config.clone();
        match self.settings.bind.parse() {
            Ok(bind) => config.bind = bind,
            Err(_) => {
                self.status =
                    ServerStatus::Failed(format!("'{}' is not an IP address", self.settings.bind));
                return;
            }
        }
        config.port = self.settings.port;
        config.limits.approval_timeout =
            Duration::from_secs(self.settings.approval_timeout_secs.max(1));
        if let Some(path) = &self.settings.script_path {
            config.script_path = path.clone();
        }
        self.engine_config = config.clone();
        self.status = ServerStatus::Starting;
        // A recording belongs to one server run.
        self.stop_recording();
        let previous = self.engine.take();
        self.spawn(async move {
            if let Some(previous) = previous {
                previous.shutdown().await;
            }
            UiMessage::EngineStarted(
                EngineHandle::start(config)
                    .await
                    .map_err(|error| format!("{error:#}")),
            )
        });
    }

    /// Stops the engine (clients get 1001) in the background.
    pub fn stop_engine(&mut self) {
        self.stop_recording();
        if let Some(engine) = self.engine.take() {
            self.status = ServerStatus::Starting;
            self.spawn(async move {
                engine.shutdown().await;
                UiMessage::EngineStopped
            });
        }
    }

    /// Reads the kv store names and the selected store's entries.
    pub fn refresh_kv(&mut self) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        let selected = self.kv.selected_store().map(str::to_owned);
        self.spawn(async move {
            let kv = engine.kv().clone();
            let result = tokio::task::spawn_blocking(move || kv.stores())
                .await
                .map_err(|error| error.to_string())
                .and_then(|stores| stores.map_err(|error| error.to_string()));
            UiMessage::KvStores(result)
        });
        if let Some(store) = selected {
            self.load_kv_store(store);
        }
    }

    /// Reads one store's entries.
    pub fn load_kv_store(&mut self, store: String) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        self.spawn(async move {
            let kv = engine.kv().clone();
            let read_store = store.clone();
            let result = tokio::task::spawn_blocking(move || kv.entries(&read_store, ""))
                .await
                .map_err(|error| error.to_string())
                .and_then(|entries| entries.map_err(|error| error.to_string()));
            UiMessage::KvEntries { store, result }
        });
    }

    /// Reads the script file into the editor.
    pub fn load_script_file(&mut self) {
        let path = self.engine_config.script_path.clone();
        self.spawn(async move {
            UiMessage::ScriptRead(
                tokio::fs::read_to_string(&path)
                    .await
                    .map_err(|error| format!("cannot read {}: {error}", path.display())),
            )
        });
    }

    /// Writes the editor's buffer to the script file; the engine's file
    /// watcher then reloads it (and reports success or the error).
    pub fn save_script(&mut self) {
        let path = self.engine_config.script_path.clone();
        let text = self.script.text.clone();
        self.spawn(async move {
            UiMessage::ScriptSaved(
                tokio::fs::write(&path, text.as_bytes())
                    .await
                    .map_err(|error| format!("cannot write {}: {error}", path.display())),
            )
        });
    }

    /// Accepts or denies a held connection.
    pub fn resolve_approval(
        &mut self,
        connection_id: crate::engine::events::ConnectionId,
        accept: bool,
    ) {
        let decision = if accept {
            ApprovalDecision::Accept
        } else {
            ApprovalDecision::Deny("denied in the sockscope window".to_owned())
        };
        let what = if accept {
            "accept connection"
        } else {
            "deny connection"
        };
        self.command(
            what,
            crate::engine::command::Command::ResolveApproval {
                connection_id,
                decision,
            },
        );
    }

    /// Applies one result of background work.
    pub fn apply_message(&mut self, message: UiMessage, ingest: &mut Ingest) {
        match message {
            UiMessage::EngineStarted(Ok(engine)) => {
                ingest.subscription = Some(engine.subscribe());
                spawn_repaint_waker(&self.runtime, engine.subscribe(), Arc::clone(&self.repaint));
                self.script.failure = engine.script_failure();
                self.notify(format!("listening on {}", engine.url()), false);
                self.timeline.push(
                    chrono::Utc::now(),
                    None,
                    Direction::Lifecycle,
                    EntryBody::Lifecycle(format!("server listening on {}", engine.url()).into()),
                );
                self.engine = Some(engine);
                self.status = ServerStatus::Running;
                self.rates.reset();
                self.refresh_kv();
            }
            UiMessage::EngineStarted(Err(error)) => {
                self.notify(format!("server did not start: {error}"), true);
                self.status = ServerStatus::Failed(error);
            }
            UiMessage::EngineStopped => {
                ingest.subscription = None;
                self.status = ServerStatus::Stopped;
                self.timeline.push(
                    chrono::Utc::now(),
                    None,
                    Direction::Lifecycle,
                    EntryBody::Lifecycle("server stopped".into()),
                );
            }
            UiMessage::CommandDone { what, result } => match result {
                Ok(()) => self.notify(format!("{what}: done"), false),
                Err(error) => self.notify(format!("{what} failed: {error}"), true),
            },
            UiMessage::KvStores(Ok(stores)) => {
                self.kv.set_stores(stores);
                if let Some(store) = self.kv.selected_store().map(str::to_owned) {
                    self.load_kv_store(store);
                }
            }
            UiMessage::KvStores(Err(error))
            | UiMessage::KvEntries {
                result: Err(error), ..
            } => {
                self.kv.load_error = Some(error);
            }
            UiMessage::KvEntries {
                store,
                result: Ok(entries),
            } => {
                self.kv.load_error = None;
                self.kv.set_entries(&store, entries);
            }
            UiMessage::ScriptRead(Ok(text)) => {
                if !self.script.is_dirty() {
                    self.script.text = text.clone();
                }
                self.script.saved_text = text;
            }
            UiMessage::ScriptRead(Err(error)) | UiMessage::ScriptSaved(Err(error)) => {
                self.notify(error, true)
            }
            UiMessage::ScriptSaved(Ok(())) => {
                self.script.saved_text = self.script.text.clone();
                // The watcher would notice too; reloading now makes the
                // outcome appear at once and attributes it to the save.
                self.command(
                    "reload script",
                    crate::engine::command::Command::ReloadScript { source: None },
                );
            }
            UiMessage::ScriptPicked(Ok(Some(path))) => self.open_script(path),
            UiMessage::ScriptPicked(Ok(None)) => {}
            UiMessage::SessionsListed(listing) => self.sessions.listing = listing,
            UiMessage::ReplayFinished { path, result } => {
                let verdict = result.label();
                self.notify(
                    format!("replay {verdict}: {}", path.display()),
                    verdict != "PASS",
                );
                self.sessions.results.insert(path, result);
            }
            UiMessage::ReplaysDone => self.sessions.is_replaying = false,
            UiMessage::RecordingStopped { path, status } => {
                match status.failure {
                    Some(failure) => self.notify(
                        format!("recording {} failed: {failure}", path.display()),
                        true,
                    ),
                    None => self.notify(
                        format!(
                            "recorded {}: {} connections, {} messages",
                            path.display(),
                            status.connections,
                            status.messages
                        ),
                        false,
                    ),
                }
                self.list_sessions();
            }
            UiMessage::SessionFileWritten(result) => {
                match result {
                    Ok(text) => self.notify(text, false),
                    Err(error) => self.notify(error, true),
                }
                self.list_sessions();
            }
            UiMessage::SessionPicked(Ok(Some(path))) => {
                if !self.sessions.extra_files.contains(&path) {
                    self.sessions.extra_files.push(path);
                }
                self.list_sessions();
            }
            UiMessage::SessionSaveTarget {
                from,
                picked: Ok(Some(to)),
            } => self.write_session_copy(&from, to, false),
            UiMessage::HarPicked(Ok(Some(path))) => self.import_har(path),
            UiMessage::SessionPicked(Ok(None))
            | UiMessage::SessionSaveTarget {
                picked: Ok(None), ..
            }
            | UiMessage::HarPicked(Ok(None)) => {}
            UiMessage::ScriptPicked(Err(error))
            | UiMessage::SessionPicked(Err(error))
            | UiMessage::SessionSaveTarget {
                picked: Err(error), ..
            }
            | UiMessage::HarPicked(Err(error)) => self.notify(
                format!("no file dialog available ({error}); type the path instead"),
                true,
            ),
        }
    }

    /// Switches to another script: the server restarts with it.
    pub fn open_script(&mut self, path: std::path::PathBuf) {
        self.notify(
            format!("opening {}: the server restarts", path.display()),
            false,
        );
        self.settings.script_path = Some(path.clone());
        self.engine_config.script_path = path;
        self.script = Default::default();
        self.load_script_file();
        self.start_engine();
    }

    /// Applies engine events until none are left or the budget is spent.
    /// Returns whether events are still waiting.
    pub fn ingest_events(&mut self, ingest: &mut Ingest, budget: Duration) -> bool {
        let started = Instant::now();
        let mut since_clock_check = 0;
        loop {
            let Some(subscription) = ingest.subscription.as_mut() else {
                return false;
            };
            let Some(message) = subscription.try_recv() else {
                return false;
            };
            match message {
                BusMessage::Event(event) => self.apply_event(&event),
                BusMessage::Missed(count) => {
                    self.missed_events += count;
                    self.timeline.push(
                        chrono::Utc::now(),
                        None,
                        Direction::Lifecycle,
                        EntryBody::Missed(count),
                    );
                }
            }
            since_clock_check += 1;
            if since_clock_check == EVENTS_PER_CLOCK_CHECK {
                since_clock_check = 0;
                if started.elapsed() >= budget {
                    return true;
                }
            }
        }
    }

    /// Refreshes traffic counters and samples rates when due.
    pub fn refresh_periodic(&mut self, ingest: &mut Ingest, now: Instant) {
        let Some(engine) = &self.engine else { return };
        if ingest
            .last_traffic_refresh
            .is_none_or(|at| now.duration_since(at) >= TRAFFIC_REFRESH)
        {
            ingest.last_traffic_refresh = Some(now);
            self.connections.refresh_traffic(&engine.traffic());
        }
        if self.rates.is_due(now) {
            let open = self.connections.open_count();
            self.rates.sample(now, engine.totals(), open);
        }
    }

    fn lifecycle(
        &mut self,
        at: chrono::DateTime<chrono::Utc>,
        connection_id: Option<crate::engine::events::ConnectionId>,
        text: String,
    ) {
        self.timeline.push(
            at,
            connection_id,
            Direction::Lifecycle,
            EntryBody::Lifecycle(text.into()),
        );
    }

    /// Applies one engine event to the models.
    pub fn apply_event(&mut self, event: &Event) {
        match event {
            Event::Listening { .. } | Event::Stopped { .. } => {}
            Event::ConnectionOpened {
                connection_id,
                remote_addr,
                path,
                query,
                at,
            } => {
                self.connections.opened(
                    *connection_id,
                    *remote_addr,
                    path.clone(),
                    query.clone(),
                    *at,
                );
                self.lifecycle(
                    *at,
                    Some(*connection_id),
                    format!(
                        "connected {} from {remote_addr}",
                        path_and_query(path, query)
                    ),
                );
            }
            Event::ConnectionDenied {
                connection_id,
                remote_addr,
                path,
                query,
                status,
                reason,
                at,
            } => {
                self.connections.denied(
                    *connection_id,
                    *remote_addr,
                    path.clone(),
                    query.clone(),
                    *at,
                    *status,
                    reason.clone(),
                );
                self.lifecycle(
                    *at,
                    Some(*connection_id),
                    format!("denied with HTTP {status}: {reason}"),
                );
            }
            Event::ConnectionClosed {
                connection_id,
                code,
                reason,
                by,
                at,
            } => {
                self.connections
                    .closed(*connection_id, *at, *code, *by, reason.clone());
                let code =
                    code.map_or_else(|| "without close frame".to_owned(), |code| code.to_string());
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                };
                self.lifecycle(
                    *at,
                    Some(*connection_id),
                    format!("closed {code} by {}{reason}", closed_by_label(*by)),
                );
            }
            Event::FrameIn {
                connection_id,
                payload,
                at,
            } => self.timeline.push(
                *at,
                Some(*connection_id),
                Direction::In,
                EntryBody::Frame(payload.clone()),
            ),
            Event::FrameOut {
                connection_id,
                payload,
                at,
            } => self.timeline.push(
                *at,
                Some(*connection_id),
                Direction::Out,
                EntryBody::Frame(payload.clone()),
            ),
            Event::KvChanged {
                store, key, change, ..
            } => self.kv.apply(store, key, change, Instant::now()),
            Event::Log {
                connection_id,
                level,
                message,
                at,
            } => self.logs.push(LogLine {
                at: *at,
                level: *level,
                connection_id: *connection_id,
                message: message.clone(),
                location: None,
            }),
            Event::ScriptError {
                connection_id,
                handler,
                failure,
                at,
            } => {
                let handler = handler.map_or("script", |handler| handler.as_str());
                self.logs.push(LogLine {
                    at: *at,
                    level: LogLevel::Error,
                    connection_id: *connection_id,
                    message: format!("{handler} handler: {}", failure.message),
                    location: failure.location.clone(),
                });
                self.script.runtime_error = Some(failure.clone());
            }
            Event::ScriptReloaded { path, at } => {
                self.script.failure = None;
                self.script.runtime_error = None;
                self.script.loaded_at = Some(*at);
                self.logs.push(LogLine {
                    at: *at,
                    level: LogLevel::Info,
                    connection_id: None,
                    message: format!("script reloaded: {path}"),
                    location: None,
                });
                if !self.script.is_dirty() {
                    // An external edit: show what is now running.
                    self.load_script_file();
                }
            }
            Event::ScriptReloadFailed { path, failure, at } => {
                self.script.failure = Some(failure.clone());
                self.logs.push(LogLine {
                    at: *at,
                    level: LogLevel::Error,
                    connection_id: None,
                    message: format!(
                        "{path} not reloaded, the previous handlers keep running: {}",
                        failure.message
                    ),
                    location: failure.location.clone(),
                });
            }
            Event::ApprovalPending { pending } => {
                let text = format!("waiting for approval: {}", pending.path);
                self.lifecycle(pending.since, Some(pending.connection_id), text);
            }
            Event::ApprovalResolved {
                connection_id,
                decision,
                at,
            } => {
                let text = match decision {
                    ApprovalDecision::Accept => "approved".to_owned(),
                    ApprovalDecision::Deny(reason) => format!("not approved: {reason}"),
                };
                self.lifecycle(*at, Some(*connection_id), text);
            }
        }
    }
}

/// Wakes the UI when events arrive, at most about once per frame.
fn spawn_repaint_waker(
    runtime: &tokio::runtime::Handle,
    mut subscription: Subscription,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    runtime.spawn(async move {
        while subscription.recv().await.is_some() {
            repaint();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
}
