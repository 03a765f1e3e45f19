//! Published topic messages waiting for their delivery time, in publish
//! order (the queue alone: delivering them is `topics`).

use std::time::{Duration, Instant};

/// A published message waiting for its delivery time.
pub(crate) struct TopicMessage {
    pub topic: String,
    /// The Struct as canonical JSON (keys sorted, as the SDK reads it back).
    pub json: String,
    pub due_at: Instant,
}

/// Asks for the script thread to be woken after a delay (a timer on the
/// server's runtime), so a delayed message needs no polling.
pub(crate) type WakeAfter = Box<dyn Fn(Duration)>;

/// Messages published and not delivered yet, in publish order.
#[derive(Default)]
pub(crate) struct TopicQueue {
    messages: Vec<TopicMessage>,
    wake_after: Option<WakeAfter>,
}

impl TopicQueue {
    pub(crate) fn new(wake_after: Option<WakeAfter>) -> Self {
        Self {
            messages: Vec::new(),
            wake_after,
        }
    }

    pub(crate) fn publish(&mut self, topic: String, json: String, delay: Duration) {
        if !delay.is_zero()
            && let Some(wake_after) = &self.wake_after
        {
            wake_after(delay);
        }
        self.messages.push(TopicMessage {
            topic,
            json,
            due_at: Instant::now() + delay,
        });
    }

    /// Whether a message is due at `now` (the clock is read only when
    /// something waits: this is asked once per loop of the script thread).
    pub(crate) fn has_due(&self, now: impl FnOnce() -> Instant) -> bool {
        if self.messages.is_empty() {
            return false;
        }
        let now = now();
        self.messages.iter().any(|message| message.due_at <= now)
    }

    /// Takes the messages due now, in publish order.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<TopicMessage> {
        let (due, later) = std::mem::take(&mut self.messages)
            .into_iter()
            .partition(|message| message.due_at <= now);
        self.messages = later;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_wait_for_their_time_and_leave_in_publish_order() {
        let mut queue = TopicQueue::new(None);
        queue.publish("a".into(), "{}".into(), Duration::from_secs(60));
        queue.publish("b".into(), "{}".into(), Duration::ZERO);
        queue.publish("c".into(), "{}".into(), Duration::ZERO);
        let now = Instant::now();
        assert!(queue.has_due(|| now));
        let due: Vec<String> = queue.take_due(now).into_iter().map(|m| m.topic).collect();
        assert_eq!(due, ["b", "c"]);
        assert!(!queue.has_due(|| now));
        let later = now + Duration::from_secs(61);
        assert_eq!(queue.take_due(later).len(), 1);
    }
}
