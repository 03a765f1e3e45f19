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

#[tokio::test]
async fn a_ping_through_the_proxy_gets_one_pong() {
    let Some((_target, proxy)) = proxied(&[]).await else {
        return;
    };
    let mut client = proxy.connect("/pings").await;
    client
        .send(Message::Ping(b"c1".to_vec().into()))
        .await
        .expect("ping");
    send_text(&mut client, "seen").await;
    // The target's answer to the ping comes before its answer to "seen".
    let mut pongs = 0;
    loop {
        match next_frame(&mut client).await {
            Message::Pong(data) => {
                assert_eq!(data.as_ref(), b"c1");
                pongs += 1;
            }
            Message::Text(notes) => {
                assert_eq!(notes.as_str(), r#"["ping c1", "text seen"]"#);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pongs, 1, "the proxy's pong, and not the target's as well");
}

#[tokio::test]
async fn a_ping_from_the_target_gets_one_pong() {
    let Some((_target, proxy)) = proxied(&[]).await else {
        return;
    };
    let mut client = proxy.connect("/pings").await;
    send_text(&mut client, "burst").await;
    for _ in 0..4 {
        // Reading the ping queues the client library's own pong.
        next_frame(&mut client).await;
    }
    assert_eq!(
        seen_by_target(&mut client).await,
        serde_json::json!(["text burst", "pong from target", "text seen"]),
        "the proxy answered the ping; the client's answer is not passed on again"
    );
}
