//! Replay behaviour: divergences, id mapping, ignore rules, timing.

use std::time::Duration;

use sockscope::session::format::{Frame, IgnoreRule, SessionEvent};
use sockscope::session::replay::Timing;

use super::*;
use crate::util::{example_path, recv, send_text};

#[tokio::test]
async fn a_recorded_chat_replays_and_a_changed_script_names_the_first_divergence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = record_chat(&dir.path().join("chat.jsonl")).await;
    let kinds: Vec<&str> = session
        .lines
        .iter()
        .map(|line| match line.event {
            SessionEvent::Connect { .. } => "connect",
            SessionEvent::Accepted { .. } => "accepted",
            SessionEvent::Rejected { .. } => "rejected",
            SessionEvent::Send(_) => "send",
            SessionEvent::Recv(_) => "recv",
            SessionEvent::Close { .. } => "close",
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|kind| **kind == "recv").count(),
        6,
        "{kinds:?}"
    );
    assert_eq!(session.connection_labels(), vec!["c1", "c2"]);

    let report = replay_against(&example_path("chat.js"), &session, Timing::Fast).await;
    assert!(report.passed(), "{:?}", report.divergence);
    assert_eq!(report.connections.len(), 2);

    let changed = dir.path().join("shouting.js");
    let source = std::fs::read_to_string(example_path("chat.js")).expect("chat.js");
    let shouting = source.replace("text: ctx.req.text()", "text: ctx.req.text().toUpperCase()");
    assert_ne!(source, shouting);
    std::fs::write(&changed, shouting).expect("write");
    let report = replay_against(&changed, &session, Timing::Fast).await;
    let divergence = report.divergence.expect("the shouting script diverges");
    // "hi bob" was delivered to both; whoever got it first in the recording
    // (ties broken by label) diverges first. ann (c1) had one message
    // before it, bob (c2) none.
    let first_hi = session
        .lines
        .iter()
        .filter(|line| {
            matches!(&line.event, SessionEvent::Recv(Frame::Text(text)) if text.contains("hi bob"))
        })
        .min_by_key(|line| (line.t, line.conn.clone()))
        .expect("hi bob recorded");
    assert_eq!(divergence.conn, first_hi.conn);
    let expected_index = if first_hi.conn == "c1" { 1 } else { 0 };
    assert_eq!(divergence.message_index, Some(expected_index));
    assert_eq!(
        divergence.expected.as_deref(),
        Some(r#"{"type":"message","from":"ann","text":"hi bob"}"#)
    );
    assert_eq!(
        divergence.actual.as_deref(),
        Some(r#"{"type":"message","from":"ann","text":"HI BOB"}"#)
    );
    assert_eq!(divergence.json_path.as_deref(), Some("$.text"));
    println!("first divergence: {divergence}");
}

#[tokio::test]
async fn recorded_connection_ids_are_mapped_to_the_new_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("whoami.js");
    std::fs::write(
        &script,
        crate::util::script(
            "const socket = websocket('s');
socket.on('connect', () => {});\n\
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, \
             { you: ctx.req.connectionId, said: `${ctx.req.connectionId}: ${ctx.req.text()}` }));",
        ),
    )
    .expect("write");
    let session = record(
        &script,
        &dir.path().join("ids.jsonl"),
        1,
        |engine| async move {
            let mut client = connect(&engine, "/").await;
            send_text(&mut client, "one").await;
            recv(&mut client).await;
            send_text(&mut client, "two").await;
            recv(&mut client).await;
            close(client).await;
        },
    )
    .await;
    let report = replay_against(&script, &session, Timing::Fast).await;
    assert!(report.passed(), "{:?}", report.divergence);
    assert_eq!(report.id_mappings.len(), 1, "{:?}", report.id_mappings);
    let (recorded, replayed) = &report.id_mappings[0];
    assert_ne!(recorded, replayed);
}

#[tokio::test]
async fn a_volatile_timestamp_passes_only_with_its_ignore_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("stamped.js");
    std::fs::write(
        &script,
        crate::util::script(
            "const socket = websocket('s');
socket.on('connect', () => {});\n\
             socket.on('message', (ctx) => socket.send(ctx.req.connectionId, \
             { echo: ctx.req.text(), meta: { timestamp: Date.now() + Math.random() } }));",
        ),
    )
    .expect("write");
    let mut session = record(
        &script,
        &dir.path().join("ts.jsonl"),
        1,
        |engine| async move {
            let mut client = connect(&engine, "/").await;
            send_text(&mut client, "tick").await;
            recv(&mut client).await;
            close(client).await;
        },
    )
    .await;
    let report = replay_against(&script, &session, Timing::Fast).await;
    let divergence = report.divergence.expect("timestamps differ without a rule");
    assert_eq!(divergence.json_path.as_deref(), Some("$.meta.timestamp"));

    session.header.ignore = vec![IgnoreRule::Path("$..timestamp".into())];
    let report = replay_against(&script, &session, Timing::Fast).await;
    assert!(report.passed(), "{:?}", report.divergence);
}

