//! Records what an engine does into a session file, line by line.
//!
//! The recorder reads a lossless bus subscription on a tokio task and hands
//! lines to a named writer thread, so a slow or failing disk never blocks the
//! server. An I/O error stops the recording (logged once, kept in
//! [`RecordingStatus`]) while the server keeps serving.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::format::{Header, SessionError, SessionEvent, SessionLine, SessionWriter};
use crate::core::bus::{BusMessage, Subscription};
use crate::core::events::{ConnectionId, Event};
use crate::engine::EngineHandle;
use crate::engine::registry::ConnectionSnapshot;

/// What a recording has done so far, or how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordingStatus {
    /// Connections seen (accepted and rejected).
    pub connections: usize,
    /// `send` plus `recv` lines.
    pub messages: usize,
    /// Event lines written (the header not counted).
    pub lines_written: usize,
    /// Milliseconds from the start to the last event.
    pub duration_ms: u64,
    /// The I/O error that stopped writing, if any (the server kept serving).
    pub failure: Option<String>,
}

/// Where a line to record comes from.
enum Input {
    Engine(Arc<Event>),
    External {
        connection_key: String,
        event: SessionEvent,
        at: DateTime<Utc>,
    },
}

/// Records engine events into a session file.
pub struct Recorder;

/// A running recording. [`RecordingHandle::stop`] finishes it.
pub struct RecordingHandle {
    path: PathBuf,
    inputs: Option<std::sync::mpsc::Sender<Input>>,
    stop_forwarding: CancellationToken,
    forwarded: Option<oneshot::Receiver<()>>,
    finished: Option<oneshot::Receiver<RecordingStatus>>,
    status: Arc<Mutex<RecordingStatus>>,
}

impl Drop for RecordingHandle {
    /// A handle dropped without [`RecordingHandle::stop`] still ends the
    /// recording (the file keeps what was written).
    fn drop(&mut self) {
        self.stop_forwarding.cancel();
    }
}

impl Recorder {
    /// Creates `path` (truncating it), writes the header and starts recording
    /// every connection the engine opens or refuses from now on. Connections
    /// already open are included too (their `connect`/`accepted` at `t` 0,
    /// named in the header's `open_at_start`), so the session replays: without
    /// them their messages would belong to no connection. Must be called
    /// inside a tokio runtime.
    pub fn start(
        engine: &EngineHandle,
        path: &Path,
        header: Header,
    ) -> Result<RecordingHandle, SessionError> {
        let io_error = |reason| SessionError::Io {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::create(path).map_err(io_error)?;
        Self::start_to(engine, Box::new(file), path, header)
    }

    /// Like [`Recorder::start`], but writes to `out` (any file-like sink,
    /// e.g. one that reports a full disk); `path` only names it in messages.
    pub fn start_to(
        engine: &EngineHandle,
        out: Box<dyn Write + Send>,
        path: &Path,
        mut header: Header,
    ) -> Result<RecordingHandle, SessionError> {
        let io_error = |reason| SessionError::Io {
            path: path.to_path_buf(),
            reason,
        };
        // Subscribe before looking at the open connections: one that opens
        // in between is in both, and the recorder keeps its first label.
        let subscription = engine.subscribe_lossless();
        let started_at = Utc::now();
        let open = engine.connections();
        header.open_at_start = (1..=open.len()).map(|index| format!("c{index}")).collect();
        let writer = SessionWriter::new(out, &header).map_err(io_error)?;

        let (inputs, receiver) = std::sync::mpsc::channel();
        let status = Arc::new(Mutex::new(RecordingStatus::default()));
        let (finished_sender, finished) = oneshot::channel();
        let mut state = RecordingState {
            writer: Some(writer),
            path: path.to_path_buf(),
            started_at,
            labels: HashMap::new(),
            external_labels: HashMap::new(),
            status: Arc::clone(&status),
        };
        for connection in open {
            state.record_open_connection(connection);
        }
        std::thread::Builder::new()
            .name("sockscope-recorder".to_owned())
            .spawn(move || {
                while let Ok(input) = receiver.recv() {
                    state.record(input);
                }
                let _ = finished_sender.send(state.status.lock().clone());
            })
            .map_err(io_error)?;

        let stop_forwarding = CancellationToken::new();
        let (forwarded_sender, forwarded) = oneshot::channel();
        tokio::spawn(forward(
            subscription,
            inputs.clone(),
            stop_forwarding.clone(),
            forwarded_sender,
        ));
        Ok(RecordingHandle {
            path: path.to_path_buf(),
            inputs: Some(inputs),
            stop_forwarding,
            forwarded: Some(forwarded),
            finished: Some(finished),
            status,
        })
    }
}

/// Moves engine events to the writer thread until told to stop, then drains
/// what was already published.
async fn forward(
    mut subscription: Subscription,
    inputs: std::sync::mpsc::Sender<Input>,
    stop: CancellationToken,
    done: oneshot::Sender<()>,
) {
    loop {
        tokio::select! {
            message = subscription.recv() => match message {
                Some(BusMessage::Event(event)) => {
                    if inputs.send(Input::Engine(event)).is_err() {
                        break;
                    }
                }
                Some(BusMessage::Missed(_)) => {}
                None => break,
            },
            () = stop.cancelled() => {
                while let Some(BusMessage::Event(event)) = subscription.try_recv() {
                    if inputs.send(Input::Engine(event)).is_err() {
                        break;
                    }
                }
                break;
            }
        }
    }
    let _ = done.send(());
}

impl RecordingHandle {
    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counts so far, and the failure if writing stopped.
    pub fn status(&self) -> RecordingStatus {
        self.status.lock().clone()
    }

