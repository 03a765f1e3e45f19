//! One benchmark connection: connect, then keep a window of messages in
//! flight and time each round trip.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::pacer::PaceSlot;
use super::report::{DriveTotals, LatencySummary};
use super::{LiveCounters, LoadgenError, SendPattern};

/// An open benchmark connection.
pub type Client = WebSocketStream<TcpStream>;

/// Highest latency the histogram tells apart (longer ones count as this).
const MAX_TRACKED_LATENCY_US: u64 = 60_000_000;

/// Where to connect, parsed once for every connection.
#[derive(Clone)]
pub(crate) struct Target {
    request: Request,
    host: String,
    port: u16,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self, LoadgenError> {
        let invalid = |reason: &str| LoadgenError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let request = url
            .into_client_request()
            .map_err(|error| invalid(&error.to_string()))?;
        let uri = request.uri();
        if uri.scheme_str() != Some("ws") {
            return Err(invalid("only ws:// URLs are supported"));
        }
        let host = uri
            .host()
            .ok_or_else(|| invalid("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        Ok(Self {
            request,
            host,
            port,
        })
    }
}

/// Opens one connection to `url` (TCP_NODELAY set, like the server does).
pub async fn connect(url: &str, timeout: Duration) -> Result<Client, LoadgenError> {
    connect_target(&Target::parse(url)?, 0, timeout).await
}

pub(crate) async fn connect_target(
    target: &Target,
    index: usize,
    timeout: Duration,
) -> Result<Client, LoadgenError> {
    let handshake = async {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|reason| LoadgenError::Connect { index, reason })?;
        // Small messages must not wait for Nagle's algorithm.
        stream
            .set_nodelay(true)
            .map_err(|reason| LoadgenError::Connect { index, reason })?;
        let (client, _response) = tokio_tungstenite::client_async(target.request.clone(), stream)
            .await
            .map_err(|reason| LoadgenError::Handshake {
                index,
                reason: Box::new(reason),
            })?;
        Ok(client)
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| LoadgenError::HandshakeTimeout {
            index,
            timeout_ms: timeout.as_millis(),
        })?
}

/// Round-trip times of every connection, in microseconds.
pub(crate) struct LatencyRecorder {
    histogram: Mutex<Histogram<u64>>,
}

impl LatencyRecorder {
    pub(crate) fn new() -> Self {
        // Constant bounds that hdrhistogram accepts (low ≥ 1, high ≥ 2·low, 3 digits).
        let histogram = Histogram::new_with_bounds(1, MAX_TRACKED_LATENCY_US, 3)
            .expect("constant histogram bounds are valid");
        Self {
            histogram: Mutex::new(histogram),
        }
    }

    /// Records a batch of samples under one lock.
    fn record(&self, samples_us: &[u64]) {
        let mut histogram = self.histogram.lock();
        for &sample in samples_us {
            histogram.saturating_record(sample.max(1));
        }
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        LatencySummary::of(&self.histogram.lock())
    }
}

/// The message loop of one connection.
pub(crate) struct Drive {
    pub index: usize,
    pub message: Message,
    pub messages: u64,
    pub window: usize,
    pub pattern: SendPattern,
    /// Paced runs: time between two sends of this connection.
    pub send_interval: Option<Duration>,
    /// Paced runs: wakes this connection when its next send is due.
    pub pace: Option<Arc<PaceSlot>>,
    pub reply_timeout: Duration,
    pub latency: Arc<LatencyRecorder>,
    pub counters: Arc<LiveCounters>,
}

