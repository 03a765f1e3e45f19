//! How the script thread waits for its next job.
//!
//! Parking a thread and waking it again (a futex round trip, and on a VM a
//! trip through the hypervisor's scheduler) took about 50 µs here: in a
//! ping-pong — a replay, or one client talking to its handler — that was
//! more than half of every round trip. So when its queue is empty the
//! thread keeps looking for the next job for a short while, yielding its
//! CPU to anything else runnable, and parks only when nothing came. When
//! looking keeps failing (traffic whose gaps are longer than the look), it
//! stops looking, so a trickle of messages does not keep a core busy; a job
//! that arrives soon after the thread parked turns looking back on. A job
//! that was already queued teaches nothing: a burst of messages says
//! nothing about the gap after it.
//!
//! Yielding has a price when the CPUs are contended (clients and socket
//! threads sharing a small machine, or another program busy beside it): a
//! thread that yielded is still runnable, so it keeps taking turns from the
//! threads that have work. Several long yields close together (each kept
//! the thread off its CPU for a while: others were waiting for it) mean the
//! CPUs are contended, and the thread then stops looking for a while and
//! parks at once, leaving its CPU to them. An earlier version spun instead
//! (kept its CPU), which held p99 at 0.8 ms in a 10-connection paced echo
//! on an otherwise idle 2-CPU machine, but on a machine busy with other
//! work it took the CPU the socket thread and the clients needed: one write
//! per message from 50 clients, the look as it was reached 48,578 msg/s
//! and parking at once 55,557 (+14%) in the same run.
//!
//! `--low-cpu` ([`set_low_cpu`]) turns the look off: the thread parks as
//! soon as its queue is empty, for laptops on battery or machines where
//! every cycle belongs to something else, at the price of a wake-up per
//! round trip in a ping-pong.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

/// Process-wide: a script thread started after it is set never looks ahead.
/// A process setting (like `--io-threads`), not per script, because it is
/// about how this process shares the machine's CPUs.
static LOW_CPU: AtomicBool = AtomicBool::new(false);

/// `--low-cpu`: script threads started from now on park as soon as their
/// queue is empty, never yielding or spinning while they wait.
pub fn set_low_cpu(is_low_cpu: bool) {
    LOW_CPU.store(is_low_cpu, Ordering::Relaxed);
}

/// How long the thread looks for the next job before it parks.
const LOOK_AHEAD: Duration = Duration::from_micros(50);

/// Failed looks in a row after which the thread parks at once.
const FAILED_LOOKS_BEFORE_PAUSE: u32 = 8;

/// A yield that kept the thread off its CPU this long lost it to a thread
/// with work of its own. (In a ping-pong, the client's and socket thread's
/// turns take up to about 30 µs.)
const LONG_YIELD: Duration = Duration::from_micros(35);

/// This many long yields within [`CONTENDED_WITHIN`] of the first mean the
/// CPUs are contended.
const LONG_YIELDS_WHEN_CONTENDED: u32 = 3;

/// See [`LONG_YIELDS_WHEN_CONTENDED`].
const CONTENDED_WITHIN: Duration = Duration::from_millis(2);

/// How long the thread parks without looking once the CPUs are contended.
const CONTENDED_SPELL: Duration = Duration::from_millis(100);

/// Whether to look ahead, learned from how soon the last jobs came.
#[derive(Debug)]
pub(super) struct JobWait {
    /// `--low-cpu`: never look.
    is_low_cpu: bool,
    look_ahead: Duration,
    failed_looks_in_a_row: u32,
    /// When the current run of long yields began, and how long it is.
    long_yields: Option<(Instant, u32)>,
    /// Until then the thread does not look: it parks at once.
    contended_until: Option<Instant>,
}

impl Default for JobWait {
    fn default() -> Self {
        Self {
            is_low_cpu: LOW_CPU.load(Ordering::Relaxed),
            look_ahead: LOOK_AHEAD,
            failed_looks_in_a_row: 0,
            long_yields: None,
            contended_until: None,
        }
    }
}

impl JobWait {
    /// The next job, or `None` once every sender is gone.
    pub(super) fn next<T>(&mut self, jobs: &mut mpsc::Receiver<T>) -> Option<T> {
        match jobs.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        let now = Instant::now();
        if self.looks_ahead() && !self.is_contended(now) {
            let started = now;
            loop {
                match jobs.try_recv() {
                    Ok(job) => {
                        self.came_soon();
                        return Some(job);
                    }
                    Err(TryRecvError::Disconnected) => return None,
                    Err(TryRecvError::Empty) => {
                        let now = Instant::now();
                        if now.duration_since(started) >= self.look_ahead || self.is_contended(now)
                        {
                            break;
                        }
                        std::thread::yield_now();
                        let back = Instant::now();
                        if back.duration_since(now) >= LONG_YIELD {
                            self.yielded_long(back);
                        }
                    }
                }
            }
            if !self.is_contended(Instant::now()) {
                self.came_late();
            }
            return jobs.blocking_recv();
        }
        let parked = Instant::now();
        let job = jobs.blocking_recv();
        if parked.elapsed() < self.look_ahead {
            self.came_soon();
        }
        job
    }

    fn looks_ahead(&self) -> bool {
        !self.is_low_cpu && self.failed_looks_in_a_row < FAILED_LOOKS_BEFORE_PAUSE
    }

