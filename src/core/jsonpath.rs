//! The small JSON-path subset that replay's ignore rules and message
//! breakpoints use: `$`, `.name`, `['name']`, `..name` (any depth), `[n]`,
//! `[*]` and `.*`.

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// `.name` or `['name']`: a member of an object.
    Child(String),
    /// `..name`: a member named so at any depth.
    Descendant(String),
    /// `[n]`: an array element.
    Index(usize),
    /// `[*]` or `.*`: every member or element.
    Wildcard,
}

/// A parsed JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    source: String,
    segments: Vec<Segment>,
}

/// Why a path did not parse.
#[derive(Debug, thiserror::Error)]
#[error("JSON path {path:?}: {problem} at character {position}")]
pub struct JsonPathError {
    /// The path as written.
    pub path: String,
    /// 0-based character position of the problem.
    pub position: usize,
    /// What is wrong.
    pub problem: &'static str,
}

impl JsonPath {
    /// Parses a path such as `$..timestamp` or `$.items[*].id`.
    pub fn parse(path: &str) -> Result<Self, JsonPathError> {
        let chars: Vec<char> = path.chars().collect();
        let error = |position: usize, problem: &'static str| JsonPathError {
            path: path.to_owned(),
            position,
            problem,
        };
        if chars.first() != Some(&'$') {
            return Err(error(0, "a path starts with '$'"));
        }
        let mut segments = Vec::new();
        let mut position = 1;
        while position < chars.len() {
            match chars[position] {
                '.' if chars.get(position + 1) == Some(&'.') => {
                    let (name, end) = read_name(&chars, position + 2);
                    if name.is_empty() {
                        return Err(error(position + 2, "expected a member name after '..'"));
                    }
                    segments.push(Segment::Descendant(name));
                    position = end;
                }
                '.' => {
                    let (name, end) = read_name(&chars, position + 1);
                    match name.as_str() {
                        "" => return Err(error(position + 1, "expected a member name after '.'")),
                        "*" => segments.push(Segment::Wildcard),
                        _ => segments.push(Segment::Child(name)),
                    }
                    position = end;
                }
                '[' => {
                    let Some(close) = chars[position..].iter().position(|&c| c == ']') else {
                        return Err(error(position, "unclosed '['"));
                    };
                    let inner: String = chars[position + 1..position + close].iter().collect();
                    let inner = inner.trim();
                    if inner == "*" {
                        segments.push(Segment::Wildcard);
                    } else if let Ok(index) = inner.parse::<usize>() {
                        segments.push(Segment::Index(index));
                    } else if let Some(name) = strip_quotes(inner) {
                        segments.push(Segment::Child(name.to_owned()));
                    } else {
                        return Err(error(position + 1, "expected [n], [*] or ['name']"));
                    }
                    position += close + 1;
                }
                _ => return Err(error(position, "expected '.', '..' or '['")),
            }
        }
        Ok(Self {
            source: path.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every value the path matches, in document order.
    pub fn select<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        let mut found = Vec::new();
        select(value, &self.segments, &mut found);
        found
    }

    /// Removes every value the path matches: object members are deleted,
    /// array elements become `null` (so later indices keep their meaning),
    /// and `$` itself becomes `null`.
    pub fn remove_matches(&self, value: &mut Value) {
        if self.segments.is_empty() {
            *value = Value::Null;
        } else {
            remove(value, &self.segments);
        }
    }
}

fn read_name(chars: &[char], start: usize) -> (String, usize) {
    let end = chars[start.min(chars.len())..]
        .iter()
        .position(|&c| c == '.' || c == '[')
        .map_or(chars.len(), |offset| start + offset);
    (chars[start.min(end)..end].iter().collect(), end)
}

fn strip_quotes(inner: &str) -> Option<&str> {
    inner
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .or_else(|| {
            inner
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
        })
}

fn select<'v>(value: &'v Value, segments: &[Segment], found: &mut Vec<&'v Value>) {
    let Some((first, rest)) = segments.split_first() else {
        found.push(value);
        return;
    };
    match first {
        Segment::Child(name) => {
            if let Some(child) = value.as_object().and_then(|map| map.get(name)) {
                select(child, rest, found);
            }
        }
        Segment::Index(index) => {
            if let Some(child) = value.as_array().and_then(|items| items.get(*index)) {
                select(child, rest, found);
            }
        }
        Segment::Wildcard => match value {
            Value::Object(map) => map.values().for_each(|child| select(child, rest, found)),
            Value::Array(items) => items.iter().for_each(|child| select(child, rest, found)),
            _ => {}
        },
        Segment::Descendant(name) => {
            if let Some(child) = value.as_object().and_then(|map| map.get(name)) {
                select(child, rest, found);
            }
            match value {
                Value::Object(map) => map
                    .values()
                    .for_each(|child| select(child, segments, found)),
                Value::Array(items) => items
                    .iter()
                    .for_each(|child| select(child, segments, found)),
                _ => {}
            }
        }
    }
}

