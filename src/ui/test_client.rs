//! The built-in test client: a websocket client per window entry, running on
//! the tokio runtime and reporting to the UI through a channel.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::core::events::Payload;

/// Log lines kept per client.
const MAX_LOG_LINES: usize = 10_000;

/// Where a client stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// Handshake under way.
    Connecting,
    /// Upgraded.
    Open,
    /// Closed (by either side).
    Closed {
        /// Close code, if any.
        code: Option<u16>,
        /// Close reason or error.
        reason: String,
    },
    /// The connection never opened.
    Failed(String),
}

/// One line of a client's own log.
#[derive(Clone, Debug)]
pub struct ClientLogLine {
    /// When.
    pub at: DateTime<Utc>,
    /// `true` if the client sent it.
    pub is_outgoing: bool,
    /// The frame, or `None` for a state change.
    pub payload: Option<Payload>,
    /// Description of a state change.
    pub note: String,
}

enum ClientCommand {
    Send(Payload),
    Close { code: u16, reason: String },
}

/// Something that happened to a client (what the recorder needs).
#[derive(Clone, Debug)]
pub enum ClientActivity {
    /// The upgrade succeeded.
    Opened,
    /// The client sent a frame.
    Sent(Payload),
    /// The client received a frame.
    Received(Payload),
    /// The server refused the upgrade with this HTTP status.
    Refused(u16),
    /// The connection ended (or never opened) in this state.
    Ended(ClientState),
}

/// A test client and its log.
pub struct TestClient {
    /// Label shown in the UI ("client 1").
    pub label: String,
    /// URL it connected to.
    pub url: String,
    /// Current state.
    pub state: ClientState,
    log: VecDeque<ClientLogLine>,
    commands: mpsc::UnboundedSender<ClientCommand>,
    events: mpsc::UnboundedReceiver<ClientActivity>,
    close_requested: bool,
}

impl TestClient {
    /// Starts connecting to `url` on `runtime`; `notify` is called whenever
    /// something happened (the UI requests a repaint).
    pub fn connect(
        runtime: &tokio::runtime::Handle,
        label: String,
        url: String,
        notify: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let (event_sender, events) = mpsc::unbounded_channel();
        runtime.spawn(run_client(
            url.clone(),
            command_receiver,
            event_sender,
            notify,
        ));
        Self {
            label,
            url,
            state: ClientState::Connecting,
            log: VecDeque::new(),
            commands,
            events,
            close_requested: false,
        }
    }

    /// Applies what happened since the last call (from the UI's logic
    /// step) and returns it, for the recorder.
    pub fn drain(&mut self) -> Vec<(DateTime<Utc>, ClientActivity)> {
        let mut drained = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            let at = Utc::now();
            drained.push((at, event.clone()));
            let (is_outgoing, payload, note) = match event {
                ClientActivity::Opened => {
                    self.state = ClientState::Open;
                    (false, None, "connected".to_owned())
                }
                ClientActivity::Sent(payload) => (true, Some(payload), String::new()),
                ClientActivity::Received(payload) => (false, Some(payload), String::new()),
                ClientActivity::Refused(status) => {
                    (false, None, format!("refused with HTTP {status}"))
                }
                ClientActivity::Ended(state) => {
                    let note = match &state {
                        ClientState::Closed { code, reason } => {
                            format!(
                                "closed ({}) {reason}",
                                code.map_or("no code".to_owned(), |code| code.to_string())
                            )
                        }
                        ClientState::Failed(why) => format!("failed: {why}"),
                        _ => String::new(),
                    };
                    self.state = state;
                    (false, None, note)
                }
            };
            self.log.push_back(ClientLogLine {
                at,
                is_outgoing,
                payload,
                note,
            });
            if self.log.len() > MAX_LOG_LINES {
                self.log.pop_front();
            }
        }
        drained
    }

    /// Whether this side asked to close (so a close was the client's).
    pub fn close_requested(&self) -> bool {
        self.close_requested
    }

    /// Queues a frame; refused when the client is not open.
    pub fn send(&self, payload: Payload) -> Result<(), String> {
        if self.state != ClientState::Open {
            return Err("the client is not connected".to_owned());
        }
        self.commands
            .send(ClientCommand::Send(payload))
            .map_err(|_| "the client has stopped".to_owned())
    }

    /// Sends a close frame.
    pub fn close(&mut self, code: u16, reason: String) {
        self.close_requested = true;
        let _ = self.commands.send(ClientCommand::Close { code, reason });
    }

    /// The client's log, oldest first.
    pub fn log(&self) -> &VecDeque<ClientLogLine> {
        &self.log
    }

    /// Whether the connection is open.
    pub fn is_open(&self) -> bool {
        self.state == ClientState::Open
    }
}

