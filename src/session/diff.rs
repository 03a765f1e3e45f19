//! The first divergence between what each connection was expected to see and
//! what it saw.

use super::compare::{IdMap, IgnoreRules, Step, StepKind, compare_frames, shorten};

/// Where a replay first differed from the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Connection label from the session file (`c1`, …).
    pub conn: String,
    /// Index into that connection's expected/actual step lists.
    pub step_index: usize,
    /// Index among the connection's messages from the server (0-based), when
    /// the differing step is a message.
    pub message_index: Option<usize>,
    /// What the recording has there (`None`: the replay got something extra).
    pub expected: Option<String>,
    /// What the replay got there (`None`: nothing arrived).
    pub actual: Option<String>,
    /// Where inside the JSON the two differ, for JSON messages.
    pub json_path: Option<String>,
    /// The difference in words.
    pub detail: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.message_index {
            Some(index) => write!(f, "{} message {index}", self.conn)?,
            None => write!(f, "{} step {}", self.conn, self.step_index)?,
        }
        let shown = |side: &Option<String>| match side {
            Some(text) => shorten(text, 200),
            None => "(nothing)".to_owned(),
        };
        write!(
            f,
            ": expected {}, actual {}",
            shown(&self.expected),
            shown(&self.actual)
        )?;
        match &self.json_path {
            Some(path) => write!(f, " (at {path}: {})", self.detail),
            None => write!(f, " ({})", self.detail),
        }
    }
}

/// One connection's two step lists.
pub struct StepPair<'a> {
    /// Connection label.
    pub label: &'a str,
    /// From the session.
    pub expected: &'a [Step],
    /// From the replay.
    pub actual: &'a [Step],
}

/// Compares every connection in recorded-time order (so id mappings are
/// learned where they first appeared) and returns each connection's first
/// divergence plus the index of the connection that diverged first.
pub fn find_divergences(
    pairs: &[StepPair<'_>],
    rules: &IgnoreRules,
    ids: &mut IdMap,
) -> (Vec<Option<Divergence>>, Option<usize>) {
    let mut order: Vec<(u64, usize, usize)> = pairs
        .iter()
        .enumerate()
        .flat_map(|(conn, pair)| {
            pair.expected
                .iter()
                .enumerate()
                .map(move |(step, expected)| (expected.t_ms, conn, step))
        })
        .collect();
    order.sort();
    let mut divergences: Vec<Option<Divergence>> = vec![None; pairs.len()];
    let mut first = None;
    for (_, conn, step) in order {
        if divergences[conn].is_some() {
            continue;
        }
        let pair = &pairs[conn];
        let expected = &pair.expected[step];
        let divergence = match pair.actual.get(step) {
            None => Some(divergence(
                pair,
                step,
                Some(expected),
                None,
                None,
                "missing: nothing more arrived".into(),
            )),
            Some(actual) => compare_step(pair, step, expected, actual, rules, ids),
        };
        if divergence.is_some() {
            first.get_or_insert(conn);
            divergences[conn] = divergence;
        }
    }
    for (conn, pair) in pairs.iter().enumerate() {
        if divergences[conn].is_none() && pair.actual.len() > pair.expected.len() {
            let step = pair.expected.len();
            let extra = &pair.actual[step];
            divergences[conn] = Some(divergence(
                pair,
                step,
                None,
                Some(extra),
                None,
                "unexpected: not in the recording".into(),
            ));
            first.get_or_insert(conn);
        }
    }
    (divergences, first)
}

fn compare_step(
    pair: &StepPair<'_>,
    step: usize,
    expected: &Step,
    actual: &Step,
    rules: &IgnoreRules,
    ids: &mut IdMap,
) -> Option<Divergence> {
    let mismatch = match (&expected.kind, &actual.kind) {
        (StepKind::Accepted, StepKind::Accepted) => None,
        (StepKind::Rejected(a), StepKind::Rejected(b)) if a == b => None,
        (StepKind::Closed(a), StepKind::Closed(b)) if a == b => None,
        (StepKind::Recv(expected_frame), StepKind::Recv(actual_frame)) => {
            compare_frames(expected_frame, actual_frame, rules, ids)
                .err()
                .map(|mismatch| (mismatch.json_path, mismatch.detail))
        }
        _ => Some((None, "a different kind of event".to_owned())),
    };
    let (json_path, detail) = mismatch?;
    Some(divergence(
        pair,
        step,
        Some(expected),
        Some(actual),
        json_path,
        detail,
    ))
}

fn divergence(
    pair: &StepPair<'_>,
    step: usize,
    expected: Option<&Step>,
    actual: Option<&Step>,
    json_path: Option<String>,
    detail: String,
) -> Divergence {
    let message_index = |steps: &[Step]| {
        matches!(steps.get(step)?.kind, StepKind::Recv(_)).then(|| {
            steps[..step]
                .iter()
                .filter(|step| matches!(step.kind, StepKind::Recv(_)))
                .count()
        })
    };
    Divergence {
        conn: pair.label.to_owned(),
        step_index: step,
        message_index: message_index(pair.expected).or_else(|| message_index(pair.actual)),
        expected: expected.map(|step| step.kind.display()),
        actual: actual.map(|step| step.kind.display()),
        json_path,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::format::Frame;

    fn recv(t_ms: u64, text: &str) -> Step {
        Step {
            t_ms,
            kind: StepKind::Recv(Frame::Text(text.to_owned())),
        }
    }

    fn accepted(t_ms: u64) -> Step {
        Step {
            t_ms,
            kind: StepKind::Accepted,
        }
    }

    #[test]
    fn the_earliest_divergence_in_recorded_time_wins() {
        let c1_expected = [accepted(0), recv(50, r#"{"n":1}"#)];
        let c1_actual = [accepted(0), recv(5, r#"{"n":2}"#)];
        let c2_expected = [accepted(1), recv(10, "a"), recv(20, "b")];
        let c2_actual = [accepted(1), recv(10, "a")];
        let pairs = [
            StepPair {
                label: "c1",
                expected: &c1_expected,
                actual: &c1_actual,
            },
            StepPair {
                label: "c2",
                expected: &c2_expected,
                actual: &c2_actual,
            },
        ];
        let (divergences, first) =
            find_divergences(&pairs, &IgnoreRules::default(), &mut IdMap::default());
        assert_eq!(first, Some(1));
        let c2 = divergences[1].clone().expect("c2 diverged");
        assert_eq!(
            (c2.message_index, c2.expected.as_deref(), c2.actual),
            (Some(1), Some("b"), None)
        );
        let c1 = divergences[0].clone().expect("c1 diverged");
        assert_eq!(c1.json_path.as_deref(), Some("$.n"));
        assert_eq!(
            c1.to_string(),
            r#"c1 message 0: expected {"n":1}, actual {"n":2} (at $.n: expected 1, actual 2)"#
        );
    }

    #[test]
    fn extra_messages_are_divergences() {
        let expected = [accepted(0)];
        let actual = [accepted(0), recv(3, "surprise")];
        let pairs = [StepPair {
            label: "c1",
            expected: &expected,
            actual: &actual,
        }];
        let (divergences, first) =
            find_divergences(&pairs, &IgnoreRules::default(), &mut IdMap::default());
        assert_eq!(first, Some(0));
        let extra = divergences[0].clone().expect("extra");
        assert_eq!(
            (extra.expected, extra.actual.as_deref()),
            (None, Some("surprise"))
        );
    }
}
