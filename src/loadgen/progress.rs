//! A one-line progress bar on stderr, redrawn a few times a second.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::LiveCounters;

const REDRAW_EVERY: Duration = Duration::from_millis(200);
const BAR_WIDTH: usize = 30;

/// A running progress display.
pub(crate) struct Progress {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

pub(crate) fn spawn(counters: Arc<LiveCounters>, connections: u64, replies: u64) -> Progress {
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let mut ticker = tokio::time::interval(REDRAW_EVERY);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticker.tick() => draw(&counters, connections, replies, started),
            }
        }
        draw(&counters, connections, replies, started);
        let _ = writeln!(std::io::stderr());
    });
    Progress { stop, task }
}

impl Progress {
    /// Draws the last state and ends the line.
    pub(crate) async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn draw(counters: &LiveCounters, connections: u64, replies: u64, started: Instant) {
    let connected = counters.connected.load(Ordering::Relaxed);
    let received = counters.replies.load(Ordering::Relaxed);
    let (label, done, total) = if connected < connections {
        ("connecting", connected, connections)
    } else {
        ("messages", received, replies)
    };
    let filled = if total == 0 {
        BAR_WIDTH
    } else {
        (done.min(total) as usize * BAR_WIDTH) / total as usize
    };
    let rate = received as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let mut stderr = std::io::stderr().lock();
    let _ = write!(
        stderr,
        "\r{label:>10} [{}{}] {done}/{total} ({rate:.0} replies/s)   ",
        "#".repeat(filled),
        " ".repeat(BAR_WIDTH - filled)
    );
    let _ = stderr.flush();
}
