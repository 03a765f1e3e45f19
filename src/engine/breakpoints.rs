//! Message breakpoints: rules that hold a matching frame before it is
//! delivered (to the handlers or a proxy's target, or to the client) until
//! someone forwards, edits or drops it, or a timeout decides. The frame is
//! held where the connection's own reader (in) or writer (out) is, so the
//! frames behind it on that connection wait too and order is kept; other
//! connections flow.
//!
//! With no rule set, the check on every frame is one atomic load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use crate::core::bus::EventBus;
use crate::core::events::{ConnectionId, Event, FrameDirection, HeldFrame, HoldDecision, Payload};
use crate::core::jsonpath::JsonPath;

/// What a rule looks for in a frame's payload.
#[derive(Clone, Debug)]
pub enum PayloadMatch {
    /// Every frame.
    Any,
    /// Text (or UTF-8 bytes) containing this.
    Contains(String),
    /// Text (or UTF-8 bytes) matching this.
    Regex(regex::Regex),
    /// A JSON payload where a path exists, or equals a value.
    Json(JsonMatch),
}

impl PayloadMatch {
    /// Builds the test a pattern describes, or says why it cannot.
    pub fn parse(pattern: &PayloadPattern) -> Result<Self, String> {
        Ok(match pattern {
            PayloadPattern::Any => PayloadMatch::Any,
            PayloadPattern::Contains(text) => PayloadMatch::Contains(text.clone()),
            PayloadPattern::Regex(source) => regex::Regex::new(source)
                .map(PayloadMatch::Regex)
                .map_err(|error| format!("not a regex: {error}"))?,
            PayloadPattern::JsonPath(expression) => {
                PayloadMatch::Json(JsonMatch::parse(expression)?)
            }
        })
    }

    /// The pattern this test was built from.
    pub fn pattern(&self) -> PayloadPattern {
        match self {
            PayloadMatch::Any => PayloadPattern::Any,
            PayloadMatch::Contains(text) => PayloadPattern::Contains(text.clone()),
            PayloadMatch::Regex(regex) => PayloadPattern::Regex(regex.as_str().to_owned()),
            PayloadMatch::Json(json) => PayloadPattern::JsonPath(json.expression.clone()),
        }
    }
}

/// A payload test as text, the way the window saves it between runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "pattern", rename_all = "snake_case")]
pub enum PayloadPattern {
    Any,
    Contains(String),
    Regex(String),
    /// `$.type` (the path exists) or `$.type == "chat"` (a match equals
    /// the JSON value on the right).
    JsonPath(String),
}

/// `$.path` or `$.path == <JSON value>`, tested on payloads that parse as JSON.
#[derive(Clone, Debug)]
pub struct JsonMatch {
    expression: String,
    path: JsonPath,
    equals: Option<serde_json::Value>,
}

impl JsonMatch {
    /// Parses `$.type`, `$.type == "chat"`, `$..id == 3`.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let expression = expression.trim();
        let (path, equals) = match expression.split_once("==") {
            Some((path, value)) => {
                let value = value.trim();
                let equals = serde_json::from_str(value).map_err(|_| {
                    format!(
                        "after == comes a JSON value (\"text\" in quotes, 3, true, null), not {value:?}"
                    )
                })?;
                (path.trim(), Some(equals))
            }
            None => (expression, None),
        };
        let path = JsonPath::parse(path).map_err(|error| error.to_string())?;
        Ok(Self {
            expression: expression.to_owned(),
            path,
            equals,
        })
    }

    fn matches(&self, payload: &[u8]) -> bool {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return false;
        };
        let found = self.path.select(&value);
        match &self.equals {
            None => !found.is_empty(),
            Some(wanted) => found.into_iter().any(|value| value == wanted),
        }
    }
}

/// Holds frames that go `direction` (either, if `None`) on `connection_id`
/// (any, if `None`) and whose payload matches.
#[derive(Clone, Debug)]
pub struct BreakpointRule {
    pub direction: Option<FrameDirection>,
    pub connection_id: Option<ConnectionId>,
    pub payload: PayloadMatch,
}

