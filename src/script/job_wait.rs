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
//! `--low-cpu` takes the other way out of hand-offs: the sockets run on the
//! script thread itself ([`Waiting::Shared`]), so a message never wakes
//! another thread and nothing ever looks ahead.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

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
        self.failed_looks_in_a_row < FAILED_LOOKS_BEFORE_PAUSE
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

/// How the script thread waits for jobs: on a thread of its own, or on the
/// thread it shares with the sockets (`--low-cpu`).
#[derive(Debug)]
pub(super) enum Waiting {
    /// A thread of its own: it looks ahead, then parks (see the module docs).
    Own(JobWait),
    /// The job loop is a future on a current-thread runtime that also runs
    /// the sockets: every wait is an await, and the loop lets them run
    /// between steps, so a message's hand-off is a queue push and never a
    /// wake-up of another thread.
    Shared,
}

/// What came first while waiting for a deadline.
pub(super) enum Waited<T> {
    Job(T),
    Closed,
    Deadline,
}

impl Waiting {
    /// The next job, or `None` once every sender is gone.
    pub(super) async fn next<T>(&mut self, jobs: &mut mpsc::Receiver<T>) -> Option<T> {
        match self {
            Self::Own(wait) => wait.next(jobs),
            Self::Shared => jobs.recv().await,
        }
    }

    /// The next job, unless `deadline` passes first.
    pub(super) async fn until<T>(
        &mut self,
        jobs: &mut mpsc::Receiver<T>,
        deadline: Instant,
    ) -> Waited<T> {
        match self {
            Self::Own(_) => poll_until(jobs, deadline),
            Self::Shared => match tokio::time::timeout_at(deadline.into(), jobs.recv()).await {
                Ok(Some(job)) => Waited::Job(job),
                Ok(None) => Waited::Closed,
                Err(_) => Waited::Deadline,
            },
        }
    }

    /// Nothing to do until `deadline`, whatever comes.
    pub(super) async fn sleep_until(&self, deadline: Instant) {
        match self {
            Self::Own(_) => std::thread::sleep(deadline.saturating_duration_since(Instant::now())),
            Self::Shared => tokio::time::sleep_until(deadline.into()).await,
        }
    }

    /// Between two steps of work: the sockets' turn when they share the
    /// thread.
    pub(super) async fn between_steps(&self) {
        if let Self::Shared = self {
            tokio::task::yield_now().await;
        }
    }
}

/// The next job, unless `deadline` passes first. Only while a handler waits
/// for an event that may never come, so polling each millisecond is cheap
/// enough.
fn poll_until<T>(jobs: &mut mpsc::Receiver<T>, deadline: Instant) -> Waited<T> {
    loop {
        match jobs.try_recv() {
            Ok(job) => return Waited::Job(job),
            Err(TryRecvError::Disconnected) => return Waited::Closed,
            Err(TryRecvError::Empty) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Waited::Deadline;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
    }
}

/// Runs the job loop on a thread of its own. It never awaits anything that
/// another thread wakes (its waits park the thread themselves), but a tiny
/// executor keeps that an implementation detail of [`Waiting::Own`].
pub(super) fn run_on_own_thread<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
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
