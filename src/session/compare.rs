//! Comparing what a replay got with what the session recorded: ignore
//! rules, connection-id mapping and the path of the first difference.

use regex::Regex;
use serde_json::Value;

use super::format::{Frame, IgnoreRule};
pub use super::ids::IdMap;
use crate::core::jsonpath::{JsonPath, JsonPathError};

/// What one connection saw, in order: the upgrade outcome, every message
/// from the server, and a close the server initiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Milliseconds since the session (or replay) start.
    pub t_ms: u64,
    /// What happened.
    pub kind: StepKind,
}

/// The kinds of [`Step`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// The server upgraded the connection.
    Accepted,
    /// The server refused the upgrade with this HTTP status.
    Rejected(u16),
    /// A message from the server.
    Recv(Frame),
    /// The server closed the connection (code, if a close frame came).
    Closed(Option<u16>),
}

impl StepKind {
    /// How the step reads in a report.
    pub fn display(&self) -> String {
        match self {
            StepKind::Accepted => "accepted".to_owned(),
            StepKind::Rejected(status) => format!("rejected with HTTP {status}"),
            StepKind::Recv(frame) => frame.display(),
            StepKind::Closed(Some(code)) => format!("closed by the server with {code}"),
            StepKind::Closed(None) => "closed by the server without a close frame".to_owned(),
        }
    }
}

/// Why an ignore rule is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A JSON path rule did not parse.
    #[error("ignore rule: {0}")]
    Path(JsonPathError),
    /// A regex rule did not compile.
    #[error("ignore rule {{\"regex\": {pattern:?}}}: {reason}")]
    Regex {
        pattern: String,
        reason: regex::Error,
    },
}

// By hand, not `#[from]`: that would also mark the error as the source,
// and a chain printed with `{:#}` would then say it twice.
impl From<JsonPathError> for RuleError {
    fn from(error: JsonPathError) -> Self {
        RuleError::Path(error)
    }
}

/// Compiled ignore rules.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    paths: Vec<JsonPath>,
    regexes: Vec<Regex>,
}

/// What replaces a regex match on both sides.
const IGNORED: &str = "<ignored>";

impl IgnoreRules {
    /// Compiles the rules of a session header.
    pub fn compile(rules: &[IgnoreRule]) -> Result<Self, RuleError> {
        let mut compiled = Self::default();
        for rule in rules {
            match rule {
                IgnoreRule::Path(path) => compiled.paths.push(JsonPath::parse(path)?),
                IgnoreRule::Regex { regex } => {
                    compiled.regexes.push(Regex::new(regex).map_err(|reason| {
                        RuleError::Regex {
                            pattern: regex.clone(),
                            reason,
                        }
                    })?);
                }
            }
        }
        Ok(compiled)
    }

    fn apply_regexes(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for regex in &self.regexes {
            text = regex.replace_all(&text, IGNORED).into_owned();
        }
        text
    }

    fn apply_paths(&self, value: &mut Value) {
        for path in &self.paths {
            path.remove_matches(value);
        }
    }
}

/// How two messages differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameMismatch {
    /// Where in the JSON they differ (`$.items[2].name`), for JSON messages.
    pub json_path: Option<String>,
    /// In words.
    pub detail: String,
}

/// Compares one expected message with one actual message.
///
/// Text that parses as JSON on both sides is compared as JSON (key order and
/// number spelling do not matter); other text exactly; binary bytewise.
pub fn compare_frames(
    expected: &Frame,
    actual: &Frame,
    rules: &IgnoreRules,
    ids: &mut IdMap,
) -> Result<(), FrameMismatch> {
    match (expected, actual) {
        (Frame::Binary(expected), Frame::Binary(actual)) => {
            if expected == actual {
                return Ok(());
            }
            let at = expected
                .iter()
                .zip(actual.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.len().min(actual.len()));
            Err(FrameMismatch {
                json_path: None,
                detail: format!(
                    "binary differs at byte {at} ({} vs {} bytes)",
                    expected.len(),
                    actual.len()
                ),
            })
        }
        (Frame::Text(expected), Frame::Text(actual)) => {
            let expected = rules.apply_regexes(expected);
            let actual = rules.apply_regexes(actual);
            if let (Ok(mut expected_json), Ok(mut actual_json)) = (
                serde_json::from_str::<Value>(&expected),
                serde_json::from_str::<Value>(&actual),
            ) {
                rules.apply_paths(&mut expected_json);
                rules.apply_paths(&mut actual_json);
                let mut path = String::from("$");
                return compare_json(&expected_json, &actual_json, &mut path, ids).map_err(
                    |detail| FrameMismatch {
                        json_path: Some(path),
                        detail,
                    },
                );
            }
            if ids.strings_match(&expected, &actual) {
                Ok(())
            } else {
                Err(FrameMismatch {
                    json_path: None,
                    detail: "text differs".to_owned(),
                })
            }
        }
        (expected, actual) => Err(FrameMismatch {
            json_path: None,
            detail: format!(
                "expected a {} frame, got {}",
                expected.kind(),
                actual.kind()
            ),
        }),
    }
}

