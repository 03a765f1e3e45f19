//! The load generator behind `sockscope bench`: opens many websocket
//! connections to any `ws://` server, keeps a window of messages in flight
//! on each, and measures throughput and round-trip latency.
//!
//! The server must answer every message with one message (an echo, such as
//! `assets/examples/echo.js`); replies are matched to requests in order, per
//! connection.

mod client;
mod pacer;
mod progress;
mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

pub use client::{Client, connect};
pub use report::{BenchReport, LatencySummary};

use client::{Drive, LatencyRecorder};

/// How a connection writes the messages of its window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendPattern {
    /// One write (flush) per message, as browsers and most client libraries
    /// send: the server reads about one message per read.
    #[default]
    Trickle,
    /// The whole window in one write: the server reads many messages per
    /// read, the best case for any server.
    Burst,
}

impl SendPattern {
    pub fn as_str(self) -> &'static str {
        match self {
            SendPattern::Trickle => "trickle",
            SendPattern::Burst => "burst",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            SendPattern::Trickle => "one write per message (trickle)",
            SendPattern::Burst => "one write per window (burst)",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// `ws://HOST:PORT[/path?query]` of the server.
    pub url: String,
    /// Connections opened (all of them stay open while messages flow).
    pub connections: usize,
    /// Messages each connection sends (and expects back).
    pub messages_per_connection: u64,
    /// Payload size of every message.
    pub size_bytes: usize,
    /// Most messages in flight (sent, reply not yet received) per connection.
    pub window: usize,
    /// Send binary frames instead of text.
    pub is_binary: bool,
    /// One write per message or per window.
    pub pattern: SendPattern,
    /// Most connection handshakes under way at once.
    pub connect_concurrency: usize,
    /// Messages per second over all connections; `None` sends as fast as
    /// the window allows. Paced runs measure latency at a given load.
    pub rate_per_second: Option<f64>,
    /// Longest wait for one handshake.
    pub connect_timeout: Duration,
    /// Longest wait for one reply.
    pub reply_timeout: Duration,
}

impl BenchOptions {
    /// Defaults: 10 connections × 1,000 messages of 32 bytes, window 16,
    /// one write per message.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connections: 10,
            messages_per_connection: 1000,
            size_bytes: 32,
            window: 16,
            is_binary: false,
            pattern: SendPattern::Trickle,
            connect_concurrency: 256,
            rate_per_second: None,
            connect_timeout: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The URL is not a `ws://` URL this client can reach.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option is out of range.
    #[error("{0}")]
    InvalidOption(String),
    /// A TCP connect failed.
    #[error("connection {index}: cannot connect: {reason}")]
    Connect {
        /// Which connection (0-based).
        index: usize,
        reason: std::io::Error,
    },
    /// The websocket handshake failed (refused, HTTP error, protocol error).
    #[error("connection {index}: handshake failed: {reason}")]
    Handshake {
        /// Which connection (0-based).
        index: usize,
        reason: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// Something went wrong once messages were flowing.
    #[error("connection {index}: {reason}")]
    Connection {
        /// Which connection (0-based).
        index: usize,
        /// What happened.
        reason: String,
    },
    /// The handshake did not finish within the connect timeout.
    #[error("connection {index}: no handshake within {timeout_ms} ms")]
    HandshakeTimeout {
        /// Which connection (0-based).
        index: usize,
        /// The timeout.
        timeout_ms: u128,
    },
    /// No reply within the reply timeout.
    #[error(
        "connection {index}: no reply within {timeout_ms} ms ({received} of {expected} replies received)"
    )]
    Timeout {
        /// Which connection (0-based).
        index: usize,
        /// The timeout.
        timeout_ms: u128,
        /// Replies received so far on that connection.
        received: u64,
        /// Replies expected on that connection.
        expected: u64,
    },
}

/// Counters a progress display can poll while a run goes on.
#[derive(Default)]
pub struct LiveCounters {
    /// Connections whose handshake completed.
    pub connected: AtomicU64,
    /// Replies received over all connections.
    pub replies: AtomicU64,
}