    fn came_soon(&mut self) {
        self.failed_looks_in_a_row = 0;
    }

    fn came_late(&mut self) {
        self.failed_looks_in_a_row = self.failed_looks_in_a_row.saturating_add(1);
    }

    fn is_contended(&self, now: Instant) -> bool {
        self.contended_until.is_some_and(|until| now < until)
    }

    /// A yield that ended at `now` had kept the thread off its CPU long.
    fn yielded_long(&mut self, now: Instant) {
        let (first, count) = match self.long_yields {
            Some((first, count)) if now.duration_since(first) <= CONTENDED_WITHIN => {
                (first, count + 1)
            }
            _ => (now, 1),
        };
        if count < LONG_YIELDS_WHEN_CONTENDED {
            self.long_yields = Some((first, count));
        } else {
            self.long_yields = None;
            self.contended_until = Some(now + CONTENDED_SPELL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_yields_close_together_stop_the_look_for_a_while() {
        let mut wait = JobWait::default();
        let start = Instant::now();
        let at = |millis: u64| start + Duration::from_millis(millis);

        // Spread out: never three within the window.
        for millis in [0, 2, 4, 6, 8, 10] {
            wait.yielded_long(at(millis));
            assert!(!wait.is_contended(at(millis)), "contended at {millis} ms");
        }

        // Three within 2 ms of the first: contended for the spell, then not.
        for millis in [20, 21] {
            wait.yielded_long(at(millis));
            assert!(!wait.is_contended(at(millis)));
        }
        wait.yielded_long(at(22));
        assert!(wait.is_contended(at(22)));
        assert!(wait.is_contended(at(22) + CONTENDED_SPELL - Duration::from_millis(1)));
        assert!(!wait.is_contended(at(22) + CONTENDED_SPELL));

        // The run starts over after a spell began.
        wait.yielded_long(at(200));
        wait.yielded_long(at(201));
        assert!(!wait.is_contended(at(201)));
    }

    #[test]
    fn low_cpu_never_looks_and_jobs_still_arrive() {
        let (sender, mut jobs) = mpsc::channel(4);
        let mut wait = JobWait {
            is_low_cpu: true,
            ..JobWait::default()
        };
        for _ in 0..3 {
            assert!(!wait.looks_ahead());
            let sender = sender.clone();
            let sending = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                sender.blocking_send(5).expect("receiver alive");
            });
            assert_eq!(wait.next(&mut jobs), Some(5));
            sending.join().expect("sender thread");
        }
        assert!(
            !wait.looks_ahead(),
            "a job that came soon turned looking on"
        );
    }

    #[test]
    fn queued_jobs_come_in_order_and_a_closed_queue_ends_the_wait() {
        let (sender, mut jobs) = mpsc::channel(4);
        sender.try_send(1).expect("room");
        sender.try_send(2).expect("room");
        let mut wait = JobWait::default();
        assert_eq!(wait.next(&mut jobs), Some(1));
        assert_eq!(wait.next(&mut jobs), Some(2));
        drop(sender);
        assert_eq!(wait.next(&mut jobs), None);
    }

    #[test]
    fn a_job_sent_while_the_thread_looks_or_sleeps_arrives() {
        let (sender, mut jobs) = mpsc::channel(4);
        let mut wait = JobWait::default();
        for delay in [Duration::ZERO, Duration::from_millis(5)] {
            let sender = sender.clone();
            let sending = std::thread::spawn(move || {
                std::thread::sleep(delay);
                sender.blocking_send(7).expect("receiver alive");
            });
            assert_eq!(wait.next(&mut jobs), Some(7));
            sending.join().expect("sender thread");
        }
    }

    #[test]
    fn long_gaps_stop_the_look_bursts_do_not_restart_it_a_quick_job_does() {
        let (sender, mut jobs) = mpsc::channel(4);
        // A look that ends at once: every job sent later comes late.
        let mut wait = JobWait {
            look_ahead: Duration::ZERO,
            ..JobWait::default()
        };
        for _ in 0..FAILED_LOOKS_BEFORE_PAUSE {
            assert!(wait.looks_ahead());
            let sender = sender.clone();
            let late = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                sender.blocking_send(0).expect("receiver alive");
            });
            assert_eq!(wait.next(&mut jobs), Some(0));
            late.join().expect("sender thread");
        }
        assert!(!wait.looks_ahead(), "still looking after every look failed");

        // From here a job counts as soon for a whole second.
        wait.look_ahead = Duration::from_secs(1);

        // Jobs already queued (a burst) say nothing about the next gap.
        sender.try_send(1).expect("room");
        sender.try_send(2).expect("room");
        assert_eq!(wait.next(&mut jobs), Some(1));
        assert_eq!(wait.next(&mut jobs), Some(2));
        assert!(!wait.looks_ahead(), "a burst turned looking back on");

        // Parked, and the next job came within the look: it came soon.
        let soon = {
            let sender = sender.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                sender.blocking_send(3).expect("receiver alive");
            })
        };
        assert_eq!(wait.next(&mut jobs), Some(3));
        soon.join().expect("sender thread");
        assert!(
            wait.looks_ahead(),
            "a job that came soon after parking did not turn looking back on"
        );
    }
}