    /// Records an event from a source other than the engine, e.g. the GUI's
    /// own client talking to a remote server. `connection_key` identifies the
    /// connection to the caller; the file gets the next `cN` label for it.
    /// Start every connection with [`SessionEvent::Connect`].
    pub fn record_external(&self, connection_key: &str, event: SessionEvent, at: DateTime<Utc>) {
        if let Some(inputs) = &self.inputs {
            let _ = inputs.send(Input::External {
                connection_key: connection_key.to_owned(),
                event,
                at,
            });
        }
    }

    /// Records every event published so far, closes the file and returns the
    /// final counts (with the failure, if writing stopped early).
    pub async fn stop(mut self) -> RecordingStatus {
        self.stop_forwarding.cancel();
        if let Some(forwarded) = self.forwarded.take() {
            let _ = forwarded.await;
        }
        // The writer thread ends once every sender is gone.
        self.inputs = None;
        match self.finished.take() {
            Some(finished) => finished
                .await
                .unwrap_or_else(|_| self.status.lock().clone()),
            None => self.status.lock().clone(),
        }
    }
}

/// Owned by the writer thread.
struct RecordingState {
    writer: Option<SessionWriter<Box<dyn Write + Send>>>,
    path: PathBuf,
    started_at: DateTime<Utc>,
    labels: HashMap<ConnectionId, String>,
    external_labels: HashMap<String, String>,
    status: Arc<Mutex<RecordingStatus>>,
}

impl RecordingState {
    fn record(&mut self, input: Input) {
        match input {
            Input::Engine(event) => self.record_engine_event(&event),
            Input::External {
                connection_key,
                event,
                at,
            } => {
                let label = match self.external_labels.get(&connection_key) {
                    Some(label) => label.clone(),
                    None => {
                        let label = self.next_label();
                        self.external_labels.insert(connection_key, label.clone());
                        label
                    }
                };
                self.write(at, &label, event);
            }
        }
    }

    fn next_label(&mut self) -> String {
        let mut status = self.status.lock();
        status.connections += 1;
        format!("c{}", status.connections)
    }

    /// A connection that was open before the recording started, at `t` 0.
    fn record_open_connection(&mut self, connection: ConnectionSnapshot) {
        let label = self.next_label();
        self.labels.insert(connection.connection_id, label.clone());
        let at = self.started_at;
        let connect = SessionEvent::Connect {
            path: connection.path,
            query: connection.query,
        };
        self.write(at, &label, connect);
        let accepted = SessionEvent::Accepted {
            id: Some(connection.connection_id.to_string()),
        };
        self.write(at, &label, accepted);
    }

    fn record_engine_event(&mut self, event: &Event) {
        match event {
            Event::ConnectionOpened { connection_id, .. }
                if self.labels.contains_key(connection_id) => {}
            Event::ConnectionOpened {
                connection_id,
                path,
                query,
                at,
                ..
            } => {
                let label = self.next_label();
                self.labels.insert(*connection_id, label.clone());
                let connect = SessionEvent::Connect {
                    path: path.clone(),
                    query: query.clone(),
                };
                self.write(*at, &label, connect);
                let accepted = SessionEvent::Accepted {
                    id: Some(connection_id.to_string()),
                };
                self.write(*at, &label, accepted);
            }
            Event::ConnectionDenied {
                path,
                query,
                status,
                at,
                ..
            } => {
                let label = self.next_label();
                let connect = SessionEvent::Connect {
                    path: path.clone(),
                    query: query.clone(),
                };
                self.write(*at, &label, connect);
                self.write(*at, &label, SessionEvent::Rejected { status: *status });
            }
            Event::FrameIn {
                connection_id,
                payload,
                at,
            } => {
                if let Some(label) = self.labels.get(connection_id).cloned() {
                    self.write(*at, &label, SessionEvent::Send(payload.into()));
                }
            }
            Event::FrameOut {
                connection_id,
                payload,
                at,
            } => {
                if let Some(label) = self.labels.get(connection_id).cloned() {
                    self.write(*at, &label, SessionEvent::Recv(payload.into()));
                }
            }
            Event::ConnectionClosed {
                connection_id,
                code,
                by,
                at,
                ..
            } => {
                if let Some(label) = self.labels.remove(connection_id) {
                    let close = SessionEvent::Close {
                        code: *code,
                        by: *by,
                    };
                    self.write(*at, &label, close);
                }
            }
            _ => {}
        }
    }

    fn write(&mut self, at: DateTime<Utc>, label: &str, event: SessionEvent) {
        let t = u64::try_from((at - self.started_at).num_milliseconds()).unwrap_or(0);
        let is_message = matches!(event, SessionEvent::Send(_) | SessionEvent::Recv(_));
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let line = SessionLine {
            t,
            conn: label.to_owned(),
            event,
        };
        let mut status = self.status.lock();
        match writer.write_line(&line) {
            Ok(()) => {
                status.lines_written += 1;
                status.messages += usize::from(is_message);
                status.duration_ms = status.duration_ms.max(t);
            }
            Err(error) => {
                // Logged here once; the status carries it to whoever asks.
                let failure = format!("recording to {} stopped: {error}", self.path.display());
                tracing::error!(target: "sockscope::session", "{failure}");
                status.failure = Some(failure);
                self.writer = None;
            }
        }
    }
}
