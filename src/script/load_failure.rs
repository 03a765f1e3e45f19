//! A script that does not load, said so a user can act on it: where, with
//! the line and a caret, and what to do (a `.js` file with types in it,
//! a module that cannot be found).

use super::modules::{ModuleGraph, ModuleSources, caret_excerpt, parses_as_typescript};
use crate::core::events::{ScriptFailure, ScriptLocation};

/// QuickJS's and rquickjs' words for a module that failed to resolve or load.
const LOADER_PREFIXES: [&str; 2] = ["Error resolving module ", "Error loading module "];

/// Adds the location a compile failure knows, the line and a caret, and
/// the hints, to a load failure.
pub(crate) fn explain(
    mut failure: ScriptFailure,
    graph: &ModuleGraph,
    sources: &ModuleSources,
) -> ScriptFailure {
    if let Some(at) = graph.failed_at.clone() {
        failure.location = Some(at);
    }
    if let Some((message, importer, specifier)) = tidy_loader_message(&failure.message) {
        failure.message = message;
        if failure.location.is_none() {
            failure.location = import_site(sources, &importer, &specifier);
        }
    }
    if failure.message.contains("Could not find export") {
        let own: Vec<&str> = sources.own_sources().collect();
        failure = super::exports::explain_missing_export(failure, &own.join("\n"));
        failure.message = explain_builtin_export(&failure.message);
    }
    let Some(location) = failure.location.clone() else {
        return failure;
    };
    let Some(module) = sources.get(&location.file) else {
        return failure;
    };
    let is_syntax = failure.message.starts_with("SyntaxError")
        && !failure.message.contains("Could not find export");
    if is_syntax {
        let column = location.column.unwrap_or(1);
        failure.message.push('\n');
        failure
            .message
            .push_str(&caret_excerpt(&module.original, location.line, column));
        let is_javascript = [".js", ".mjs", ".cjs"]
            .iter()
            .any(|extension| location.file.ends_with(extension));
        if is_javascript && parses_as_typescript(&module.original) {
            failure.message.push_str(&format!(
                "\n{} has TypeScript in it (types, interfaces, `as`): name it .ts and sockscope \
                 transpiles it",
                location.file
            ));
        }
    }
    failure
}

/// `Error resolving module 'x' from 'y': why` → `why`, with `y` and `x`;
/// `Error loading module 'x': why` → `why`, with `x`.
fn tidy_loader_message(message: &str) -> Option<(String, String, String)> {
    let rest = LOADER_PREFIXES
        .iter()
        .find_map(|prefix| message.split_once(prefix).map(|(_, rest)| rest))?;
    let (first, rest) = quoted(rest)?;
    match rest.strip_prefix(" from ").and_then(quoted) {
        Some((importer, why)) => Some((
            why.trim_start_matches(':').trim().to_owned(),
            importer.to_owned(),
            first.to_owned(),
        )),
        None => Some((
            rest.trim_start_matches(':').trim().to_owned(),
            first.to_owned(),
            String::new(),
        )),
    }
}

/// A name the stand-in of a Node built-in does not export.
fn explain_builtin_export(message: &str) -> String {
    let Some((_, rest)) = message.split_once("Could not find export ") else {
        return message.to_owned();
    };
    let Some((name, rest)) = quoted(rest) else {
        return message.to_owned();
    };
    let Some(module) = rest
        .strip_prefix(" in module ")
        .and_then(quoted)
        .map(|(module, _)| module)
        .filter(|module| module.starts_with("node:"))
    else {
        return message.to_owned();
    };
    format!(
        "SyntaxError: sockscope's stand-in for '{module}' has no export '{name}' (the embedded \
         lane has no file, process or network access; import the module's default instead, or \
         run the project with --run)"
    )
}

/// `'text' rest` → (`text`, ` rest`).
fn quoted(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('\'')?;
    let end = inner.find('\'')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// The line of `importer` that imports `specifier`.
fn import_site(sources: &ModuleSources, importer: &str, specifier: &str) -> Option<ScriptLocation> {
    if specifier.is_empty() {
        return None;
    }
    let module = sources.get(importer)?;
    module
        .original
        .lines()
        .enumerate()
        .find_map(|(index, line)| {
            let column = ["'", "\""]
                .iter()
                .find_map(|quote| line.find(&format!("{quote}{specifier}{quote}")))?;
            Some(ScriptLocation {
                file: importer.to_owned(),
                line: u32::try_from(index + 1).ok()?,
                column: u32::try_from(column + 1).ok(),
            })
        })
}
