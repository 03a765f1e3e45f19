//! Process faults: `kill -9` of a real `sockscope serve` while it writes the
//! kv store or records a session, and a recording whose file stops taking
//! writes. Nothing acknowledged may be lost; the server must keep serving.

use std::process::Command;

use sockscope::core::bus::EventBus;
use sockscope::core::config::KvLocation;
use sockscope::kv::KvStore;
use sockscope::session::read_session;

use crate::util::process::{Child9, sockscope, sockscope_with_file_size_cap};
use crate::util::{example_arg, recv_text, send_text};

const ACKING_WRITER: &str = "import { websocket, kv } from '@nitric/sdk';
const socket = websocket('writer');
socket.on('connect', () => {});
const store = kv('seq').allow('get', 'set');
socket.on('message', async (ctx) => {
  const n = ctx.req.text();
  await store.set(`k${n.padStart(6, '0')}`, { n: Number(n) });
  await socket.send(ctx.req.connectionId, `ack ${n}`);
});
";

#[tokio::test]
async fn kill_9_during_kv_writes_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("writer.js");
    std::fs::write(&script, ACKING_WRITER).expect("write script");
    let kv_path = dir.path().join("kv.redb");
    let mut command = sockscope();
    command
        .args(["serve", "--quiet", "--port", "0", "--script"])
        .arg(&script)
        .arg("--kv")
        .arg(&kv_path)
        .current_dir(dir.path());
    let mut server = Child9::spawn(command);

    let (mut client, _) = tokio_tungstenite::connect_async(&server.url)
        .await
        .expect("connect");
    // Keep a window of writes in flight, so the kill lands mid-write.
    const TOTAL: u32 = 3000;
    const WINDOW: u32 = 32;
    const KILL_AFTER: u32 = 400;
    let mut sent = 0;
    let mut acked = Vec::new();
    while sent < WINDOW {
        sent += 1;
        send_text(&mut client, &sent.to_string()).await;
    }
    while (acked.len() as u32) < KILL_AFTER {
        let ack = recv_text(&mut client).await;
        let n: u32 = ack
            .strip_prefix("ack ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected frame {ack:?}"));
        acked.push(n);
        if sent < TOTAL {
            sent += 1;
            send_text(&mut client, &sent.to_string()).await;
        }
    }
    server.kill9();
    drop(client);

    let store = KvStore::open(&KvLocation::File(kv_path.clone()), EventBus::new(16))
        .expect("the store reopens after kill -9");
    for n in &acked {
        let key = format!("k{n:06}");
        let value = store
            .get("seq", &key)
            .expect("readable")
            .unwrap_or_else(|| panic!("acknowledged write {key} lost after kill -9"));
        assert_eq!(value, format!("{{\"n\":{n}}}"));
    }
    let stored = store.keys("seq", "").expect("keys").len();
    eprintln!(
        "kill -9 with {} writes in flight: {} acknowledged, {stored} in the store after restart",
        sent as usize - acked.len(),
        acked.len()
    );
    assert!(stored >= acked.len());
}

#[tokio::test]
async fn kill_9_during_recording_leaves_a_readable_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("crash.jsonl");
    let mut command = sockscope();
    command
        .args(["serve", "--quiet", "--port", "0", "--kv", ":memory:"])
        .args(["--script", &example_arg("echo.js"), "--record"])
        .arg(&session)
        .current_dir(dir.path());
    let mut server = Child9::spawn(command);
    let (mut client, _) = tokio_tungstenite::connect_async(&server.url)
        .await
        .expect("connect");
    let mut echoed = 0;
    for n in 0..500 {
        let text = format!("message {n} {}", "x".repeat(n % 200));
        send_text(&mut client, &text).await;
        assert_eq!(recv_text(&mut client).await, text);
        echoed += 1;
    }
    // Frames still in flight when the process dies.
    for n in 0..50 {
        send_text(&mut client, &format!("in flight {n}")).await;
    }
    server.kill9();

    let session = read_session(&session).expect("a killed recording still reads back");
    assert!(
        session.warnings.len() <= 1,
        "at most the last line may be torn: {:?}",
        session.warnings
    );
    // The recorder is a bus subscriber on its own thread: it may lag behind
    // the replies, so a kill loses the lines it had not written yet, but
    // never garbles the ones it had.
    assert!(
        session.message_count() > 0,
        "lines written before the kill read back"
    );
    eprintln!(
        "kill -9 while recording: {echoed} echoed, {} messages read back, warnings: {:?}",
        session.message_count(),
        session.warnings
    );
}

