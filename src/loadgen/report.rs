//! What a benchmark run measured, as text for people and JSON for tools.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{BenchOptions, SendPattern};

/// What one connection did.
#[derive(Default)]
pub(crate) struct DriveTotals {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Replies whose size differs from the message sent.
    pub unexpected_replies: u64,
}

impl DriveTotals {
    pub(crate) fn add(&mut self, other: &DriveTotals) {
        self.messages_sent += other.messages_sent;
        self.messages_received += other.messages_received;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.unexpected_replies += other.unexpected_replies;
    }
}

/// Round-trip latency percentiles, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Round trips measured.
    pub samples: u64,
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl LatencySummary {
    /// Percentiles of `histogram` (values in microseconds).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            samples: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
            mean_us: histogram.mean(),
        }
    }
}

/// The result of one `sockscope bench` run (the `--json` output).
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Server URL.
    pub url: String,
    /// Connections opened.
    pub connections: usize,
    /// Messages each connection sent.
    pub messages_per_connection: u64,
    /// Payload size of each message.
    pub size_bytes: usize,
    /// Messages in flight per connection.
    pub window: usize,
    /// `"text"` or `"binary"`.
    pub frame: &'static str,
    /// `"trickle"` (one write per message) or `"burst"` (one per window).
    pub pattern: SendPattern,
    /// Time to open every connection.
    pub connect_seconds: f64,
    /// Connections opened per second.
    pub connects_per_second: f64,
    /// Messages sent over all connections.
    pub messages_sent: u64,
    /// Replies received over all connections.
    pub messages_received: u64,
    /// Replies whose size differs from the message sent (an echo has none).
    pub unexpected_replies: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Time from the first message sent to the last reply received.
    pub duration_seconds: f64,
    /// Replies received per second (round trips per second).
    pub messages_per_second: f64,
    /// Payload megabytes (10^6 bytes) received per second.
    pub megabytes_per_second: f64,
    /// Round-trip latency.
    pub latency: LatencySummary,
}

impl BenchReport {
    pub(crate) fn new(
        options: &BenchOptions,
        connect_time: Duration,
        elapsed: Duration,
        totals: &DriveTotals,
        latency: LatencySummary,
    ) -> Self {
        let per_second = |count: f64, time: Duration| {
            let seconds = time.as_secs_f64();
            if seconds > 0.0 { count / seconds } else { 0.0 }
        };
        Self {
            url: options.url.clone(),
            connections: options.connections,
            messages_per_connection: options.messages_per_connection,
            size_bytes: options.size_bytes,
            window: options.window,
            frame: if options.is_binary { "binary" } else { "text" },
            pattern: options.pattern,
            connect_seconds: connect_time.as_secs_f64(),
            connects_per_second: per_second(options.connections as f64, connect_time),
            messages_sent: totals.messages_sent,
            messages_received: totals.messages_received,
            unexpected_replies: totals.unexpected_replies,
            bytes_sent: totals.bytes_sent,
            bytes_received: totals.bytes_received,
            duration_seconds: elapsed.as_secs_f64(),
            messages_per_second: per_second(totals.messages_received as f64, elapsed),
            megabytes_per_second: per_second(totals.bytes_received as f64 / 1e6, elapsed),
            latency,
        }
    }
}

fn millis(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "target      {}", self.url)?;
        writeln!(
            f,
            "load        {} connections × {} {} messages of {} B, window {}, {}",
            self.connections,
            self.messages_per_connection,
            self.frame,
            self.size_bytes,
            self.window,
            self.pattern.describe()
        )?;
        writeln!(
            f,
            "connect     {} connections in {:.3} s = {:.0} connects/s",
            self.connections, self.connect_seconds, self.connects_per_second
        )?;
        writeln!(
            f,
            "throughput  {} replies in {:.3} s = {:.0} messages/s, {:.2} MB/s",
            self.messages_received,
            self.duration_seconds,
            self.messages_per_second,
            self.megabytes_per_second
        )?;
        writeln!(
            f,
            "latency     p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            millis(self.latency.p50_us),
            millis(self.latency.p90_us),
            millis(self.latency.p99_us),
            millis(self.latency.max_us)
        )?;
        if self.unexpected_replies > 0 {
            writeln!(
                f,
                "warning     {} replies differed in size from the message sent (not an echo?)",
                self.unexpected_replies
            )?;
        }
        Ok(())
    }
}
