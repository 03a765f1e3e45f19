//! Exports a session as an Artillery load-test script (`engine: ws`).
//!
//! Every accepted connection becomes a scenario: a `connect` step with its
//! path and query, then its `send`s with `think` pauses of the recorded gaps.
//! The YAML uses JSON-quoted strings, so any message text survives.

use std::fmt::Write as _;

use super::format::{Frame, Session, SessionEvent};
use crate::core::query::path_and_query;

/// The Artillery script for `session` against `target` (`ws://host:port`).
pub fn artillery_yaml(session: &Session, target: &str) -> String {
    let target = target.trim_end_matches('/');
    let quote = |text: &str| serde_json::Value::String(text.to_owned()).to_string();
    let mut scenarios = String::new();
    let mut count = 0;
    for label in session.connection_labels() {
        let lines: Vec<_> = session
            .lines
            .iter()
            .filter(|line| line.conn == label)
            .collect();
        if lines
            .iter()
            .any(|line| matches!(line.event, SessionEvent::Rejected { .. }))
        {
            let _ = writeln!(
                scenarios,
                "  # {label}: refused when recorded, not exported"
            );
            continue;
        }
        count += 1;
        let _ = writeln!(scenarios, "  - name: {}", quote(&label));
        scenarios.push_str("    engine: ws\n    flow:\n");
        let mut last_t = 0;
        for line in lines {
            match &line.event {
                SessionEvent::Connect { path, query } => {
                    let url = format!("{target}{}", path_and_query(path, query));
                    let _ = writeln!(scenarios, "      - connect: {}", quote(&url));
                    last_t = line.t;
                }
                SessionEvent::Send(frame) => {
                    let gap_ms = line.t.saturating_sub(last_t);
                    last_t = line.t;
                    if gap_ms > 0 {
                        let _ = writeln!(scenarios, "      - think: {}", gap_ms as f64 / 1000.0);
                    }
                    match frame {
                        Frame::Text(text) => {
                            let _ = writeln!(scenarios, "      - send: {}", quote(text));
                        }
                        Frame::Binary(bytes) => {
                            let _ = writeln!(
                                scenarios,
                                "      # binary frame of {} bytes: Artillery's ws engine sends text only",
                                bytes.len()
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut yaml = format!(
        "# Artillery script exported by sockscope from {}.\n\
         # Each virtual user runs one scenario (one recorded connection).\n\
         config:\n  target: {}\n  phases:\n    - duration: 1\n      arrivalCount: {}\n",
        session.name(),
        quote(target),
        count.max(1)
    );
    yaml.push_str("scenarios:\n");
    yaml.push_str(&scenarios);
    yaml
}