fn remove(value: &mut Value, segments: &[Segment]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    match first {
        Segment::Child(name) => {
            if let Value::Object(map) = value {
                if rest.is_empty() {
                    map.remove(name);
                } else if let Some(child) = map.get_mut(name) {
                    remove(child, rest);
                }
            }
        }
        Segment::Index(index) => {
            if let Value::Array(items) = value
                && let Some(child) = items.get_mut(*index)
            {
                if rest.is_empty() {
                    *child = Value::Null;
                } else {
                    remove(child, rest);
                }
            }
        }
        Segment::Wildcard => match value {
            Value::Object(map) if rest.is_empty() => map.clear(),
            Value::Object(map) => map.values_mut().for_each(|child| remove(child, rest)),
            Value::Array(items) if rest.is_empty() => {
                items.iter_mut().for_each(|child| *child = Value::Null)
            }
            Value::Array(items) => items.iter_mut().for_each(|child| remove(child, rest)),
            _ => {}
        },
        Segment::Descendant(name) => {
            if let Value::Object(map) = value {
                if rest.is_empty() {
                    map.remove(name);
                } else if let Some(child) = map.get_mut(name) {
                    remove(child, rest);
                }
            }
            match value {
                Value::Object(map) => map.values_mut().for_each(|child| remove(child, segments)),
                Value::Array(items) => items.iter_mut().for_each(|child| remove(child, segments)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn removed(path: &str, mut value: Value) -> Value {
        JsonPath::parse(path)
            .expect("valid path")
            .remove_matches(&mut value);
        value
    }

    #[test]
    fn recursive_name_removes_at_every_depth() {
        let value =
            json!({"timestamp": 1, "a": {"timestamp": 2, "b": [{"timestamp": 3, "keep": 4}]}});
        assert_eq!(
            removed("$..timestamp", value),
            json!({"a": {"b": [{"keep": 4}]}})
        );
    }

    #[test]
    fn child_index_and_wildcard() {
        let value =
            json!({"a": {"b": 1, "c": 2}, "items": [{"id": 1, "n": "x"}, {"id": 2, "n": "y"}]});
        assert_eq!(
            removed("$.a.b", value.clone()),
            json!({"a": {"c": 2}, "items": [{"id": 1, "n": "x"}, {"id": 2, "n": "y"}]})
        );
        assert_eq!(
            removed("$.items[*].id", value.clone()),
            json!({"a": {"b": 1, "c": 2}, "items": [{"n": "x"}, {"n": "y"}]})
        );
        assert_eq!(
            removed("$.items[1]", value.clone()),
            json!({"a": {"b": 1, "c": 2}, "items": [{"id": 1, "n": "x"}, null]})
        );
        assert_eq!(
            removed("$['a'].*", value),
            json!({"a": {}, "items": [{"id": 1, "n": "x"}, {"id": 2, "n": "y"}]})
        );
    }

    #[test]
    fn paths_that_do_not_match_change_nothing() {
        let value = json!({"a": [1, 2]});
        assert_eq!(removed("$.b.c", value.clone()), value);
        assert_eq!(removed("$.a[5]", value.clone()), value);
        assert_eq!(removed("$.a.x", value.clone()), value);
        assert_eq!(removed("$", value), Value::Null);
    }

    #[test]
    fn select_finds_every_match() {
        let value =
            json!({"type": "chat", "a": {"type": "inner"}, "items": [{"id": 1}, {"id": 2}]});
        let select = |path: &str| {
            JsonPath::parse(path)
                .expect("valid path")
                .select(&value)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(select("$.type"), vec![json!("chat")]);
        assert_eq!(select("$..type"), vec![json!("chat"), json!("inner")]);
        assert_eq!(select("$.items[*].id"), vec![json!(1), json!(2)]);
        assert_eq!(select("$.items[1]"), vec![json!({"id": 2})]);
        assert_eq!(select("$"), vec![value.clone()]);
        assert!(select("$.missing").is_empty());
        assert!(select("$.type.deeper").is_empty());
    }

    #[test]
    fn bad_paths_are_explained() {
        for (path, problem) in [
            ("timestamp", "starts with '$'"),
            ("$.", "expected a member name"),
            ("$..", "expected a member name after '..'"),
            ("$[x]", "expected [n], [*] or ['name']"),
            ("$[1", "unclosed '['"),
            ("$a", "expected '.', '..' or '['"),
        ] {
            let error = JsonPath::parse(path).expect_err(path);
            assert!(error.to_string().contains(problem), "{path}: {error}");
        }
    }
}
