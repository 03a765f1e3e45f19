//! Connection-id mapping: recorded server ids inside messages match the ids
//! the replay server hands out instead.

use std::collections::{HashMap, HashSet};

use regex::Regex;

/// Recorded server connection ids and the ids the replay server gave out
/// instead. A recorded id inside an expected message matches any id-like
/// token in the actual message the first time; after that it must be the same.
#[derive(Clone, Debug, Default)]
pub struct IdMap {
    recorded: Vec<String>,
    mapped: HashMap<String, String>,
    taken: HashSet<String>,
}

impl IdMap {
    /// Ids from the session's `accepted` lines.
    pub fn new(recorded_ids: impl IntoIterator<Item = String>) -> Self {
        let mut recorded: Vec<String> = recorded_ids
            .into_iter()
            .filter(|id| !id.is_empty())
            .collect();
        // Longest first, so an id that contains another is replaced whole.
        recorded.sort_by_key(|id| std::cmp::Reverse(id.len()));
        recorded.dedup();
        Self {
            recorded,
            ..Self::default()
        }
    }

    /// Recorded id → replay id, as learned so far (sorted by recorded id).
    pub fn mappings(&self) -> Vec<(String, String)> {
        let mut mappings: Vec<_> = self
            .mapped
            .iter()
            .map(|(recorded, actual)| (recorded.clone(), actual.clone()))
            .collect();
        mappings.sort();
        mappings
    }

    /// Whether `expected` equals `actual` once recorded ids are mapped;
    /// learns new mappings when the whole string matches.
    pub(super) fn strings_match(&mut self, expected: &str, actual: &str) -> bool {
        if expected == actual {
            return true;
        }
        // Split `expected` into literal text and recorded ids.
        let mut pattern = String::from("^");
        let mut unbound = Vec::new();
        let mut rest = expected;
        let mut has_id = false;
        while !rest.is_empty() {
            // The earliest recorded id in what is left; the longest on a tie.
            let earliest = self
                .recorded
                .iter()
                .filter_map(|id| rest.find(id.as_str()).map(|at| (at, id)))
                .min_by_key(|(at, id)| (*at, std::cmp::Reverse(id.len())));
            let Some((at, id)) = earliest else {
                pattern.push_str(&regex::escape(rest));
                break;
            };
            pattern.push_str(&regex::escape(&rest[..at]));
            match self.mapped.get(id) {
                Some(actual_id) => pattern.push_str(&regex::escape(actual_id)),
                None => {
                    pattern.push_str("([0-9A-Za-z_-]+)");
                    unbound.push(id.clone());
                }
            }
            has_id = true;
            rest = &rest[at + id.len()..];
        }
        if !has_id {
            return false;
        }
        pattern.push('$');
        let Ok(regex) = Regex::new(&pattern) else {
            return false;
        };
        let Some(captures) = regex.captures(actual) else {
            return false;
        };
        let mut learned: HashMap<String, String> = HashMap::new();
        for (index, recorded) in unbound.iter().enumerate() {
            let Some(value) = captures.get(index + 1) else {
                return false;
            };
            let value = value.as_str().to_owned();
            if let Some(previous) = learned.get(recorded) {
                if *previous != value {
                    return false;
                }
            } else if self.taken.contains(&value) || learned.values().any(|v| *v == value) {
                return false;
            }
            learned.insert(recorded.clone(), value);
        }
        for (recorded, actual_id) in learned {
            self.taken.insert(actual_id.clone());
            self.mapped.insert(recorded, actual_id);
        }
        true
    }
}
