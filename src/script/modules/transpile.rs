//! TypeScript to JavaScript with oxc: types out, enums and namespaces
//! lowered, legacy decorators lowered, and a map back to the `.ts` lines.

use std::path::Path;

use oxc::allocator::Allocator;
use oxc::codegen::{Codegen, CodegenOptions};
use oxc::diagnostics::OxcDiagnostic;
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::transformer::{HelperLoaderMode, TransformOptions, Transformer};

use super::source_map::LineMap;

/// The JavaScript QuickJS runs for one TypeScript module.
#[derive(Debug)]
pub(crate) struct Transpiled {
    pub(crate) code: String,
    pub(crate) map: LineMap,
}

/// A TypeScript file that does not parse or lower, said as a user reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TranspileError {
    /// `TypeScript syntax error: …`, with the line and a caret below it.
    pub(crate) message: String,
    /// 1-based line and column in the `.ts` source, when oxc gave a span.
    pub(crate) position: Option<(u32, u32)>,
}

/// Where oxc's lowered helpers (legacy decorators) are imported from; the
/// loader serves small copies of them.
pub(crate) const HELPERS_MODULE: &str = "@oxc-project/runtime";

/// Transpiles the TypeScript `source` of `path` (`.ts`, `.mts`, `.cts`).
pub(crate) fn typescript(path: &Path, source: &str) -> Result<Transpiled, TranspileError> {
    let allocator = Allocator::default();
    let source_type = SourceType::ts().with_module(!is_commonjs_typescript(path));
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if let Some(error) = parsed.diagnostics.errors().next() {
        return Err(describe(error, source, "TypeScript syntax error"));
    }
    let mut program = parsed.program;
    let semantic = SemanticBuilder::new()
        .with_excess_capacity(2.0)
        .with_enum_eval(true)
        .build(&program);
    if let Some(error) = semantic.diagnostics.errors().next() {
        return Err(describe(error, source, "TypeScript error"));
    }
    let mut options = TransformOptions::default();
    options.decorator.legacy = true;
    options.helper_loader.mode = HelperLoaderMode::Runtime;
    options.helper_loader.module_name = HELPERS_MODULE.into();
    let transformed = Transformer::new(&allocator, path, &options)
        .build_with_scoping(semantic.semantic.into_scoping(), &mut program);
    if let Some(error) = transformed.diagnostics.errors().next() {
        return Err(describe(error, source, "TypeScript error"));
    }
    let generated = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(path.to_path_buf()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let map = generated
        .map
        .map(|map| LineMap::from_tokens(map.get_tokens()))
        .unwrap_or_default();
    Ok(Transpiled {
        code: generated.code,
        map,
    })
}

/// Whether `source` is a module (has `import`/`export`), as oxc reads it.
/// Plain scripts and CommonJS have no module syntax.
pub(crate) fn has_module_syntax(source: &str) -> bool {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::mjs()).parse();
    parsed.module_record.has_module_syntax
}

/// Whether a JavaScript file that QuickJS refused parses as TypeScript:
/// then the user wrote types in a `.js` file.
pub(crate) fn parses_as_typescript(source: &str) -> bool {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::ts()).parse();
    !parsed.panicked && !parsed.diagnostics.has_errors()
}

fn is_commonjs_typescript(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "cts")
}

fn describe(error: &OxcDiagnostic, source: &str, kind: &str) -> TranspileError {
    let offset = error.labels.first().map(|label| label.offset());
    let mut message = format!("{kind}: {}", error.message);
    if let Some(help) = &error.help {
        message.push_str(&format!(" ({help})"));
    }
    let position = offset.map(|offset| line_and_column(source, offset as usize));
    if let Some((line, column)) = position {
        message.push('\n');
        message.push_str(&caret_excerpt(source, line, column));
    }
    TranspileError { message, position }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_and_column(source: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// `  12 | let x: = 3;` and a caret under the column, as compilers show it.
pub(crate) fn caret_excerpt(source: &str, line: u32, column: u32) -> String {
    let text = source
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or("");
    let gutter = line.to_string();
    let pad: String = text
        .chars()
        .take(column.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("{gutter} | {text}\n{} | {pad}^", " ".repeat(gutter.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "import type { Kv } from './types';\n\
        import { websocket } from '@nitric/sdk';\n\
        interface Joined { name: string }\n\
        enum Kind { Text = 1, Bytes }\n\
        const socket = websocket('socket');\n\
        socket.on('message', async (ctx: any) => {\n\
        \x20 const who = (ctx.req as any).query!.name as string;\n\
        \x20 throw new Error(who + Kind.Bytes);\n\
        });\n";

    #[test]
    fn types_go_and_enums_stay_as_objects() {
        let out = typescript(Path::new("chat.ts"), SERVICE).expect("transpiles");
        assert!(!out.code.contains("interface"), "{}", out.code);
        assert!(!out.code.contains("./types"), "type-only import elided");
        assert!(out.code.contains("@nitric/sdk"));
        assert!(out.code.contains("Kind"));
        assert!(!out.code.contains(" as "), "{}", out.code);
    }

    #[test]
    fn the_map_points_generated_lines_at_the_ts_lines() {
        let out = typescript(Path::new("chat.ts"), SERVICE).expect("transpiles");
        let (generated_line, text) = out
            .code
            .lines()
            .enumerate()
            .find(|(_, line)| line.contains("throw new Error"))
            .expect("the throw survives");
        let column = text.find("throw").expect("throw") + 1;
        let mapped = out
            .map
            .original(generated_line as u32 + 1, column as u32)
            .expect("mapped");
        assert_eq!(mapped, (8, 3));
    }

    #[test]
    fn a_syntax_error_says_typescript_and_shows_a_caret() {
        let error = typescript(Path::new("bad.ts"), "const a = 1;\nlet x: = 3;\n")
            .expect_err("does not parse");
        assert!(error.message.starts_with("TypeScript syntax error: "));
        assert!(
            error.message.contains("2 | let x: = 3;"),
            "{}",
            error.message
        );
        assert!(error.message.ends_with("  |        ^"), "{}", error.message);
        assert_eq!(error.position, Some((2, 8)));
    }

    #[test]
    fn module_syntax_is_told_from_commonjs() {
        assert!(has_module_syntax("import x from 'y';"));
        assert!(has_module_syntax("export const a = 1;"));
        assert!(!has_module_syntax(
            "const x = require('y'); module.exports = x;"
        ));
    }

    #[test]
    fn types_in_a_js_file_are_recognised() {
        assert!(parses_as_typescript("let x: number = 1;"));
        assert!(!parses_as_typescript("let x = ;"));
    }
}
