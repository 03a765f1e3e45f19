//! Issue 18, item 4: a flood of traffic paces the window (a few frames a
//! second, what it cannot take skipped and counted) instead of taking a CPU
//! the server needs, and the window is back to normal once it is over. The
//! bus keeps 256 events for a display here, so a few thousand echoes are a
//! flood whatever the machine's speed: the window sees them skipped.

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable as _;
use sockscope::core::logging::thousands;
use sockscope::ui::state::ingest::FLOOD_FRAME_INTERVAL;

use super::Window;
use crate::util::{Client, recv_text, script, send_text};

const ECHO: &str = "const socket = websocket('s');
socket.on('connect', () => {});
socket.on('message', (ctx) => socket.send(ctx.req.connectionId, ctx.req.text()));";

const BUS_CAPACITY: usize = 256;

/// Messages per flood: each is two events (in and its echo).
const MESSAGES: usize = 1_000;

/// Sends `MESSAGES` messages tagged `round` and reads every echo, while the
/// window draws no frame.
fn flood(window: &Window, client: &mut Client, round: usize) {
    window.runtime.block_on(async {
        for index in 0..MESSAGES {
            send_text(client, &format!("r{round}m{index}")).await;
        }
        for _ in 0..MESSAGES {
            recv_text(client).await;
        }
    });
}

#[test]
fn a_flood_paces_the_window_and_skips_what_it_cannot_take_then_it_returns_to_normal() {
    let mut window = Window::open_configured(&script(ECHO), &[], None, |config| {
        config.server.bus_capacity = BUS_CAPACITY;
    });
    let mut client = window.connect("/");
    window.step_until("the connection's row", |app| {
        app.state.connections.open_count() == 1
    });
    assert!(!window.app().state.is_flooded);

    // The first frame after a flood may have been asked for at once (the
    // waker's request, egui's layout passes); the flood's own frames then
    // come FLOOD_FRAME_INTERVAL apart.
    let mut rounds = 0;
    loop {
        flood(&window, &mut client, rounds);
        window.harness.step();
        rounds += 1;
        assert!(
            window.app().state.is_flooded,
            "round {rounds}: the window should know it is flooded"
        );
        if window.repaint_delay() == FLOOD_FRAME_INTERVAL {
            break;
        }
        assert!(
            rounds < 5,
            "a flooded window asks for its next frame after {FLOOD_FRAME_INTERVAL:?}, not {:?}: {:?}",
            window.repaint_delay(),
            window.harness.ctx.repaint_causes()
        );
    }
    let skipped = window.app().state.missed_events;
    assert!(
        skipped > 0,
        "more events than the bus keeps for the window were published"
    );
    window
        .harness
        .get_by_label_contains(&format!("{} events skipped", thousands(skipped)));
    window
        .harness
        .get_by_label_contains("flood: 5 frames a second");

    // Over: the next frame takes what waits and the window is back to normal.
    window.harness.step();
    assert!(!window.app().state.is_flooded, "the flood is over");
    assert_ne!(window.repaint_delay(), FLOOD_FRAME_INTERVAL);
    let last = format!("r{}m{}", rounds - 1, MESSAGES - 1);
    window.step_until_shown(&last);
    window
        .harness
        .get_by_label_contains("events skipped: the display fell behind");

    // Idle: once counters and rates settle, no frame is asked for.
    window.settle();
    window.harness.step();
    window.assert_asks_for_no_frames("after the flood");

    // And one message wakes it again (the waker stopped looking during the
    // flood, and looks again).
    window.runtime.block_on(async {
        send_text(&mut client, "after").await;
        assert_eq!(recv_text(&mut client).await, "after");
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !window.harness.ctx.has_requested_repaint() {
        assert!(
            Instant::now() < deadline,
            "a message after the flood did not wake the window"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    window.step_until_shown("after");
    assert!(!window.app().state.is_flooded);
}