async fn run_client(
    url: String,
    mut commands: mpsc::UnboundedReceiver<ClientCommand>,
    events: mpsc::UnboundedSender<ClientActivity>,
    notify: Arc<dyn Fn() + Send + Sync>,
) {
    let report = |event: ClientActivity| {
        let _ = events.send(event);
        notify();
    };
    let mut socket = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((socket, _)) => socket,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .map(|body| String::from_utf8_lossy(body).trim().to_owned())
                .unwrap_or_default();
            report(ClientActivity::Refused(response.status().as_u16()));
            let why = refusal_summary(response.status(), &body);
            report(ClientActivity::Ended(ClientState::Failed(why)));
            return;
        }
        Err(error) => {
            report(ClientActivity::Ended(ClientState::Failed(
                error.to_string(),
            )));
            return;
        }
    };
    report(ClientActivity::Opened);
    // A close frame from the server is answered by tungstenite on the next
    // read, so keep reading until the stream ends before reporting it.
    let mut server_close: Option<(Option<u16>, String)> = None;
    loop {
        tokio::select! {
            command = commands.recv(), if server_close.is_none() => match command {
                Some(ClientCommand::Send(payload)) => {
                    let message = match &payload {
                        Payload::Text(text) => Message::Text(text.clone()),
                        Payload::Binary(bytes) => Message::Binary(bytes.clone()),
                    };
                    if let Err(error) = socket.send(message).await {
                        report(ClientActivity::Ended(ClientState::Closed { code: None, reason: error.to_string() }));
                        return;
                    }
                    report(ClientActivity::Sent(payload));
                }
                Some(ClientCommand::Close { code, reason }) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let _ = socket.close(Some(frame)).await;
                }
                None => {
                    let _ = socket.close(None).await;
                    return;
                }
            },
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Text(text))) => report(ClientActivity::Received(Payload::Text(text))),
                Some(Ok(Message::Binary(bytes))) => report(ClientActivity::Received(Payload::Binary(bytes))),
                Some(Ok(Message::Close(frame))) => {
                    server_close = Some(
                        frame
                            .map(|frame| (Some(u16::from(frame.code)), frame.reason.to_string()))
                            .unwrap_or((None, String::new())),
                    );
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    let (code, reason) = server_close.unwrap_or((None, error.to_string()));
                    report(ClientActivity::Ended(ClientState::Closed { code, reason }));
                    return;
                }
                None => {
                    let (code, reason) = server_close.unwrap_or((None, "connection ended".to_owned()));
                    report(ClientActivity::Ended(ClientState::Closed { code, reason }));
                    return;
                }
            },
        }
    }
}

/// A refused upgrade in one line. The body often repeats the status line
/// ("401 Unauthorized"; sockscope's own refusals put the reason under it):
/// say it once, and the body only when it adds something.
fn refusal_summary(status: StatusCode, body: &str) -> String {
    let status_line = format!("HTTP {status}");
    let body = body
        .strip_prefix(&status.to_string())
        .map_or(body, str::trim);
    if body.is_empty() || status_line.ends_with(body) {
        status_line
    } else {
        format!("{status_line}: {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_says_its_status_once_and_its_reason() {
        let unauthorized = StatusCode::UNAUTHORIZED;
        assert_eq!(
            refusal_summary(
                unauthorized,
                "401 Unauthorized\n\nno approval decision within 60 s"
            ),
            "HTTP 401 Unauthorized: no approval decision within 60 s"
        );
        assert_eq!(
            refusal_summary(unauthorized, "401 Unauthorized"),
            "HTTP 401 Unauthorized"
        );
        assert_eq!(
            refusal_summary(StatusCode::INTERNAL_SERVER_ERROR, "Connection Refused"),
            "HTTP 500 Internal Server Error: Connection Refused"
        );
        assert_eq!(refusal_summary(unauthorized, ""), "HTTP 401 Unauthorized");
    }
}