impl Drive {
    pub(crate) async fn run(self, mut client: Client) -> Result<DriveTotals, LoadgenError> {
        let size_bytes = self.message.len() as u64;
        let mut totals = DriveTotals::default();
        // Send times of the messages in flight; replies come back in order.
        let mut in_flight: VecDeque<Instant> = VecDeque::with_capacity(self.window);
        let mut samples_us: Vec<u64> = Vec::with_capacity(self.window);
        // Paced: connections start spread over one interval, not in a burst.
        let mut next_send_at = self
            .send_interval
            .map(|interval| Instant::now() + interval.mul_f64((self.index % 64) as f64 / 64.0));
        let failed = |reason: String| LoadgenError::Connection {
            index: self.index,
            reason,
        };
        while totals.messages_received < self.messages {
            // Top the window up (paced: send what is due): burst with one
            // flush, trickle with one per message.
            let batch_sent_at = Instant::now();
            while totals.messages_sent < self.messages
                && in_flight.len() < self.window
                && next_send_at.is_none_or(|due| due <= batch_sent_at)
            {
                client
                    .feed(self.message.clone())
                    .await
                    .map_err(|error| failed(format!("send failed: {error}")))?;
                if self.pattern == SendPattern::Trickle {
                    client
                        .flush()
                        .await
                        .map_err(|error| failed(format!("send failed: {error}")))?;
                }
                in_flight.push_back(batch_sent_at);
                totals.messages_sent += 1;
                totals.bytes_sent += size_bytes;
                if let (Some(due), Some(interval)) = (next_send_at.as_mut(), self.send_interval) {
                    *due += interval;
                }
            }
            client
                .flush()
                .await
                .map_err(|error| failed(format!("send failed: {error}")))?;

            // Wait for one reply (or, paced, for the next send if that comes
            // first), then take every reply that is already here.
            let waiting = match next_send_at {
                Some(due)
                    if totals.messages_sent < self.messages && in_flight.len() < self.window =>
                {
                    let due_soon = async {
                        match &self.pace {
                            Some(slot) => slot.wait_until(due).await,
                            None => tokio::time::sleep_until(due.into()).await,
                        }
                    };
                    tokio::select! {
                        next = client.next() => Some(next),
                        () = due_soon => None,
                    }
                }
                _ => Some(
                    tokio::time::timeout(self.reply_timeout, client.next())
                        .await
                        .map_err(|_| LoadgenError::Timeout {
                            index: self.index,
                            timeout_ms: self.reply_timeout.as_millis(),
                            received: totals.messages_received,
                            expected: self.messages,
                        })?,
                ),
            };
            let Some(first) = waiting else {
                continue;
            };
            let mut next = Some(first);
            while let Some(item) = next {
                let reply = match item {
                    Some(Ok(Message::Text(text))) => text.len() as u64,
                    Some(Ok(Message::Binary(bytes))) => bytes.len() as u64,
                    Some(Ok(Message::Close(frame))) => {
                        return Err(failed(format!(
                            "server closed the connection ({frame:?}) after {} of {} replies",
                            totals.messages_received, self.messages
                        )));
                    }
                    Some(Ok(_)) => {
                        next = client.next().now_or_never();
                        continue;
                    }
                    Some(Err(error)) => return Err(failed(format!("receive failed: {error}"))),
                    None => {
                        return Err(failed(format!(
                            "connection ended after {} of {} replies",
                            totals.messages_received, self.messages
                        )));
                    }
                };
                let Some(sent_at) = in_flight.pop_front() else {
                    return Err(failed(
                        "the server sent a message nobody asked for".to_owned(),
                    ));
                };
                samples_us.push(sent_at.elapsed().as_micros() as u64);
                totals.messages_received += 1;
                totals.bytes_received += reply;
                if reply != size_bytes {
                    totals.unexpected_replies += 1;
                }
                if totals.messages_received == self.messages {
                    break;
                }
                next = client.next().now_or_never();
            }
            self.latency.record(&samples_us);
            self.counters
                .replies
                .fetch_add(samples_us.len() as u64, Ordering::Relaxed);
            samples_us.clear();
        }
        // A polite close (1000, not "no status"); the run is measured
        // already, so errors don't matter.
        let closing = async {
            let finished = CloseFrame {
                code: CloseCode::Normal,
                reason: "bench finished".into(),
            };
            if client.close(Some(finished)).await.is_ok() {
                while let Some(Ok(_)) = client.next().await {}
            }
        };
        let _ = tokio::time::timeout(self.reply_timeout, closing).await;
        Ok(totals)
    }
}
