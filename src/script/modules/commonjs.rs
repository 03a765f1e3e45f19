//! CommonJS in an ES module world: `require` runs files as Node's module
//! wrapper does, and an `import` of a CommonJS file sees `module.exports` as
//! its default and the names Node's lexer would find as named exports.

use std::sync::LazyLock;

use regex::Regex;

/// The script that gives every context its `require` machinery.
pub(crate) const COMMONJS_JS: &str = include_str!("commonjs.js");

/// The global symbol ES faces of CommonJS modules call `require` through.
pub(crate) const REQUIRE_KEY: &str = "sockscope.require";

/// Node's module wrapper, on the file's first line so line numbers stay.
pub(crate) fn wrap(source: &str) -> String {
    format!("(function (exports, require, module, __filename, __dirname) {{{source}\n}})")
}

/// The ES module an `import` of the CommonJS module `name` loads, with
/// `names` (its own and what it re-exports) as named exports.
pub(crate) fn face(name: &str, names: &[String]) -> String {
    let quoted = serde_json::Value::from(name);
    let mut face = format!(
        "const m = globalThis[Symbol.for('{REQUIRE_KEY}')]({quoted});\nexport default m;\n"
    );
    if !names.is_empty() {
        face.push_str(&format!(
            "export const {{ {} }} = m ?? {{}};\n",
            names.join(", ")
        ));
    }
    face
}

static ASSIGNED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[^.\w$])(?:module\.)?exports\s*(?:\.\s*([A-Za-z_$][\w$]*)|\[\s*['"]([A-Za-z_$][\w$]*)['"]\s*\])\s*="#)
        .expect("a valid pattern")
});
static DEFINED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"Object\.defineProperty\(\s*(?:module\.)?exports\s*,\s*['"]([A-Za-z_$][\w$]*)['"]"#,
    )
    .expect("a valid pattern")
});
static REEXPORTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:__exportStar\(\s*require\(\s*['"]([^'"]+)['"]\s*\)|__export\(\s*require\(\s*['"]([^'"]+)['"]\s*\)\s*\)|module\.exports\s*=\s*require\(\s*['"]([^'"]+)['"]\s*\))"#,
    )
    .expect("a valid pattern")
});
static OBJECT_LITERAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"module\.exports\s*=\s*\{").expect("a valid pattern"));

/// The names `exports.x =`, `Object.defineProperty(exports, 'x'` and
/// `module.exports = { x, y: … }` give, as cjs-module-lexer finds them.
pub(crate) fn exported_names(source: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if name != "default" && name != "__esModule" && !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    };
    for found in ASSIGNED.captures_iter(source) {
        if let Some(name) = found.get(1).or_else(|| found.get(2)) {
            add(name.as_str());
        }
    }
    for found in DEFINED.captures_iter(source) {
        add(&found[1]);
    }
    for found in OBJECT_LITERAL.find_iter(source) {
        for key in literal_keys(&source[found.end()..]) {
            add(&key);
        }
    }
    names.retain(|name| !RESERVED.contains(&name.as_str()));
    names
}

/// What a module re-exports whole, as cjs-module-lexer follows it:
/// `__exportStar(require('x'), exports)` (TypeScript's `export *`),
/// `__export(require('x'))` and `module.exports = require('x')`.
pub(crate) fn reexported_specifiers(source: &str) -> Vec<String> {
    REEXPORTED
        .captures_iter(source)
        .filter_map(|found| found.get(1).or(found.get(2)).or(found.get(3)))
        .map(|specifier| specifier.as_str().to_owned())
        .collect()
}

/// Words that cannot be `export const` bindings.
const RESERVED: &[&str] = &[
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "let",
    "static",
    "await",
    "m",
];

/// The top-level keys of an object literal, from just after its `{`.
fn literal_keys(rest: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut expecting_key = true;
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' if depth == 0 => break,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => expecting_key = true,
            '\'' | '"' | '`' => {
                let quote = c;
                let start = at + 1;
                let mut end = start;
                for (index, inner) in chars.by_ref() {
                    if inner == quote {
                        end = index;
                        break;
                    }
                }
                if depth == 0 && expecting_key {
                    keys.push(rest[start..end].to_owned());
                    expecting_key = false;
                }
            }
            c if depth == 0 && expecting_key && (c.is_alphabetic() || c == '_' || c == '$') => {
                let mut end = at + c.len_utf8();
                while let Some(&(index, next)) = chars.peek() {
                    if next.is_alphanumeric() || next == '_' || next == '$' {
                        end = index + next.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &rest[at..end];
                if word != "get" && word != "set" && word != "async"
                    || !followed_by_name(&rest[end..])
                {
                    keys.push(word.to_owned());
                    expecting_key = false;
                }
            }
            c if !c.is_whitespace() && depth == 0 && expecting_key && c != '.' => {
                expecting_key = false
            }
            _ => {}
        }
    }
    keys.retain(|key| {
        key.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
    });
    keys
}

fn followed_by_name(rest: &str) -> bool {
    rest.trim_start()
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_as_node_finds_them() {
        let source = r#"
            "use strict";
            Object.defineProperty(exports, "__esModule", { value: true });
            exports.generate = generate;
            module.exports.uuid = () => 1;
            exports['constants'] = {};
            Object.defineProperty(exports, 'version', { get() { return 1; } });
            foo.exports.notMine = 1;
        "#;
        assert_eq!(
            exported_names(source),
            ["generate", "uuid", "constants", "version"]
        );
    }

    #[test]
    fn an_object_literal_gives_its_top_level_keys() {
        let source = "module.exports = { generate, short: (a, b) => ({ inner: 1 }), 'quoted': 2, async make() {}, get value() { return 1 } };";
        assert_eq!(
            exported_names(source),
            ["generate", "short", "quoted", "make", "value"]
        );
    }

    #[test]
    fn the_face_exports_the_names_it_is_given() {
        let names = exported_names("exports.a = 1; exports.default = 2;");
        let face = face("node_modules/x/index.js", &names);
        assert!(face.contains("(\"node_modules/x/index.js\")"), "{face}");
        assert!(face.contains("export const { a } = m ?? {};"), "{face}");
        assert_eq!(wrap("x").lines().count(), 2);
    }

    #[test]
    fn whole_reexports_are_found() {
        let source = r#"__exportStar(require("./types"), exports);
            __export(require('./legacy'));
            module.exports = require('./impl');"#;
        assert_eq!(
            reexported_specifiers(source),
            ["./types", "./legacy", "./impl"]
        );
    }
}
