//! Hostile clients against a real `sockscope serve` process: thousands of
//! half-open handshakes, a ping flood, a client that never reads. The
//! server must stay responsive and its memory bounded.

use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::util::process::{Child9, sockscope};
use crate::util::{WAIT, example_arg, recv_text, send_text};

fn serve_echo(extra: &[&str]) -> Child9 {
    let mut command: Command = sockscope();
    command
        .args(["serve", "--quiet", "--port", "0", "--kv", ":memory:"])
        .args(["--script", &example_arg("echo.js")])
        .args(extra);
    Child9::spawn(command)
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned()
}

/// Resident memory of `pid` in KiB, from /proc (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A masked client frame (FIN set) with a payload under 126 bytes.
fn small_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(index, byte)| byte ^ mask[index % 4]),
    );
    frame
}

async fn echo_round_trip(url: &str, text: &str) {
    let (mut client, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake in time")
        .expect("upgrade accepted");
    send_text(&mut client, text).await;
    assert_eq!(recv_text(&mut client).await, text);
}

fn note_retry(index: usize, error: &std::io::Error) {
    if index.is_multiple_of(100) {
        eprintln!("half-open connection {index}: {error}, retrying");
    }
}

#[tokio::test]
async fn five_thousand_half_open_handshakes_do_not_stop_the_server() {
    let mut server = serve_echo(&[]);
    let address = host_port(&server.url);
    let mut half_open = Vec::new();
    let mut refused = 0;
    for index in 0..5000 {
        // A full accept backlog (the server busy on a shared machine) can
        // refuse a connect; try again a bounded number of times.
        let mut attempts = 0;
        let mut stream = loop {
            match TcpStream::connect(&address).await {
                Ok(stream) => break stream,
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    refused += 1;
                    note_retry(index, &error);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!(
                    "half-open connection {index}: {error}; server exit: {:?}; its stderr:\n{}",
                    server.child.try_wait(),
                    server.stderr()
                ),
            }
        };
        // A request line and part of the headers, never finished.
        stream
            .write_all(b"GET /?name=slow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
            .await
            .expect("write partial request");
        half_open.push(stream);
        if index % 1000 == 999 {
            echo_round_trip(&server.url, &format!("alive at {}", index + 1)).await;
        }
    }
    echo_round_trip(&server.url, "alive with 5000 half-open").await;
    let rss = rss_kib(server.child.id());
    eprintln!("5000 half-open handshakes ({refused} connects retried): server RSS {rss:?} KiB");
    drop(half_open);
    echo_round_trip(&server.url, "alive after they left").await;
}

#[tokio::test]
async fn a_ping_flood_is_answered_and_other_clients_keep_being_served() {
    let server = serve_echo(&[]);
    let (client, _) = tokio_tungstenite::connect_async(&server.url)
        .await
        .expect("connect");
    // Take the raw socket: send pings faster than anyone reads pongs.
    let mut stream = match client.into_inner() {
        tokio_tungstenite::MaybeTlsStream::Plain(stream) => stream,
        _ => unreachable!("plain ws://"),
    };
    let ping = small_frame(0x9, &[b'p'; 125]);
    let mut burst = Vec::with_capacity(ping.len() * 1000);
    for _ in 0..1000 {
        burst.extend_from_slice(&ping);
    }
    for round in 0..20 {
        stream.write_all(&burst).await.expect("flood");
        if round % 5 == 4 {
            echo_round_trip(&server.url, "served during the flood").await;
        }
    }
    stream
        .write_all(&small_frame(0x1, b"after the flood"))
        .await
        .expect("text");
    // Drain until the echo of our text: pongs (any number) come first.
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let needle = b"after the flood";
    let mut buffer = vec![0u8; 64 * 1024];
    while !received
        .windows(needle.len())
        .any(|window| window == needle)
    {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .expect("the echo arrives after the pongs")
            .expect("read");
        assert!(read > 0, "server closed the flooding connection");
        received.extend_from_slice(&buffer[..read]);
    }
    let pongs = received
        .windows(2)
        .filter(|window| window == &[0x8A, 125])
        .count();
    eprintln!(
        "ping flood: 20000 pings sent, about {pongs} pongs back before the echo, RSS {:?} KiB",
        rss_kib(server.child.id())
    );
    assert!(pongs > 0);
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_with_1008_and_memory_stays_bounded() {
    let server = serve_echo(&["--outbound-queue-bytes", "4194304"]);
    let pid = server.child.id();
    echo_round_trip(&server.url, "warm up").await;
    let before = rss_kib(pid).expect("VmRSS readable");
    let payload = vec![b'z'; 256 * 1024];
    let mut after_each = Vec::new();
    for round in 1..=3 {
        // A small receive buffer: loopback's autotuning lets a socket that
        // nobody reads take up to 32 MiB, so with a server slowed by a
        // busy machine the kernel alone could hold what the test owes.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(64 * 1024)
            .expect("receive buffer size");
        let address = host_port(&server.url).parse().expect("server address");
        let stream = socket.connect(address).await.expect("connect");
        let (client, _) = tokio_tungstenite::client_async(&server.url, stream)
            .await
            .expect("upgrade");
        let (mut sink, mut stream) = client.split();
        // 64 MiB of echoes owed to a client that does not read: far past
        // the 4 MiB queue, the kernel's buffers and what a busy server has
        // read but not yet handled. Sends block once the server stops reading.
        let message = Message::binary(payload.clone());
        let sending = tokio::spawn(async move {
            for _ in 0..256 {
                if sink.send(message.clone()).await.is_err() {
                    break;
                }
            }
        });
        // Not a byte read until the server has given up on the client (a
        // client that read before would be a reading one), then at once:
        // the server waits only its close timeout for the close to leave.
        let gave_up = tokio::time::Instant::now() + WAIT;
        // (The echo's failed send is logged twice: the handler error, and
        // the SDK's own `Nitric Provider Error` lines.)
        while server
            .stderr()
            .matches("handler error: Error: 2 UNKNOWN: outbound queue full")
            .count()
            < round
        {
            assert!(
                tokio::time::Instant::now() < gave_up,
                "round {round}: the server never found the client not reading:\n{}",
                server.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sending.abort();
        // Now read: echoes that made it, then the close.
        let mut code = None;
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Ok(Some(next)) = tokio::time::timeout_at(deadline, stream.next()).await {
            match next {
                Ok(Message::Close(frame)) => {
                    code = frame.map(|frame| u16::from(frame.code));
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        assert_eq!(
            code,
            Some(1008),
            "the non-reading client is closed with 1008"
        );
        echo_round_trip(&server.url, "others are still served").await;
        after_each.push(rss_kib(pid).expect("VmRSS readable"));
    }
    eprintln!(
        "client that never reads, 3 rounds: RSS before {before} KiB, after each {after_each:?} KiB"
    );
    let last = after_each.last().copied().unwrap_or(before);
    assert!(
        last < before + 128 * 1024,
        "RSS grew from {before} KiB to {last} KiB"
    );
}

#[tokio::test]
async fn a_reading_client_gets_a_reply_larger_than_the_outbound_queue_limit() {
    // Only the message limit raised, as a user accepting 16 MiB messages
    // would: the default outbound queue (16 MiB) is smaller than one such
    // reply with its framing, and the client reads, so it must get it.
    let server = serve_echo(&["--max-message-bytes", "33554432"]);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (mut client, _) =
        tokio_tungstenite::connect_async_with_config(&server.url, Some(config), false)
            .await
            .expect("connect");
    let text = "q".repeat(16 << 20);
    for round in 0..2 {
        client
            .send(Message::text(text.clone()))
            .await
            .expect("send 16 MiB");
        let echo = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("echo in time");
        match echo {
            Some(Ok(Message::Text(echoed))) => {
                assert!(echoed.as_str() == text, "round {round}: echo differs")
            }
            other => panic!(
                "round {round}: expected the 16 MiB echo, got {:?}; stderr:\n{}",
                other.map(|message| message.map(|message| message.len())),
                server.stderr()
            ),
        }
    }
}
