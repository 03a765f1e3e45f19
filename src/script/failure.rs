//! Turning whatever a script threw into a [`ScriptFailure`] with file:line.

use rquickjs::{CaughtError, Coerced, Ctx};

use crate::core::events::{ScriptFailure, ScriptLocation};

/// Describes a caught JS error. `script_name` is the module name the user
/// script was loaded under; its frames are preferred for the location.
pub(crate) fn describe_caught<'js>(
    ctx: &Ctx<'js>,
    caught: CaughtError<'js>,
    script_name: &str,
) -> ScriptFailure {
    match caught {
        CaughtError::Exception(exception) => {
            let name: String = exception
                .get::<_, Coerced<String>>("name")
                .map(|name| name.0)
                .unwrap_or_else(|_| "Error".to_owned());
            let message = exception.message().unwrap_or_default();
            let stack = exception.stack().filter(|stack| !stack.trim().is_empty());
            let location = stack
                .as_deref()
                .and_then(|stack| location_in_stack(stack, script_name));
            ScriptFailure {
                message: if message.is_empty() {
                    name
                } else {
                    format!("{name}: {message}")
                },
                location,
                stack,
            }
        }
        CaughtError::Value(value) => {
            // `throw 42`, `throw {code: 1}`, `throw undefined`: say what was thrown.
            let shown = if value.is_object() {
                ctx.json_stringify(value.clone())
                    .ok()
                    .flatten()
                    .and_then(|json| json.to_string().ok())
            } else {
                None
            }
            .or_else(|| value.get::<Coerced<String>>().ok().map(|text| text.0))
            .unwrap_or_else(|| format!("a {}", value.type_name()));
            ScriptFailure {
                message: format!("uncaught non-Error value thrown: {shown}"),
                location: None,
                stack: None,
            }
        }
        CaughtError::Error(error) => ScriptFailure {
            message: error.to_string(),
            location: None,
            stack: None,
        },
    }
}

/// Finds the first `file:line[:column]` frame in a QuickJS stack, preferring
/// frames in the user's script over the SDK's.
pub(crate) fn location_in_stack(stack: &str, script_name: &str) -> Option<ScriptLocation> {
    let frames: Vec<ScriptLocation> = stack.lines().filter_map(parse_frame).collect();
    frames
        .iter()
        .find(|frame| frame.file == script_name)
        .or_else(|| frames.first())
        .cloned()
}

/// Parses `    at fn (file.js:12:5)` or `    at file.js:12:5`.
fn parse_frame(line: &str) -> Option<ScriptLocation> {
    let line = line.trim().strip_prefix("at ")?;
    let inner = match (line.rfind('('), line.ends_with(')')) {
        (Some(open), true) => &line[open + 1..line.len() - 1],
        _ => line,
    };
    let mut parts = inner.rsplitn(3, ':');
    let last: u32 = parts.next()?.parse().ok()?;
    let middle = parts.next()?;
    match (middle.parse::<u32>(), parts.next()) {
        (Ok(line), Some(file)) => Some(ScriptLocation {
            file: file.to_owned(),
            line,
            column: Some(last),
        }),
        _ => Some(ScriptLocation {
            file: inner.rsplit_once(':')?.0.to_owned(),
            line: last,
            column: None,
        }),
    }
}

/// QuickJS says only "not a function"; Node names what was called. From the
/// source line and the column of the call's property, the callee as Node
/// would show it: `ctx.req.data.toUpperCase`, `kv(...).for`.
pub(crate) fn name_the_callee(line: &str, column: u32) -> Option<String> {
    let chars: Vec<char> = line.chars().collect();
    let is_name = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let start = usize::try_from(column).ok()?.checked_sub(1)?;
    let mut end = start;
    while end < chars.len() && is_name(chars[end]) {
        end += 1;
    }
    if end == start {
        return None;
    }
    let mut parts: Vec<String> = vec![chars[start..end].iter().collect()];
    let mut at = start;
    // Walk back over `.name`, `name(...)` and `[...]` links of the receiver.
    while at > 0 && chars[at - 1] == '.' {
        at -= 1;
        let mut link = String::new();
        if at > 0 && matches!(chars[at - 1], ')' | ']') {
            let (close, open) = if chars[at - 1] == ')' {
                (')', '(')
            } else {
                (']', '[')
            };
            let mut depth = 0;
            let mut index = at;
            loop {
                index = index.checked_sub(1)?;
                if chars[index] == close {
                    depth += 1;
                } else if chars[index] == open {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            link = if open == '(' {
                "(...)".to_owned()
            } else {
                "[...]".to_owned()
            };
            at = index;
        }
        let name_end = at;
        while at > 0 && is_name(chars[at - 1]) {
            at -= 1;
        }
        if at == name_end && link.is_empty() {
            return None;
        }
        let name: String = chars[at..name_end].iter().collect();
        parts.push(format!("{name}{link}"));
    }
    parts.reverse();
    Some(parts.join("."))
}

/// "TypeError: not a function" made to name the callee, when the failure
/// points into `source` (the module `script_name`).
pub(crate) fn explain_not_a_function(failure: &mut ScriptFailure, script_name: &str, source: &str) {
    if failure.message != "TypeError: not a function" {
        return;
    }
    let Some(location) = failure
        .location
        .as_ref()
        .filter(|at| at.file == script_name)
    else {
        return;
    };
    let callee = usize::try_from(location.line)
        .ok()
        .and_then(|line| source.lines().nth(line.checked_sub(1)?))
        .zip(location.column)
        .and_then(|(line, column)| name_the_callee(line, column));
    if let Some(callee) = callee {
        failure.message = format!("TypeError: {callee} is not a function");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callee_is_named_as_node_names_it() {
        let line = "  if (ok) { const shout = ctx.req.data.toUpperCase(); }";
        let column = line.find("toUpperCase").expect("in the line") + 1;
        assert_eq!(
            name_the_callee(line, u32::try_from(column).expect("small")).as_deref(),
            Some("ctx.req.data.toUpperCase")
        );
        let line = "  await kv('x').for('getting').nope();";
        let column = line.find("nope").expect("in the line") + 1;
        assert_eq!(
            name_the_callee(line, u32::try_from(column).expect("small")).as_deref(),
            Some("kv(...).for(...).nope")
        );
        assert_eq!(name_the_callee("f();", 1).as_deref(), Some("f"));
        assert_eq!(name_the_callee("x[0].y();", 6).as_deref(), Some("x[...].y"));
    }

    #[test]
    fn prefers_the_user_script_frame() {
        let stack = "    at compose (@nitric/sdk:30:20)\n    at <anonymous> (chat.js:12:5)\n    at run (@nitric/sdk:31:7)";
        let location = location_in_stack(stack, "chat.js").expect("a frame");
        assert_eq!(location.to_string(), "chat.js:12:5");
    }

    #[test]
    fn falls_back_to_first_frame_and_handles_bare_frames() {
        let location = location_in_stack("    at @nitric/sdk:30:20\n", "chat.js").expect("a frame");
        assert_eq!(location.file, "@nitric/sdk");
        assert_eq!(location.line, 30);
        assert_eq!(location_in_stack("    at native\n", "chat.js"), None);
        let no_column = location_in_stack("    at f (x.js:7)", "x.js").expect("frame");
        assert_eq!((no_column.line, no_column.column), (7, None));
    }
}