/// Opens `count` connections to `url`, at most `concurrency` handshakes at
/// once. Returns them in order and the time the whole phase took.
pub async fn connect_many(
    url: &str,
    count: usize,
    concurrency: usize,
    timeout: Duration,
    counters: &LiveCounters,
) -> Result<(Vec<Client>, Duration), LoadgenError> {
    let target = client::Target::parse(url)?;
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for index in 0..count {
        let permits = Arc::clone(&permits);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = permits.acquire_owned().await;
            client::connect_target(&target, index, timeout).await
        }));
    }
    let mut clients = Vec::with_capacity(count);
    for (index, task) in tasks.into_iter().enumerate() {
        let client = task.await.map_err(|error| LoadgenError::Connection {
            index,
            reason: format!("connect task failed: {error}"),
        })??;
        counters.connected.fetch_add(1, Ordering::Relaxed);
        clients.push(client);
    }
    Ok((clients, started.elapsed()))
}

/// Runs a benchmark. With `show_progress`, draws a progress bar on stderr
/// (the caller decides whether stderr is a terminal).
pub async fn run_bench(
    options: &BenchOptions,
    show_progress: bool,
) -> Result<BenchReport, LoadgenError> {
    if options.connections == 0 {
        return Err(LoadgenError::InvalidOption(
            "--connections must be at least 1".to_owned(),
        ));
    }
    if options.window == 0 {
        return Err(LoadgenError::InvalidOption(
            "--window must be at least 1".to_owned(),
        ));
    }
    let counters = Arc::new(LiveCounters::default());
    let total_replies = options.messages_per_connection * options.connections as u64;
    let progress = show_progress.then(|| {
        progress::spawn(
            Arc::clone(&counters),
            options.connections as u64,
            total_replies,
        )
    });
    let outcome = run_phases(options, &counters).await;
    if let Some(progress) = progress {
        progress.finish().await;
    }
    outcome
}

async fn run_phases(
    options: &BenchOptions,
    counters: &Arc<LiveCounters>,
) -> Result<BenchReport, LoadgenError> {
    let (clients, connect_time) = connect_many(
        &options.url,
        options.connections,
        options.connect_concurrency,
        options.connect_timeout,
        counters,
    )
    .await?;

    if let Some(rate) = options.rate_per_second
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(LoadgenError::InvalidOption(format!(
            "--rate must be a positive number, got {rate}"
        )));
    }
    // Each connection sends its share of the rate, evenly spaced.
    let send_interval = options
        .rate_per_second
        .map(|rate| Duration::from_secs_f64(options.connections as f64 / rate));
    let pacer = match send_interval {
        Some(_) => Some(pacer::Pacer::start(options.connections).map_err(|error| {
            LoadgenError::InvalidOption(format!("cannot start the pacing thread: {error}"))
        })?),
        None => None,
    };
    let message = payload(options.size_bytes, options.is_binary);
    let latency = Arc::new(LatencyRecorder::new());
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients.len());
    for (index, client) in clients.into_iter().enumerate() {
        let drive = Drive {
            index,
            message: message.clone(),
            messages: options.messages_per_connection,
            window: options.window,
            pattern: options.pattern,
            send_interval,
            pace: pacer.as_ref().and_then(|pacer| pacer.slot(index)),
            reply_timeout: options.reply_timeout,
            latency: Arc::clone(&latency),
            counters: Arc::clone(counters),
        };
        tasks.push(tokio::spawn(drive.run(client)));
    }
    let mut totals = report::DriveTotals::default();
    let mut first_error = None;
    for (index, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(done)) => totals.add(&done),
            Ok(Err(error)) => {
                first_error.get_or_insert(error);
            }
            Err(error) => {
                first_error.get_or_insert(LoadgenError::Connection {
                    index,
                    reason: format!("task failed: {error}"),
                });
            }
        }
    }
    let elapsed = started.elapsed();
    if let Some(error) = first_error {
        return Err(error);
    }
    Ok(BenchReport::new(
        options,
        connect_time,
        elapsed,
        &totals,
        latency.summary(),
    ))
}

/// The message every connection sends: `size_bytes` of `x` (valid UTF-8).
fn payload(size_bytes: usize, is_binary: bool) -> Message {
    if is_binary {
        Message::Binary(Bytes::from(vec![b'x'; size_bytes]))
    } else {
        Message::Text("x".repeat(size_bytes).into())
    }
}