/// One client sends "a", "b", "c" to echo.js, `gap_ms` after each echo,
/// then closes.
async fn record_spaced_echoes(path: &std::path::Path, gap_ms: u64) -> Session {
    record(&example_path("echo.js"), path, 1, |engine| async move {
        let mut client = connect(&engine, "/").await;
        for text in ["a", "b", "c"] {
            send_text(&mut client, text).await;
            recv(&mut client).await;
            tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        }
        close(client).await;
    })
    .await
}

#[tokio::test]
async fn recorded_timing_keeps_the_gaps_between_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = record_spaced_echoes(&dir.path().join("gaps.jsonl"), 300).await;
    let report = replay_against(&example_path("echo.js"), &session, Timing::Recorded).await;
    assert!(report.passed(), "{:?}", report.divergence);
    let connection = &report.connections[0];
    let times = |steps: &[sockscope::session::compare::Step]| -> Vec<i64> {
        steps
            .iter()
            .filter(|step| matches!(step.kind, sockscope::session::compare::StepKind::Recv(_)))
            .map(|step| step.t_ms as i64)
            .collect()
    };
    let expected = times(&connection.expected);
    let actual = times(&connection.actual);
    // Gaps are reported, not asserted: a busy machine stretches them. What
    // holds under any load is the floor: a message is never sent before its
    // recorded time, so the last reply cannot come earlier than that.
    for index in 1..expected.len() {
        let recorded_gap = expected[index] - expected[index - 1];
        let replayed_gap = actual[index] - actual[index - 1];
        println!("gap {index}: recorded {recorded_gap} ms, replayed {replayed_gap} ms");
        assert!(
            recorded_gap >= 250,
            "the recording paused 300 ms: {recorded_gap}"
        );
    }
    let last_send_ms = session
        .lines
        .iter()
        .filter(|line| matches!(line.event, SessionEvent::Send(_)))
        .map(|line| line.t as i64)
        .max()
        .expect("the session sends");
    let last_reply_ms = *actual.last().expect("replies arrived");
    assert!(
        last_reply_ms >= last_send_ms,
        "recorded timing must wait: the last message was due at {last_send_ms} ms, its reply came at {last_reply_ms} ms"
    );
}

#[tokio::test]
async fn progress_is_reported_while_steps_complete_and_ends_at_the_total() {
    use sockscope::session::replay::ReplayProgress;

    // Three echoes 150 ms apart, replayed at the recorded times: long
    // enough for several progress reports.
    let dir = tempfile::tempdir().expect("temp dir");
    let session = record_spaced_echoes(&dir.path().join("ticks.jsonl"), 150).await;
    let engine = start_engine(&example_path("echo.js")).await;
    let mut options = ReplayOptions::new(engine.url());
    options.timing = Timing::Recorded;
    let mut seen: Vec<ReplayProgress> = Vec::new();
    let report = replay_session(&session, &options, |progress| seen.push(progress))
        .await
        .expect("replay runs");
    engine.shutdown().await;
    assert!(report.passed(), "{:?}", report.divergence);

    let done: Vec<usize> = seen.iter().map(|progress| progress.steps_done).collect();
    assert!(
        done.len() >= 3,
        "a 450 ms replay reported progress only {} times: {done:?}",
        done.len()
    );
    assert!(
        done.windows(2).all(|pair| pair[0] < pair[1]),
        "progress must only move forward: {done:?}"
    );
    let last = seen.last().expect("progress reported");
    // connect, 3 sends, the close, 3 echoes.
    assert_eq!((last.steps_done, last.steps_total), (8, 8));
}

#[tokio::test]
async fn a_handler_that_stopped_answering_costs_one_step_timeout_not_one_per_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = record(
        &example_path("echo.js"),
        &dir.path().join("thirty.jsonl"),
        1,
        |engine| async move {
            let mut client = connect(&engine, "/").await;
            for index in 0..30 {
                send_text(&mut client, &format!("message {index}")).await;
                recv(&mut client).await;
            }
            close(client).await;
        },
    )
    .await;
    let silent = dir.path().join("silent.js");
    std::fs::write(
        &silent,
        crate::util::script(
            "const s = websocket('s');\ns.on('connect', () => {});\ns.on('message', () => {});",
        ),
    )
    .expect("write");
    let engine = start_engine(&silent).await;
    let mut options = ReplayOptions::new(engine.url());
    options.step_timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let report = replay_session(&session, &options, |_| {})
        .await
        .expect("replay runs");
    let took = started.elapsed();
    engine.shutdown().await;

    let divergence = report.divergence.expect("nothing came back");
    assert_eq!(divergence.message_index, Some(0), "{divergence:?}");
    assert_eq!(divergence.expected.as_deref(), Some("message 0"));
    assert_eq!(divergence.actual, None);
    // Waiting a step timeout per missing message would take 30 s.
    assert!(
        took < Duration::from_secs(15),
        "the replay waited {took:?} for 30 missing messages"
    );
}
