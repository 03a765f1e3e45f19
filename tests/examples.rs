//! The bundled examples, driven the way their comments say to use them.

use crate::util::{TestServer, example_path, recv_json, recv_text, send_text};

/// The source of `assets/examples/NAME`.
fn source(name: &str) -> String {
    std::fs::read_to_string(example_path(name)).expect("bundled example")
}

#[tokio::test]
async fn chat_requires_a_name_and_announces_joins_messages_and_leaves() {
    let server = TestServer::start(&source("chat.js")).await;
    assert_eq!(server.refused_status("/").await, 500);
    assert_eq!(server.refused_status("/?name=%20").await, 500);
    let mut ann = server.connect("/?name=ann").await;
    let mut bob = server.connect("/?name=bob").await;
    assert_eq!(
        recv_json(&mut ann).await,
        serde_json::json!({"type": "joined", "name": "bob"})
    );
    send_text(&mut bob, "hi ann").await;
    let expected = serde_json::json!({"type": "message", "from": "bob", "text": "hi ann"});
    assert_eq!(recv_json(&mut ann).await, expected);
    assert_eq!(recv_json(&mut bob).await, expected);
    drop(bob);
    assert_eq!(
        recv_json(&mut ann).await,
        serde_json::json!({"type": "left", "name": "bob"})
    );
    let members = server.engine.kv().keys("members", "").expect("keys");
    assert_eq!(members.len(), 1, "only ann is left: {members:?}");
}

#[tokio::test]
async fn echo_returns_text_and_binary_as_text_frames() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start(&source("echo.js")).await;
    let mut client = server.connect("/anything?x=1").await;
    send_text(&mut client, "héllo").await;
    assert_eq!(recv_text(&mut client).await, "héllo");
    // The bytes come back as the text frame `nitric start` writes.
    client
        .send(Message::binary("ünïcode".as_bytes().to_vec()))
        .await
        .expect("send");
    assert_eq!(
        crate::util::recv(&mut client).await,
        Message::text("ünïcode")
    );
    let bytes: Vec<u8> = (0..=255).collect();
    client.send(Message::binary(bytes)).await.expect("send");
    assert_eq!(
        crate::util::recv(&mut client).await,
        Message::text("Binary messages are not currently supported by AWS")
    );
}

#[tokio::test]
async fn connections_registry_relays_to_everyone_else_and_forgets_leavers() {
    let server = TestServer::start(&source("connections.js")).await;
    let mut first = server.connect("/").await;
    let mut second = server.connect("/?room=a").await;
    let mut third = server.connect("/").await;
    assert_eq!(
        server
            .engine
            .kv()
            .keys("connections", "")
            .expect("keys")
            .len(),
        3
    );
    send_text(&mut first, "hello all").await;
    assert_eq!(recv_text(&mut second).await, "hello all");
    assert_eq!(recv_text(&mut third).await, "hello all");
    drop(third);
    let deadline = tokio::time::Instant::now() + crate::util::WAIT;
    while server
        .engine
        .kv()
        .keys("connections", "")
        .expect("keys")
        .len()
        != 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "disconnect must remove the entry"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    send_text(&mut second, "still two").await;
    assert_eq!(recv_text(&mut first).await, "still two");
}