#[tokio::test]
async fn a_recording_that_can_no_longer_write_is_reported_and_serving_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("full.jsonl");
    let mut command = sockscope_with_file_size_cap(4);
    command
        .args(["serve", "--quiet", "--port", "0", "--kv", ":memory:"])
        .args(["--script", &example_arg("echo.js"), "--record"])
        .arg(&session)
        .current_dir(dir.path());
    let server = Child9::spawn(command);
    let (mut client, _) = tokio_tungstenite::connect_async(&server.url)
        .await
        .expect("connect");
    // 4 blocks of 512 bytes fill after a few dozen lines; go well past it.
    for n in 0..300 {
        let text = format!("message {n} {}", "y".repeat(100));
        send_text(&mut client, &text).await;
        assert_eq!(recv_text(&mut client).await, text, "still serving");
    }
    let (mut second, _) = tokio_tungstenite::connect_async(&server.url)
        .await
        .expect("new connections still accepted");
    send_text(&mut second, "after the failure").await;
    assert_eq!(recv_text(&mut second).await, "after the failure");

    // The recorder writes on its own thread: wait for its report.
    let deadline = std::time::Instant::now() + crate::util::WAIT;
    let mut log = server.stderr();
    while !log.contains("File too large") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        log = server.stderr();
    }
    assert!(
        log.contains("full.jsonl") && log.contains("File too large"),
        "the user is told why recording stopped:\n{log}"
    );
    assert_eq!(
        log.matches("File too large").count(),
        1,
        "reported once:\n{log}"
    );
    let read = read_session(&session).expect("what was written reads back");
    assert!(read.warnings.len() <= 1, "{:?}", read.warnings);
}

#[tokio::test]
async fn a_full_disk_fails_the_writes_it_must_keeps_every_acknowledged_one_and_serving_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("writer.js");
    std::fs::write(
        &script,
        "import { websocket, kv } from '@nitric/sdk';
const socket = websocket('writer');
socket.on('connect', () => {});
const store = kv('data').allow('get', 'set');
const filler = 'x'.repeat(4096);
socket.on('message', async (ctx) => {
  const key = ctx.req.text();
  if (key.startsWith('get ')) {
    const value = await store.get(key.slice(4));
    return socket.send(ctx.req.connectionId, `found ${value.filler.length}`);
  }
  await store.set(key, { filler });
  socket.send(ctx.req.connectionId, `saved ${key}`);
});",
    )
    .expect("write script");
    let kv_path = dir.path().join("kv.redb");
    let mut command = sockscope_with_file_size_cap(2048);
    command
        .args(["serve", "--quiet", "--port", "0", "--script"])
        .arg(&script)
        .arg("--kv")
        .arg(&kv_path)
        .current_dir(dir.path());
    let server = Child9::spawn(command);

    let (mut client, _) = tokio_tungstenite::connect_async(&server.url)
        .await
        .expect("connect");
    let mut acknowledged = Vec::new();
    let close_code = loop {
        assert!(
            acknowledged.len() < 5000,
            "the file size limit was never reached"
        );
        let key = format!("k{:05}", acknowledged.len());
        send_text(&mut client, &key).await;
        match crate::util::recv(&mut client).await {
            tokio_tungstenite::tungstenite::Message::Text(text) => {
                assert_eq!(text.as_str(), format!("saved {key}"));
                acknowledged.push(key);
            }
            tokio_tungstenite::tungstenite::Message::Close(frame) => {
                break frame.map(|frame| u16::from(frame.code));
            }
            other => panic!("unexpected frame {other:?}"),
        }
    };
    assert_eq!(
        close_code,
        Some(1011),
        "the reply whose write was lost is never sent; the connection closes instead"
    );
    assert!(
        !acknowledged.is_empty(),
        "writes succeeded before the limit"
    );

    let (mut second, _) = tokio_tungstenite::connect_async(&server.url)
        .await
        .expect("new connections still accepted");
    send_text(&mut second, &format!("get {}", acknowledged[0])).await;
    assert_eq!(recv_text(&mut second).await, "found 4096", "still serving");

    // Space comes back (the limit is lifted): writes work again without a
    // restart, because the store was reopened after the failure (redb
    // refuses every later write until then).
    let lifted = Command::new("prlimit")
        .arg("--pid")
        .arg(server.child.id().to_string())
        .arg("--fsize=unlimited")
        .status()
        .expect("run prlimit (util-linux)");
    assert!(lifted.success());
    send_text(&mut second, "after").await;
    assert_eq!(recv_text(&mut second).await, "saved after");
    acknowledged.push("after".to_owned());

    let log = server.stderr();
    assert!(
        log.contains("kv writes could not be made durable and are lost")
            && log.contains("File too large")
            && log.contains("the store is back at its last commit")
            && log.contains("closed with 1011"),
        "the user is told what happened:\n{log}"
    );
    drop(server);

    let store = KvStore::open(&KvLocation::File(kv_path), EventBus::new(16))
        .expect("the store reopens after the failure");
    for key in &acknowledged {
        assert!(
            store.get("data", key).expect("readable").is_some(),
            "acknowledged write {key} lost"
        );
    }
}

#[test]
fn recording_into_a_folder_that_cannot_exist_fails_at_start_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "").expect("write");
    let target = not_a_folder.join("session.jsonl");
    let output = sockscope()
        .args(["serve", "--port", "0", "--kv", ":memory:"])
        .args(["--script", &example_arg("echo.js"), "--record"])
        .arg(&target)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "sockscope: cannot record: {}: Not a directory (os error 20)",
            target.display()
        )
    );
}