impl BreakpointRule {
    fn matches(
        &self,
        connection_id: ConnectionId,
        direction: FrameDirection,
        payload: &Payload,
    ) -> bool {
        if self.direction.is_some_and(|wanted| wanted != direction)
            || self
                .connection_id
                .is_some_and(|wanted| wanted != connection_id)
        {
            return false;
        }
        let text = || String::from_utf8_lossy(payload.as_bytes());
        match &self.payload {
            PayloadMatch::Any => true,
            PayloadMatch::Contains(needle) => text().contains(needle.as_str()),
            PayloadMatch::Regex(regex) => regex.is_match(&text()),
            PayloadMatch::Json(json) => json.matches(payload.as_bytes()),
        }
    }

    /// One line for the window and the log.
    pub fn summary(&self) -> String {
        let direction = self.direction.map_or("in and out", FrameDirection::label);
        let connection = self.connection_id.map_or_else(
            || "any connection".to_owned(),
            |id| format!("connection {id}"),
        );
        let payload = match &self.payload {
            PayloadMatch::Any => "every message".to_owned(),
            PayloadMatch::Contains(needle) => format!("containing {needle:?}"),
            PayloadMatch::Regex(regex) => format!("matching /{}/", regex.as_str()),
            PayloadMatch::Json(json) => format!("JSON where {}", json.expression),
        };
        format!("{direction}, {connection}, {payload}")
    }
}

/// What happens to a frame nobody decided on in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    #[default]
    Forward,
    Drop,
}

/// How long held frames wait, and what then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldSettings {
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
}

impl Default for HoldSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            on_timeout: OnTimeout::Forward,
        }
    }
}

/// Asked to decide on a frame that is not held.
#[derive(Debug, thiserror::Error)]
#[error("message #{0} is not held (already decided or timed out)")]
pub struct NotHeld(pub u64);

struct Held {
    frame: HeldFrame,
    decide: oneshot::Sender<HoldDecision>,
}

/// The rules and the frames they hold.
#[derive(Default)]
pub struct Breakpoints {
    is_active: AtomicBool,
    rules: RwLock<Arc<Vec<BreakpointRule>>>,
    settings: Mutex<HoldSettings>,
    held: Mutex<BTreeMap<u64, Held>>,
    next_hold_id: AtomicU64,
}

impl Breakpoints {
    /// Breakpoints with these rules in force.
    pub fn new(rules: Vec<BreakpointRule>, settings: HoldSettings) -> Self {
        let breakpoints = Self::default();
        breakpoints.set_rules(rules);
        breakpoints.set_settings(settings);
        breakpoints
    }

    /// Replaces the rules. Frames already held stay held.
    pub fn set_rules(&self, rules: Vec<BreakpointRule>) {
        self.is_active.store(!rules.is_empty(), Ordering::Release);
        *self.rules.write() = Arc::new(rules);
    }

    pub fn rules(&self) -> Vec<BreakpointRule> {
        self.rules.read().as_ref().clone()
    }

    pub fn set_settings(&self, settings: HoldSettings) {
        *self.settings.lock() = settings;
    }

    pub fn settings(&self) -> HoldSettings {
        *self.settings.lock()
    }

    /// Frames held now, oldest first.
    pub fn held(&self) -> Vec<HeldFrame> {
        self.held
            .lock()
            .values()
            .map(|held| held.frame.clone())
            .collect()
    }

    /// Decides on a held frame.
    pub fn resolve(&self, hold_id: u64, decision: HoldDecision) -> Result<(), NotHeld> {
        let held = self.held.lock().remove(&hold_id).ok_or(NotHeld(hold_id))?;
        held.decide.send(decision).map_err(|_| NotHeld(hold_id))
    }

    /// Forwards every held frame as it is.
    pub fn forward_all(&self) {
        let released = std::mem::take(&mut *self.held.lock());
        for held in released.into_values() {
            let _ = held.decide.send(HoldDecision::Forward);
        }
    }

