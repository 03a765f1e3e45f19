//! The wire: handshake validation and frame-level violations, with a raw
//! TCP client so that we can send what well-behaved libraries refuse to.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{TestServer, WAIT, script};

const ECHO: &str = "const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, ctx.req.data));";

async fn raw_request(server: &TestServer, request: &str) -> String {
    let mut stream = TcpStream::connect(server.engine.local_addr())
        .await
        .expect("tcp connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

fn upgrade_request(version: &str, key: &str) -> String {
    format!(
        "GET /?a=1 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    )
}

/// Completes a handshake by hand and returns the upgraded stream.
async fn upgraded(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.engine.local_addr())
        .await
        .expect("tcp connect");
    stream
        .write_all(upgrade_request("13", "dGhlIHNhbXBsZSBub25jZQ==").as_bytes())
        .await
        .expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("read head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "accept key per RFC 6455: {head}"
    );
    stream
}

/// A client frame: FIN set, `opcode`, masked with a fixed key unless `masked` is false.
fn frame(first_byte: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [1u8, 2, 3, 4];
    let mut bytes = vec![
        first_byte,
        (payload.len() as u8) | if masked { 0x80 } else { 0 },
    ];
    if masked {
        bytes.extend_from_slice(&mask);
        bytes.extend(
            payload
                .iter()
                .enumerate()
                .map(|(index, byte)| byte ^ mask[index % 4]),
        );
    } else {
        bytes.extend_from_slice(payload);
    }
    bytes
}

/// Reads server frames until a close frame and returns its code.
async fn read_close_code(stream: &mut TcpStream) -> Option<u16> {
    tokio::time::timeout(WAIT, async {
        loop {
            let mut header = [0u8; 2];
            stream.read_exact(&mut header).await.ok()?;
            let length = usize::from(header[1] & 0x7f);
            assert!(length < 126, "test frames are short");
            let mut payload = vec![0u8; length];
            stream.read_exact(&mut payload).await.ok()?;
            if header[0] & 0x0f == 0x8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    })
    .await
    .expect("close in time")
}

#[tokio::test]
async fn plain_http_gets_426_with_a_hint() {
    let server = TestServer::start(&script(ECHO)).await;
    let response = raw_request(&server, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(response.contains("websocket client"), "{response}");
}

#[tokio::test]
async fn bad_version_or_key_gets_400() {
    let server = TestServer::start(&script(ECHO)).await;
    let wrong_version =
        raw_request(&server, &upgrade_request("8", "dGhlIHNhbXBsZSBub25jZQ==")).await;
    assert!(wrong_version.starts_with("HTTP/1.1 400"), "{wrong_version}");
    assert!(
        wrong_version
            .to_lowercase()
            .contains("sec-websocket-version: 13"),
        "{wrong_version}"
    );
    let bad_key = raw_request(&server, &upgrade_request("13", "not-base64-16")).await;
    assert!(bad_key.starts_with("HTTP/1.1 400"), "{bad_key}");
    assert!(bad_key.contains("Sec-WebSocket-Key"), "{bad_key}");
}

#[tokio::test]
async fn a_client_that_never_finishes_the_request_is_dropped() {
    let server = TestServer::start_with(&script(ECHO), |config| {
        config.server.limits.handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = TcpStream::connect(server.engine.local_addr())
        .await
        .expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: loc")
        .await
        .expect("partial write");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "server must hang up on a stalled handshake");
}

#[tokio::test]
async fn ping_gets_pong_with_the_same_payload() {
    let server = TestServer::start(&script(ECHO)).await;
    let mut stream = upgraded(&server).await;
    stream
        .write_all(&frame(0x89, b"are you there", true))
        .await
        .expect("ping");
    let mut header = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut header))
        .await
        .expect("pong in time")
        .expect("read");
    assert_eq!(header[0], 0x8a, "pong opcode with FIN");
    let mut payload = vec![0u8; usize::from(header[1])];
    stream.read_exact(&mut payload).await.expect("payload");
    assert_eq!(payload, b"are you there");
}

#[tokio::test]
async fn invalid_utf8_text_is_closed_with_1007() {
    let server = TestServer::start(&script(ECHO)).await;
    let mut stream = upgraded(&server).await;
    stream
        .write_all(&frame(0x81, &[0xff, 0xfe, 0x41], true))
        .await
        .expect("write");
    assert_eq!(read_close_code(&mut stream).await, Some(1007));
}

#[tokio::test]
async fn unmasked_and_reserved_bit_frames_are_closed_with_1002() {
    let server = TestServer::start(&script(ECHO)).await;
    let mut stream = upgraded(&server).await;
    stream
        .write_all(&frame(0x81, b"plain", false))
        .await
        .expect("write");
    assert_eq!(read_close_code(&mut stream).await, Some(1002));

    let mut stream = upgraded(&server).await;
    stream
        .write_all(&frame(0x81 | 0x40, b"rsv1", true))
        .await
        .expect("write");
    assert_eq!(read_close_code(&mut stream).await, Some(1002));
}

#[tokio::test]
async fn a_client_close_is_answered_with_the_same_code() {
    let server = TestServer::start(&script(ECHO)).await;
    let mut stream = upgraded(&server).await;
    stream
        .write_all(&frame(0x88, &4321u16.to_be_bytes(), true))
        .await
        .expect("close");
    assert_eq!(read_close_code(&mut stream).await, Some(4321));
}

#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_read_in_order() {
    let server = TestServer::start(&script(ECHO)).await;
    let mut stream = TcpStream::connect(server.engine.local_addr())
        .await
        .expect("tcp connect");
    // One write: the HTTP server reads the frames with the request.
    let mut bytes = upgrade_request("13", "dGhlIHNhbXBsZSBub25jZQ==").into_bytes();
    bytes.extend(frame(0x81, b"early", true));
    bytes.extend(frame(0x81, b"second", true));
    stream.write_all(&bytes).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("read head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    for expected in ["early", "second"] {
        let mut header = [0u8; 2];
        tokio::time::timeout(WAIT, stream.read_exact(&mut header))
            .await
            .expect("echo in time")
            .expect("read");
        assert_eq!(header[0], 0x81, "a text frame with FIN");
        let mut payload = vec![0u8; usize::from(header[1])];
        stream.read_exact(&mut payload).await.expect("payload");
        assert_eq!(payload, expected.as_bytes());
    }
}
