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

#[cfg(test)]
mod tests {
    use super::*;

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
