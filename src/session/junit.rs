//! JUnit XML for CI systems: one test case per replayed session.

use std::fmt::Write as _;

/// How one session's replay ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JunitOutcome {
    /// No divergence.
    Passed,
    /// Replayed, but the server answered differently.
    Failed {
        /// One line: the first divergence.
        message: String,
        /// Everything worth reading.
        detail: String,
    },
    /// Could not be replayed (unreadable file, unreachable server).
    Error {
        /// One line: why.
        message: String,
    },
}

/// One `<testcase>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JunitCase {
    /// The session file.
    pub name: String,
    /// Replay wall time.
    pub time_ms: u64,
    /// Result.
    pub outcome: JunitOutcome,
}

/// A `<testsuites>` document with one suite named `suite`.
pub fn junit_xml(suite: &str, cases: &[JunitCase]) -> String {
    let failures = cases
        .iter()
        .filter(|case| matches!(case.outcome, JunitOutcome::Failed { .. }))
        .count();
    let errors = cases
        .iter()
        .filter(|case| matches!(case.outcome, JunitOutcome::Error { .. }))
        .count();
    let total_ms: u64 = cases.iter().map(|case| case.time_ms).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">",
        cases.len(),
        seconds(total_ms)
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">",
        escape(suite),
        cases.len(),
        seconds(total_ms)
    );
    for case in cases {
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            escape(suite),
            escape(&case.name),
            seconds(case.time_ms)
        );
        match &case.outcome {
            JunitOutcome::Passed => xml.push_str("/>\n"),
            JunitOutcome::Failed { message, detail } => {
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                    escape(message),
                    escape(detail)
                );
            }
            JunitOutcome::Error { message } => {
                let _ = writeln!(
                    xml,
                    ">\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>",
                    escape(message),
                    escape(message)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Escapes text for XML attributes and content. Characters XML 1.0 cannot
/// hold at all (most control characters) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"c\"'\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;\u{fffd}"
        );
    }

    #[test]
    fn counts_failures_and_errors() {
        let xml = junit_xml(
            "replay",
            &[
                JunitCase {
                    name: "a.jsonl".into(),
                    time_ms: 1500,
                    outcome: JunitOutcome::Passed,
                },
                JunitCase {
                    name: "b.jsonl".into(),
                    time_ms: 2,
                    outcome: JunitOutcome::Failed {
                        message: "c1 <x>".into(),
                        detail: "d".into(),
                    },
                },
            ],
        );
        assert!(
            xml.contains("tests=\"2\" failures=\"1\" errors=\"0\" time=\"1.502\""),
            "{xml}"
        );
        assert!(xml.contains("message=\"c1 &lt;x&gt;\""), "{xml}");
    }
}
