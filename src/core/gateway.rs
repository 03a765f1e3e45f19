//! What `nitric start`'s websocket gateway does to frames on their way to a
//! client, shared by both lanes so they answer alike.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::events::Payload;

/// What `nitric start` sends in place of data that is not UTF-8: its
/// gateway writes text frames only.
pub const BINARY_REPLACEMENT: &str = "Binary messages are not currently supported by AWS";

/// Bytes as the text frame `nitric start` writes for them.
pub fn text_frame(bytes: Bytes) -> Utf8Bytes {
    Utf8Bytes::try_from(bytes).unwrap_or_else(|_| Utf8Bytes::from_static(BINARY_REPLACEMENT))
}

/// What `nitric start` logs when a message is published to a topic nobody
/// subscribes to (the publish itself succeeds).
pub fn topic_without_subscribers(topic: &str) -> String {
    format!("topic '{topic}' has no subscribers")
}

/// How frames a handler sends reach the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutgoingFrames {
    /// `--binary-frames`: bytes go out as binary frames, not as the text
    /// frames `nitric start` writes.
    pub binary: bool,
}

impl OutgoingFrames {
    /// The frame the client gets for `payload`.
    pub fn frame(self, payload: Payload) -> Payload {
        match payload {
            Payload::Binary(bytes) if !self.binary => Payload::Text(text_frame(bytes)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_become_text_frames_unless_binary_frames_are_asked_for() {
        let gateway = OutgoingFrames::default();
        assert_eq!(
            gateway.frame(Payload::Binary(Bytes::from_static(b"hi"))),
            Payload::Text("hi".into())
        );
        assert_eq!(
            gateway.frame(Payload::Binary(Bytes::from_static(&[0xff, 0]))),
            Payload::Text(BINARY_REPLACEMENT.into())
        );
        let binary = OutgoingFrames { binary: true };
        assert_eq!(
            binary.frame(Payload::Binary(Bytes::from_static(&[0xff]))),
            Payload::Binary(Bytes::from_static(&[0xff]))
        );
    }
}