    /// Whether a rule holds this frame.
    pub(crate) fn holds(
        &self,
        connection_id: ConnectionId,
        direction: FrameDirection,
        payload: &Payload,
    ) -> bool {
        if !self.is_active.load(Ordering::Acquire) {
            return false;
        }
        let rules = Arc::clone(&self.rules.read());
        rules
            .iter()
            .any(|rule| rule.matches(connection_id, direction, payload))
    }

    /// Holds a frame [`Breakpoints::holds`] matched until it is decided;
    /// returns what to deliver (`None`: nothing). A cancelled wait (the
    /// connection closing) drops the frame.
    pub(crate) async fn hold(
        &self,
        bus: &EventBus,
        connection_id: ConnectionId,
        direction: FrameDirection,
        payload: Payload,
    ) -> Option<Payload> {
        let settings = self.settings();
        let hold_id = self.next_hold_id.fetch_add(1, Ordering::AcqRel) + 1;
        let since = Utc::now();
        let frame = HeldFrame {
            hold_id,
            connection_id,
            direction,
            payload: payload.clone(),
            since,
            deadline: since
                + chrono::Duration::from_std(settings.timeout).unwrap_or(chrono::Duration::MAX),
        };
        let (decide, decision) = oneshot::channel();
        self.held.lock().insert(
            hold_id,
            Held {
                frame: frame.clone(),
                decide,
            },
        );
        bus.publish(Event::FrameHeld { held: frame });
        let mut release = Release {
            breakpoints: self,
            bus,
            hold_id,
            connection_id,
            is_done: false,
        };
        let (decision, is_timeout) = match tokio::time::timeout(settings.timeout, decision).await {
            Ok(Ok(decision)) => (decision, false),
            Ok(Err(_)) => (HoldDecision::Drop, false),
            Err(_) => {
                self.held.lock().remove(&hold_id);
                let decision = match settings.on_timeout {
                    OnTimeout::Forward => HoldDecision::Forward,
                    OnTimeout::Drop => HoldDecision::Drop,
                };
                (decision, true)
            }
        };
        release.report(decision.clone(), is_timeout);
        match decision {
            HoldDecision::Forward => Some(payload),
            HoldDecision::Edited(edited) => Some(edited),
            HoldDecision::Drop => None,
        }
    }
}

/// Reports a hold's end exactly once, also when its wait is cancelled.
struct Release<'a> {
    breakpoints: &'a Breakpoints,
    bus: &'a EventBus,
    hold_id: u64,
    connection_id: ConnectionId,
    is_done: bool,
}