/// Compares JSON values; on a difference `path` is left pointing at it.
fn compare_json(
    expected: &Value,
    actual: &Value,
    path: &mut String,
    ids: &mut IdMap,
) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            let mut keys: Vec<&String> = expected.keys().chain(actual.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let length = path.len();
                push_member(path, key);
                match (expected.get(key), actual.get(key)) {
                    (Some(expected), Some(actual)) => compare_json(expected, actual, path, ids)?,
                    (Some(expected), None) => {
                        return Err(format!("missing member (expected {})", short(expected)));
                    }
                    (None, Some(actual)) => {
                        return Err(format!("unexpected member (actual {})", short(actual)));
                    }
                    (None, None) => {}
                }
                path.truncate(length);
            }
            Ok(())
        }
        (Value::Array(expected), Value::Array(actual)) => {
            for index in 0..expected.len().max(actual.len()) {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                match (expected.get(index), actual.get(index)) {
                    (Some(expected), Some(actual)) => compare_json(expected, actual, path, ids)?,
                    (Some(expected), None) => {
                        return Err(format!("missing element (expected {})", short(expected)));
                    }
                    (None, Some(actual)) => {
                        return Err(format!("unexpected element (actual {})", short(actual)));
                    }
                    (None, None) => {}
                }
                path.truncate(length);
            }
            Ok(())
        }
        (Value::String(expected), Value::String(actual)) if ids.strings_match(expected, actual) => {
            Ok(())
        }
        (Value::Number(expected), Value::Number(actual))
            if expected == actual || expected.as_f64() == actual.as_f64() =>
        {
            Ok(())
        }
        (expected, actual) if expected == actual => Ok(()),
        (expected, actual) => Err(format!(
            "expected {}, actual {}",
            short(expected),
            short(actual)
        )),
    }
}

fn push_member(path: &mut String, key: &str) {
    let is_plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if is_plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str(&format!("[{}]", Value::String(key.to_owned())));
    }
}

/// A value shortened for one report line.
pub fn short(value: &Value) -> String {
    shorten(&value.to_string(), 120)
}

/// `text` cut to `max_chars` characters with an ellipsis.
pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(text: &str) -> Frame {
        Frame::Text(text.to_owned())
    }

    fn compare(expected: &str, actual: &str, rules: &[IgnoreRule]) -> Result<(), FrameMismatch> {
        let rules = IgnoreRules::compile(rules).expect("rules");
        compare_frames(
            &text(expected),
            &text(actual),
            &rules,
            &mut IdMap::default(),
        )
    }

    #[test]
    fn json_is_compared_as_json_and_names_the_path() {
        assert!(compare(r#"{"a":1,"b":[1,2.0]}"#, r#"{ "b":[1,2], "a":1.0 }"#, &[]).is_ok());
        let mismatch = compare(
            r#"{"items":[{"n":"x"},{"n":"y"}]}"#,
            r#"{"items":[{"n":"x"},{"n":"z"}]}"#,
            &[],
        )
        .expect_err("differs");
        assert_eq!(mismatch.json_path.as_deref(), Some("$.items[1].n"));
        assert_eq!(mismatch.detail, r#"expected "y", actual "z""#);
        let mismatch = compare(r#"{"a":1}"#, r#"{"a":1,"my key":2}"#, &[]).expect_err("extra");
        assert_eq!(mismatch.json_path.as_deref(), Some(r#"$["my key"]"#));
    }

    #[test]
    fn ignore_rules_hide_volatile_values() {
        let expected = r#"{"at":"2026-01-01T00:00:00Z","n":1,"meta":{"timestamp":5}}"#;
        let actual = r#"{"at":"2026-11-27T10:11:12Z","n":1,"meta":{"timestamp":6}}"#;
        assert!(compare(expected, actual, &[]).is_err());
        assert!(compare(expected, actual, &[IgnoreRule::Path("$..timestamp".into())]).is_err());
        let rules = [
            IgnoreRule::Path("$..timestamp".into()),
            IgnoreRule::Regex {
                regex: r"\d{4}-\d\d-\d\dT[0-9:]+Z".into(),
            },
        ];
        assert!(compare(expected, actual, &rules).is_ok());
        assert!(
            compare(
                "took 15 ms",
                "took 9 ms",
                &[IgnoreRule::Regex {
                    regex: r"\d+ ms".into()
                }]
            )
            .is_ok()
        );
    }

    #[test]
    fn recorded_ids_map_to_new_ids_consistently() {
        let rules = IgnoreRules::default();
        let mut ids = IdMap::new(["old-1".to_owned(), "old-2".to_owned()]);
        let mut check = |expected: &str, actual: &str| {
            compare_frames(&text(expected), &text(actual), &rules, &mut ids).is_ok()
        };
        assert!(check(r#"{"you":"old-1"}"#, r#"{"you":"new-a"}"#));
        assert!(check("hello old-2 from old-1", "hello new-b from new-a"));
        assert!(!check(r#"{"you":"old-1"}"#, r#"{"you":"new-b"}"#));
        assert!(!check("old-2", "new-c"));
        assert_eq!(
            ids.mappings(),
            vec![
                ("old-1".to_owned(), "new-a".to_owned()),
                ("old-2".to_owned(), "new-b".to_owned())
            ]
        );
    }

    #[test]
    fn binary_and_kind_mismatches() {
        let rules = IgnoreRules::default();
        let mut ids = IdMap::default();
        let mismatch = compare_frames(
            &Frame::Binary(vec![1, 2, 3]),
            &Frame::Binary(vec![1, 9, 3]),
            &rules,
            &mut ids,
        )
        .expect_err("differs");
        assert!(mismatch.detail.contains("byte 1"), "{}", mismatch.detail);
        assert!(
            compare_frames(&text("a"), &Frame::Binary(b"a".to_vec()), &rules, &mut ids).is_err()
        );
    }

    #[test]
    fn bad_rules_are_errors() {
        let error = IgnoreRules::compile(&[IgnoreRule::Regex { regex: "(".into() }])
            .expect_err("bad regex");
        assert!(error.to_string().contains("ignore rule"), "{error}");
        assert!(IgnoreRules::compile(&[IgnoreRule::Path("ts".into())]).is_err());
    }
}
