//! Unit tests of the outbound queue.

use super::*;

fn text(len: usize) -> Payload {
    Payload::Text("x".repeat(len).into())
}

fn frame(len: usize) -> Option<Outgoing> {
    Some(Outgoing::Frame(text(len)))
}

#[tokio::test]
async fn behind_a_held_frame_a_full_queue_refuses_without_closing() {
    let (outbound, receiver) = outbound_queue(1000);
    receiver.set_held(true);
    outbound.send(text(600)).expect("the first frame fits");
    assert_eq!(
        outbound.send(text(600)),
        Err(QueueError::FullWhileHeld { limit_bytes: 1000 })
    );
    assert!(
        receiver.close_request().is_none(),
        "the client is not to blame"
    );
    receiver.set_held(false);
    assert_eq!(
        outbound.send(text(600)),
        Err(QueueError::Full { limit_bytes: 1000 })
    );
    assert_eq!(receiver.close_request().map(|close| close.code), Some(1008));
}

#[tokio::test]
async fn full_queue_requests_close_1008_and_refuses() {
    let (outbound, mut receiver) = outbound_queue(1000);
    outbound.send(text(500)).expect("first frame fits");
    let refused = outbound.send(text(500));
    assert_eq!(refused, Err(QueueError::Full { limit_bytes: 1000 }));
    assert!(outbound.is_closing());
    assert_eq!(receiver.close_request().map(|close| close.code), Some(1008));
    assert_eq!(
        receiver.next().await,
        None,
        "closing wins over queued frames"
    );
    assert_eq!(outbound.send(text(1)), Err(QueueError::Closed));
}

#[tokio::test]
async fn reserved_bytes_count_until_sent_or_given_back() {
    let (outbound, mut receiver) = outbound_queue(1000);
    let held = outbound.reserve(500).expect("fits");
    assert_eq!(outbound.queued_bytes(), 500 + FRAME_OVERHEAD_BYTES);
    let other = outbound.reserve(300).expect("fits");
    outbound.unreserve(other);
    assert_eq!(outbound.queued_bytes(), 500 + FRAME_OVERHEAD_BYTES);
    outbound.send_reserved(held, text(500)).expect("queued");
    assert_eq!(receiver.next().await, frame(500));
    assert_eq!(outbound.queued_bytes(), 0);
    let _held = outbound.reserve(500).expect("fits");
    assert_eq!(
        outbound.reserve(500).map(|_| ()),
        Err(QueueError::Full { limit_bytes: 1000 }),
        "a held frame counts against the limit"
    );
}

#[tokio::test]
async fn one_frame_larger_than_the_limit_is_taken_when_nothing_waits() {
    let (outbound, receiver) = outbound_queue(1000);
    outbound
        .send(text(5000))
        .expect("an empty queue takes any one frame");
    assert!(!outbound.is_closing());
    assert_eq!(
        outbound.send(text(1)),
        Err(QueueError::Full { limit_bytes: 1000 }),
        "behind it, the limit holds"
    );
    assert_eq!(receiver.close_request().map(|close| close.code), Some(1008));
}

#[tokio::test]
async fn a_large_frame_after_the_previous_was_written_is_taken() {
    let (outbound, mut receiver) = outbound_queue(1000);
    for _ in 0..3 {
        outbound.send(text(5000)).expect("the queue was drained");
        assert_eq!(receiver.next().await, frame(5000));
    }
    assert_eq!(outbound.queued_bytes(), 0);
}

#[tokio::test]
async fn cancelling_the_closing_signal_stops_senders_and_the_writer() {
    let (outbound, mut receiver) = outbound_queue(1000);
    outbound.send(text(10)).expect("open");
    let closing = receiver.closing();
    assert!(!closing.is_cancelled());
    closing.cancel();
    assert!(closing.is_cancelled() && outbound.is_closing());
    assert_eq!(outbound.send(text(10)), Err(QueueError::Closed));
    assert_eq!(
        receiver.next().await,
        None,
        "closing wins over queued frames"
    );
    closing.cancelled().await;
}

#[tokio::test]
async fn written_frames_free_their_bytes() {
    let (outbound, mut receiver) = outbound_queue(1000);
    for _ in 0..10 {
        outbound
            .send(text(500))
            .expect("fits after the previous was written");
        assert!(receiver.next().await.is_some());
    }
    assert_eq!(outbound.queued_bytes(), 0);
}

#[tokio::test]
async fn pings_and_pongs_keep_their_place_among_frames_and_count() {
    let (outbound, mut receiver) = outbound_queue(1000);
    outbound.send(text(3)).expect("open");
    let ping = Control::Ping(Bytes::from_static(b"p"));
    outbound.send_control(ping.clone()).expect("open");
    outbound.send(text(4)).expect("open");
    assert_eq!(
        outbound.queued_bytes(),
        3 + 1 + 4 + 3 * FRAME_OVERHEAD_BYTES
    );
    assert_eq!(receiver.next().await, frame(3));
    assert_eq!(receiver.next().await, Some(Outgoing::Control(ping)));
    assert_eq!(receiver.next().await, frame(4));
    assert_eq!(outbound.queued_bytes(), 0);
    receiver.closing().cancel();
    assert_eq!(
        outbound.send_control(Control::Pong(Bytes::new())),
        Err(QueueError::Closed)
    );
}

