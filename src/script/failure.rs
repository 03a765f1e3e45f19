//! Turning whatever a script threw into a [`ScriptFailure`] with file:line.

use rquickjs::{CaughtError, Coerced, Ctx};

use super::modules::ModuleSources;
use crate::core::events::ScriptFailure;

/// Describes a caught JS error, its stack at the user's own lines (the
/// `.ts` ones for TypeScript).
pub(crate) fn describe_caught<'js>(
    ctx: &Ctx<'js>,
    caught: CaughtError<'js>,
    sources: &ModuleSources,
) -> ScriptFailure {
    match caught {
        CaughtError::Exception(exception) => {
            let name: String = exception
                .get::<_, Coerced<String>>("name")
                .map(|name| name.0)
                .unwrap_or_else(|_| "Error".to_owned());
            let message = exception.message().unwrap_or_default();
            let stack = exception
                .stack()
                .filter(|stack| !stack.trim().is_empty())
                .map(|stack| sources.remap_stack(&stack).into_owned());
            let location = stack.as_deref().and_then(|stack| sources.locate(stack));
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

/// "TypeError: not a function" made to name the callee, from the line the
/// failure points at.
pub(crate) fn explain_not_a_function(failure: &mut ScriptFailure, sources: &ModuleSources) {
    if failure.message != "TypeError: not a function" {
        return;
    }
    let Some(location) = failure.location.as_ref() else {
        return;
    };
    let callee = sources
        .line(&location.file, location.line)
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

    fn sources() -> ModuleSources {
        ModuleSources::single("chat.js", "")
    }

    #[test]
    fn prefers_the_user_script_frame() {
        let stack = "    at compose (@nitric/sdk:30:20)\n    at <anonymous> (chat.js:12:5)\n    at run (@nitric/sdk:31:7)";
        let location = sources().locate(stack).expect("a frame");
        assert_eq!(location.to_string(), "chat.js:12:5");
    }

    #[test]
    fn falls_back_to_first_frame_and_handles_bare_frames() {
        let location = sources()
            .locate("    at @nitric/sdk:30:20\n")
            .expect("a frame");
        assert_eq!(location.file, "@nitric/sdk");
        assert_eq!(location.line, 30);
        assert_eq!(sources().locate("    at native\n"), None);
        let no_column = ModuleSources::single("x.js", "")
            .locate("    at f (x.js:7)")
            .expect("frame");
        assert_eq!((no_column.line, no_column.column), (7, None));
    }
}
