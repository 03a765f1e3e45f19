//! Busy connections and probes: many connections each sending one message
//! per second, and how long a brand-new client waits for its first echo
//! meanwhile (benches `connections` and `real_lane`).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sockscope::loadgen::{Client, connect};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Longest wait for one echo or connect.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// One message per second on every connection until `stop`.
pub fn keep_busy(
    clients: Vec<Client>,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<u64>> {
    let count = clients.len().max(1);
    clients
        .into_iter()
        .enumerate()
        .map(|(index, mut client)| {
            let stop = stop.clone();
            tokio::spawn(async move {
                // Spread the sends evenly over each second.
                let phase = Duration::from_micros((index as u64 * 1_000_000) / count as u64);
                let mut ticker = tokio::time::interval_at(
                    tokio::time::Instant::now() + phase,
                    Duration::from_secs(1),
                );
                let mut echoes = 0;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = ticker.tick() => {}
                    }
                    if client
                        .send(Message::text("ping from a busy client"))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    match tokio::time::timeout(TIMEOUT, client.next()).await {
                        Ok(Some(Ok(_))) => echoes += 1,
                        _ => break,
                    }
                }
                echoes
            })
        })
        .collect()
}

/// Connect + one echo for a brand-new client.
pub async fn probe(url: &str) -> Duration {
    let started = Instant::now();
    let mut client = connect(url, TIMEOUT).await.expect("probe connects");
    client
        .send(Message::text("probe"))
        .await
        .expect("probe sends");
    let _ = tokio::time::timeout(TIMEOUT, client.next())
        .await
        .expect("probe echo in time");
    let elapsed = started.elapsed();
    let _ = client.close(None).await;
    elapsed
}