impl Release<'_> {
    fn report(&mut self, decision: HoldDecision, is_timeout: bool) {
        self.is_done = true;
        self.bus.publish(Event::FrameReleased {
            hold_id: self.hold_id,
            connection_id: self.connection_id,
            decision,
            is_timeout,
            at: Utc::now(),
        });
    }
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if !self.is_done {
            self.breakpoints.held.lock().remove(&self.hold_id);
            self.report(HoldDecision::Drop, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> Payload {
        Payload::Text(value.into())
    }

    #[test]
    fn rules_match_on_direction_connection_and_payload() {
        let connection = ConnectionId::new_v4();
        let other = ConnectionId::new_v4();
        let rule = BreakpointRule {
            direction: Some(FrameDirection::In),
            connection_id: Some(connection),
            payload: PayloadMatch::Contains("secret".to_owned()),
        };
        assert!(rule.matches(connection, FrameDirection::In, &text("a secret")));
        assert!(!rule.matches(connection, FrameDirection::Out, &text("a secret")));
        assert!(!rule.matches(other, FrameDirection::In, &text("a secret")));
        assert!(!rule.matches(connection, FrameDirection::In, &text("nothing")));
        let regex = BreakpointRule {
            direction: None,
            connection_id: None,
            payload: PayloadMatch::Regex(regex::Regex::new(r#""type":\s*"buy""#).expect("a regex")),
        };
        assert!(regex.matches(other, FrameDirection::Out, &text(r#"{"type": "buy"}"#)));
        assert!(!regex.matches(other, FrameDirection::Out, &text(r#"{"type": "sell"}"#)));
    }

    #[test]
    fn json_path_rules_match_json_payloads_where_the_path_exists_or_equals() {
        let connection = ConnectionId::new_v4();
        let rule = |expression: &str| BreakpointRule {
            direction: None,
            connection_id: None,
            payload: PayloadMatch::parse(&PayloadPattern::JsonPath(expression.to_owned()))
                .expect("a valid expression"),
        };
        let matches = |rule: &BreakpointRule, payload: Payload| {
            rule.matches(connection, FrameDirection::In, &payload)
        };
        let chat = rule(r#"$.type == "chat""#);
        assert!(matches(&chat, text(r#"{"type": "chat", "text": "hi"}"#)));
        assert!(matches(
            &chat,
            Payload::Binary(br#"{"type":"chat"}"#.to_vec().into())
        ));
        assert!(!matches(&chat, text(r#"{"type": "join"}"#)));
        assert!(!matches(&chat, text(r#"type == "chat""#)), "not JSON");
        assert!(!matches(&chat, text(r#"{"type": ["chat"]}"#)));
        let has_user = rule("$.user.id");
        assert!(matches(&has_user, text(r#"{"user": {"id": 0}}"#)));
        assert!(matches(&has_user, text(r#"{"user": {"id": null}}"#)));
        assert!(!matches(&has_user, text(r#"{"user": {}}"#)));
        let any_three = rule("$..n == 3");
        assert!(matches(&any_three, text(r#"{"a": [{"n": 1}, {"n": 3}]}"#)));
        assert_eq!(
            chat.summary(),
            r#"in and out, any connection, JSON where $.type == "chat""#
        );

        for (bad, problem) in [
            ("type == \"chat\"", "starts with '$'"),
            ("$.type == chat", "after == comes a JSON value"),
            ("$.", "expected a member name"),
        ] {
            let error =
                PayloadMatch::parse(&PayloadPattern::JsonPath(bad.to_owned())).expect_err(bad);
            assert!(error.contains(problem), "{bad}: {error}");
        }
    }

    #[test]
    fn patterns_round_trip_through_their_saved_form() {
        for pattern in [
            PayloadPattern::Any,
            PayloadPattern::Contains("buy".to_owned()),
            PayloadPattern::Regex("^b.y$".to_owned()),
            PayloadPattern::JsonPath(r#"$.type == "chat""#.to_owned()),
        ] {
            let json = serde_json::to_string(&pattern).expect("serialise");
            let read: PayloadPattern = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(read, pattern);
            let built = PayloadMatch::parse(&read).expect("valid");
            assert_eq!(built.pattern(), pattern);
        }
    }

    #[tokio::test]
    async fn a_held_frame_waits_for_its_decision_or_the_timeout() {
        let bus = EventBus::new(16);
        let breakpoints = Arc::new(Breakpoints::default());
        breakpoints.set_rules(vec![BreakpointRule {
            direction: None,
            connection_id: None,
            payload: PayloadMatch::Any,
        }]);
        let connection = ConnectionId::new_v4();
        assert!(breakpoints.holds(connection, FrameDirection::In, &text("x")));
        let waiting = {
            let breakpoints = Arc::clone(&breakpoints);
            let bus = bus.clone();
            tokio::spawn(async move {
                breakpoints
                    .hold(&bus, connection, FrameDirection::In, text("original"))
                    .await
            })
        };
        while breakpoints.held().is_empty() {
            tokio::task::yield_now().await;
        }
        let hold_id = breakpoints.held()[0].hold_id;
        breakpoints
            .resolve(hold_id, HoldDecision::Edited(text("edited")))
            .expect("held");
        assert_eq!(waiting.await.expect("join"), Some(text("edited")));
        assert!(breakpoints.resolve(hold_id, HoldDecision::Drop).is_err());

        breakpoints.set_settings(HoldSettings {
            timeout: Duration::from_millis(1),
            on_timeout: OnTimeout::Drop,
        });
        let dropped = breakpoints
            .hold(&bus, connection, FrameDirection::Out, text("late"))
            .await;
        assert_eq!(dropped, None);
        assert!(breakpoints.held().is_empty());
        breakpoints.set_rules(Vec::new());
        assert!(!breakpoints.holds(connection, FrameDirection::In, &text("x")));
    }
}