#[tokio::test]
async fn a_full_queue_lets_a_sender_wait_while_the_client_reads() {
    let (outbound, mut receiver) = outbound_queue(1000);
    outbound.send(text(900)).expect("fits");
    assert_eq!(
        outbound.try_reserve(900).map(|reserved| reserved.is_some()),
        Ok(false),
        "no room, and no close either"
    );
    assert!(!outbound.is_closing());
    let waiting = {
        let outbound = outbound.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                outbound.send_when_room(text(900)).await?;
            }
            Ok::<(), QueueError>(())
        })
    };
    // The client reads, slowly but never stalling for long.
    for _ in 0..4 {
        tokio::time::sleep(NOT_READING_AFTER / 4).await;
        assert_eq!(receiver.next().await, frame(900));
    }
    assert_eq!(waiting.await.expect("joined"), Ok(()));
    assert!(receiver.close_request().is_none(), "a reading client stays");
}

#[tokio::test]
async fn a_waiting_sender_gives_up_on_a_client_that_takes_nothing() {
    let (outbound, receiver) = outbound_queue(1000);
    outbound.send(text(900)).expect("fits");
    let started = Instant::now();
    assert_eq!(
        outbound.send_when_room(text(900)).await,
        Err(QueueError::Full { limit_bytes: 1000 })
    );
    assert!(started.elapsed() >= NOT_READING_AFTER);
    assert_eq!(receiver.close_request().map(|close| close.code), Some(1008));
}

#[tokio::test]
async fn a_waiting_sender_hears_that_the_connection_closed() {
    let (outbound, receiver) = outbound_queue(1000);
    outbound.send(text(900)).expect("fits");
    let waiting = {
        let outbound = outbound.clone();
        tokio::spawn(async move { outbound.send_when_room(text(900)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    receiver.closing().cancel();
    assert_eq!(waiting.await.expect("joined"), Err(QueueError::Closed));
}

#[test]
fn a_drain_watch_counts_frames_taken_not_the_queue_size() {
    let (outbound, mut receiver) = outbound_queue(1000);
    outbound.send(text(400)).expect("fits");
    let start = Instant::now();
    let mut watch = DrainWatch::new(&outbound, start);
    assert!(!watch.is_stalled(&outbound, start));
    // The client takes one frame and another sender refills the queue:
    // the size is level, yet the client reads.
    assert!(receiver.try_next().is_some());
    outbound.send(text(400)).expect("fits");
    let later = start + NOT_READING_AFTER;
    assert!(!watch.is_stalled(&outbound, later));
    assert_eq!(watch.deadline(), later + NOT_READING_AFTER);
    assert!(watch.is_stalled(&outbound, later + NOT_READING_AFTER));
}

#[tokio::test]
async fn a_relay_waits_out_a_hold_where_a_send_is_refused() {
    let (outbound, mut receiver) = outbound_queue(1000);
    outbound.send(text(900)).expect("fits");
    receiver.set_held(true);
    assert_eq!(
        outbound.send_when_room(text(900)).await,
        Err(QueueError::FullWhileHeld { limit_bytes: 1000 })
    );
    let relayed = {
        let outbound = outbound.clone();
        tokio::spawn(async move { outbound.relay_when_room(text(900)).await })
    };
    // Held for longer than a client may take nothing: the user decides.
    tokio::time::sleep(NOT_READING_AFTER * 2).await;
    assert!(!relayed.is_finished(), "the relay waits");
    assert!(receiver.close_request().is_none(), "nobody is closed");
    receiver.set_held(false);
    assert_eq!(receiver.next().await, frame(900));
    assert_eq!(relayed.await.expect("joined"), Ok(()));
    assert_eq!(receiver.next().await, frame(900));
}

#[test]
fn replies_reserved_but_not_queued_are_not_the_clients_to_take() {
    let (outbound, _receiver) = outbound_queue(1000);
    // A reply held for a kv commit fills the queue; nothing is in the channel.
    let held = outbound.reserve(900).expect("fits");
    let start = Instant::now();
    let mut watch = DrainWatch::new(&outbound, start);
    assert!(!watch.is_stalled(&outbound, start + NOT_READING_AFTER * 2));
    // Once it is queued and stays untaken, the client is not reading.
    outbound.send_reserved(held, text(900)).expect("queued");
    let queued = start + NOT_READING_AFTER * 2;
    assert!(!watch.is_stalled(&outbound, queued));
    assert!(watch.is_stalled(&outbound, queued + NOT_READING_AFTER));
}

#[test]
fn a_drain_watch_counts_bytes_the_client_takes_of_a_frame_being_written() {
    let (outbound, mut receiver) = outbound_queue(1000);
    let meter = receiver.write_meter();
    outbound.send(text(400)).expect("fits");
    assert!(receiver.try_next().is_some(), "the writer takes the first");
    outbound.send(text(400)).expect("waits behind it");
    // The writer is stuck writing the first frame to a slow client.
    let start = Instant::now();
    let mut watch = DrainWatch::new(&outbound, start);
    let later = start + NOT_READING_AFTER;
    meter.wrote(100);
    assert!(!watch.is_stalled(&outbound, later), "bytes went out");
    assert!(watch.is_stalled(&outbound, later + NOT_READING_AFTER));
}
