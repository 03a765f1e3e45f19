//! One connection's replay as rows of a side-by-side diff: every row that
//! differs is marked, not only the first divergence the report names, and
//! each row carries the numbering the report's summary uses.

use crate::session::compare::{IgnoreRules, Step, StepKind, compare_frames};
use crate::session::ids::IdMap;
use crate::session::replay::ConnectionReport;

/// One row: the recorded step and the replayed step at the same index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffRow {
    /// Index into the connection's steps (the report's `step N`).
    pub step_index: usize,
    /// Index among the server's messages (the report's `message N`), when
    /// this row is a message on either side.
    pub message_index: Option<usize>,
    /// The recorded step in words; `None` when the recording has no more.
    pub expected: Option<String>,
    /// The replayed step in words; `None` when nothing more arrived.
    pub actual: Option<String>,
    pub differs: bool,
}

/// The rows of `connection`, compared with the session's ignore rules and
/// recorded ids mapped as the replay maps them.
pub fn diff_rows(
    connection: &ConnectionReport,
    rules: &IgnoreRules,
    ids: &mut IdMap,
) -> Vec<DiffRow> {
    let first_divergence = connection
        .divergence
        .as_ref()
        .map(|divergence| divergence.step_index);
    let mut expected_messages = 0;
    let mut actual_messages = 0;
    let rows = connection.expected.len().max(connection.actual.len());
    (0..rows)
        .map(|step_index| {
            let expected = connection.expected.get(step_index);
            let actual = connection.actual.get(step_index);
            // The report counts messages on the recorded side; past its end
            // the replay's own count continues the numbering.
            let message_index = match (expected, actual) {
                (Some(step), _) if is_message(step) => Some(expected_messages),
                (None, Some(step)) if is_message(step) => Some(actual_messages),
                _ => None,
            };
            expected_messages += expected.is_some_and(is_message) as usize;
            actual_messages += actual.is_some_and(is_message) as usize;
            let differs = first_divergence == Some(step_index)
                || match (expected, actual) {
                    (Some(expected), Some(actual)) => !steps_match(expected, actual, rules, ids),
                    _ => true,
                };
            DiffRow {
                step_index,
                message_index,
                expected: expected.map(|step| step.kind.display()),
                actual: actual.map(|step| step.kind.display()),
                differs,
            }
        })
        .collect()
}

fn is_message(step: &Step) -> bool {
    matches!(step.kind, StepKind::Recv(_))
}

fn steps_match(expected: &Step, actual: &Step, rules: &IgnoreRules, ids: &mut IdMap) -> bool {
    match (&expected.kind, &actual.kind) {
        (StepKind::Recv(expected), StepKind::Recv(actual)) => {
            compare_frames(expected, actual, rules, ids).is_ok()
        }
        (expected, actual) => expected == actual,
    }
}

/// The differing row after (`forward`) or before `from`, wrapping around;
/// the first differing row when nothing is selected.
pub fn next_difference(rows: &[DiffRow], from: Option<usize>, forward: bool) -> Option<usize> {
    let differing: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, row)| row.differs)
        .map(|(index, _)| index)
        .collect();
    let first = *differing.first()?;
    let last = *differing.last()?;
    let Some(from) = from else {
        return Some(if forward { first } else { last });
    };
    if forward {
        Some(
            differing
                .into_iter()
                .find(|index| *index > from)
                .unwrap_or(first),
        )
    } else {
        Some(
            differing
                .into_iter()
                .rev()
                .find(|index| *index < from)
                .unwrap_or(last),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::format::Frame;

    fn recv(text: &str) -> Step {
        Step {
            t_ms: 0,
            kind: StepKind::Recv(Frame::Text(text.to_owned())),
        }
    }

    fn report(expected: Vec<Step>, actual: Vec<Step>) -> ConnectionReport {
        ConnectionReport {
            label: "c1".to_owned(),
            path_and_query: "/".to_owned(),
            expected,
            actual,
            divergence: None,
        }
    }

    #[test]
    fn every_differing_row_is_marked_and_numbered_as_the_summary_numbers_messages() {
        let accepted = Step {
            t_ms: 0,
            kind: StepKind::Accepted,
        };
        let connection = report(
            vec![
                accepted.clone(),
                recv("a"),
                recv(r#"{"n":1,"m":2}"#),
                recv("c"),
            ],
            vec![
                accepted,
                recv("x"),
                recv(r#"{"m":2,"n":1}"#),
                recv("y"),
                recv("extra"),
            ],
        );
        let rows = diff_rows(&connection, &IgnoreRules::default(), &mut IdMap::default());
        let differs: Vec<bool> = rows.iter().map(|row| row.differs).collect();
        assert_eq!(differs, [false, true, false, true, true]);
        let messages: Vec<Option<usize>> = rows.iter().map(|row| row.message_index).collect();
        assert_eq!(messages, [None, Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(rows[4].expected, None);
        assert_eq!(next_difference(&rows, None, true), Some(1));
        assert_eq!(next_difference(&rows, Some(1), true), Some(3));
        assert_eq!(next_difference(&rows, Some(4), true), Some(1), "wraps");
        assert_eq!(
            next_difference(&rows, Some(1), false),
            Some(4),
            "wraps back"
        );
    }
}
