//! Pings and pongs through the proxy, both ways, in order with the frames.
//! The Python target notes every text, ping and pong it gets on `/pings`.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::proxied;
use crate::util::{Client, WAIT, recv_json, send_text};

/// The next frame, pings and pongs included.
async fn next_frame(client: &mut Client) -> Message {
    tokio::time::timeout(WAIT, client.next())
        .await
        .expect("a frame in time")
        .expect("stream open")
        .expect("valid frame")
}

fn noted(message: &Message) -> String {
    let utf8 = |data: &[u8]| String::from_utf8_lossy(data).into_owned();
    match message {
        Message::Text(text) => format!("text {text}"),
        Message::Ping(data) => format!("ping {}", utf8(data)),
        Message::Pong(data) => format!("pong {}", utf8(data)),
        other => panic!("expected text, ping or pong, got {other:?}"),
    }
}

/// What the target noted, in order.
async fn seen_by_target(client: &mut Client) -> serde_json::Value {
    send_text(client, "seen").await;
    recv_json(client).await
}

#[tokio::test]
async fn the_clients_pings_and_pongs_reach_the_target_in_order() {
    let Some((_target, proxy)) = proxied(&[]).await else {
        return;
    };
    let mut client = proxy.connect("/pings").await;
    for message in [
        Message::text("a"),
        Message::Ping(b"c1".to_vec().into()),
        Message::text("b"),
        // Unsolicited: a heartbeat.
        Message::Pong(b"c2".to_vec().into()),
    ] {
        client.send(message).await.expect("send");
    }
    assert_eq!(
        seen_by_target(&mut client).await,
        serde_json::json!(["text a", "ping c1", "text b", "pong c2", "text seen"])
    );
}

#[tokio::test]
async fn the_targets_pings_and_pongs_reach_the_client_and_its_answer_goes_back() {
    let Some((_target, proxy)) = proxied(&[]).await else {
        return;
    };
    let mut client = proxy.connect("/pings").await;
    send_text(&mut client, "burst").await;
    let mut got = Vec::new();
    while got.len() < 4 {
        let message = next_frame(&mut client).await;
        if matches!(message, Message::Ping(_)) {
            // Sent before the next read, this pong replaces the one the
            // client's websocket library queued: the target can tell them apart.
            client
                .send(Message::Pong(b"client answers".to_vec().into()))
                .await
                .expect("pong");
        }
        got.push(noted(&message));
    }
    assert_eq!(
        got,
        ["text one", "ping from target", "pong heartbeat", "text two"]
    );
    assert_eq!(
        seen_by_target(&mut client).await,
        // The proxy's own pong comes first (each hop answers a ping it reads
        // at once), then the client's.
        serde_json::json!([
            "text burst",
            "pong from target",
            "pong client answers",
            "text seen"
        ])
    );
}
