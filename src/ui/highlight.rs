//! JavaScript syntax highlighting for the script editor, with the line of
//! the latest script error marked.

use egui::text::{LayoutJob, TextFormat};
use egui::{Color32, FontId};

const KEYWORDS: &[&str] = &[
    "async",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "default",
    "delete",
    "do",
    "else",
    "export",
    "extends",
    "finally",
    "for",
    "from",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "let",
    "new",
    "of",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "yield",
];
const LITERALS: &[&str] = &["true", "false", "null", "undefined", "NaN", "Infinity"];

/// Token classes, each with its own colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `//` or `/* */`.
    Comment,
    /// Quoted or template string.
    String,
    /// Numeric literal.
    Number,
    /// Reserved word.
    Keyword,
    /// `true`, `null`, …
    Literal,
    /// Anything else.
    Plain,
}

/// Colours for one theme.
pub struct Palette {
    comment: Color32,
    string: Color32,
    number: Color32,
    keyword: Color32,
    literal: Color32,
    plain: Color32,
    error_line: Color32,
}

impl Palette {
    /// Colours that read well on the current background.
    pub fn for_dark_mode(is_dark: bool) -> Self {
        if is_dark {
            Self {
                comment: Color32::from_rgb(0x7f, 0x8c, 0x8d),
                string: Color32::from_rgb(0xa5, 0xd6, 0x7b),
                number: Color32::from_rgb(0xf0, 0xa0, 0x60),
                keyword: Color32::from_rgb(0xc6, 0x92, 0xf0),
                literal: Color32::from_rgb(0x6c, 0xb6, 0xff),
                plain: Color32::from_gray(0xdd),
                error_line: Color32::from_rgba_unmultiplied(0xc0, 0x30, 0x30, 0x60),
            }
        } else {
            Self {
                comment: Color32::from_rgb(0x6a, 0x73, 0x7d),
                string: Color32::from_rgb(0x22, 0x86, 0x3a),
                number: Color32::from_rgb(0xb3, 0x5c, 0x00),
                keyword: Color32::from_rgb(0x8a, 0x3f, 0xc4),
                literal: Color32::from_rgb(0x00, 0x5c, 0xc5),
                plain: Color32::from_gray(0x20),
                error_line: Color32::from_rgba_unmultiplied(0xff, 0x60, 0x60, 0x50),
            }
        }
    }

    fn color(&self, kind: TokenKind) -> Color32 {
        match kind {
            TokenKind::Comment => self.comment,
            TokenKind::String => self.string,
            TokenKind::Number => self.number,
            TokenKind::Keyword => self.keyword,
            TokenKind::Literal => self.literal,
            TokenKind::Plain => self.plain,
        }
    }
}

/// Splits JavaScript into coloured tokens: `(kind, byte range)`, covering the
/// whole input. Tolerant of unfinished code (the editor shows it while typing).
pub fn tokenize(code: &str) -> Vec<(TokenKind, std::ops::Range<usize>)> {
    let bytes = code.as_bytes();
    let mut tokens = Vec::new();
    let mut index = 0;
    let mut plain_start = 0;
    let flush_plain = |tokens: &mut Vec<_>, from: usize, to: usize| {
        if from < to {
            tokens.push((TokenKind::Plain, from..to));
        }
    };
    while index < bytes.len() {
        let rest = &code[index..];
        let (kind, length) = if rest.starts_with("//") {
            (TokenKind::Comment, rest.find('\n').unwrap_or(rest.len()))
        } else if rest.starts_with("/*") {
            (
                TokenKind::Comment,
                rest.find("*/").map_or(rest.len(), |end| end + 2),
            )
        } else if matches!(bytes[index], b'"' | b'\'' | b'`') {
            (TokenKind::String, string_length(rest))
        } else if bytes[index].is_ascii_digit()
            && !is_identifier_byte(index.checked_sub(1).map(|i| bytes[i]))
        {
            let length = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(rest.len());
            (TokenKind::Number, length)
        } else if is_identifier_start(bytes[index])
            && !is_identifier_byte(index.checked_sub(1).map(|i| bytes[i]))
        {
            let length = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(rest.len());
            let word = &rest[..length];
            let kind = if KEYWORDS.contains(&word) {
                TokenKind::Keyword
            } else if LITERALS.contains(&word) {
                TokenKind::Literal
            } else {
                TokenKind::Plain
            };
            (kind, length)
        } else {
            let length = rest.chars().next().map_or(1, char::len_utf8);
            (TokenKind::Plain, length)
        };
        if kind == TokenKind::Plain {
            index += length;
            continue;
        }
        flush_plain(&mut tokens, plain_start, index);
        tokens.push((kind, index..index + length));
        index += length;
        plain_start = index;
    }
    flush_plain(&mut tokens, plain_start, bytes.len());
    tokens
}

fn is_identifier_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte == b'$'
}

fn is_identifier_byte(byte: Option<u8>) -> bool {
    byte.is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$')
}

/// Length of the string literal at the start of `rest` (to its closing
/// quote, or the end of the line for an unterminated ' or " string).
fn string_length(rest: &str) -> usize {
    let quote = rest.as_bytes()[0];
    let mut escaped = false;
    for (offset, byte) in rest.bytes().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if byte == b'\\' {
            escaped = true;
        } else if byte == quote {
            return offset + 1;
        } else if byte == b'\n' && quote != b'`' {
            return offset;
        }
    }
    rest.len()
}

/// A coloured layout of `code`, with 1-based `error_line` given a background.
pub fn highlight(
    code: &str,
    font_id: FontId,
    palette: &Palette,
    error_line: Option<u32>,
) -> LayoutJob {
    let mut job = LayoutJob::default();
    let error_range = error_line.and_then(|line| line_byte_range(code, line));
    for (kind, range) in tokenize(code) {
        let mut start = range.start;
        // Split tokens at the error line's edges so only that line is marked.
        for boundary in error_range
            .iter()
            .flat_map(|range| [range.start, range.end])
        {
            if boundary > start && boundary < range.end {
                append(
                    &mut job,
                    code,
                    start..boundary,
                    kind,
                    &font_id,
                    palette,
                    error_range.as_ref(),
                );
                start = boundary;
            }
        }
        append(
            &mut job,
            code,
            start..range.end,
            kind,
            &font_id,
            palette,
            error_range.as_ref(),
        );
    }
    job
}

fn append(
    job: &mut LayoutJob,
    code: &str,
    range: std::ops::Range<usize>,
    kind: TokenKind,
    font_id: &FontId,
    palette: &Palette,
    error_range: Option<&std::ops::Range<usize>>,
) {
    let on_error_line =
        error_range.is_some_and(|error| range.start >= error.start && range.start < error.end);
    job.append(
        &code[range],
        0.0,
        TextFormat {
            font_id: font_id.clone(),
            color: palette.color(kind),
            background: if on_error_line {
                palette.error_line
            } else {
                Color32::TRANSPARENT
            },
            ..TextFormat::default()
        },
    );
}

/// Byte range of 1-based `line` including its newline.
fn line_byte_range(code: &str, line: u32) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    for (index, text) in code.split_inclusive('\n').enumerate() {
        if index + 1 == line as usize {
            return Some(start..start + text.len());
        }
        start += text.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(code: &str) -> Vec<(TokenKind, &str)> {
        tokenize(code)
            .into_iter()
            .filter(|(kind, _)| *kind != TokenKind::Plain)
            .map(|(kind, range)| (kind, &code[range]))
            .collect()
    }

    #[test]
    fn recognises_the_token_classes() {
        let code = "const a1 = 'it\\'s' + `t${x}` + 42; // note\n/* block */ return null;";
        assert_eq!(
            kinds(code),
            vec![
                (TokenKind::Keyword, "const"),
                (TokenKind::String, "'it\\'s'"),
                (TokenKind::String, "`t${x}`"),
                (TokenKind::Number, "42"),
                (TokenKind::Comment, "// note"),
                (TokenKind::Comment, "/* block */"),
                (TokenKind::Keyword, "return"),
                (TokenKind::Literal, "null"),
            ]
        );
    }

    #[test]
    fn tokens_cover_the_input_even_when_unfinished() {
        for code in [
            "'unterminated\nnext",
            "/* open",
            "x = `multi\nline",
            "é + ü // ünïcode",
        ] {
            let covered: String = tokenize(code)
                .into_iter()
                .map(|(_, range)| &code[range])
                .collect();
            assert_eq!(covered, code);
        }
    }

    #[test]
    fn marks_only_the_error_line() {
        let code = "let a = 1;\nlet b = 2;\nlet c = 3;\n";
        let palette = Palette::for_dark_mode(true);
        let job = highlight(code, FontId::monospace(12.0), &palette, Some(2));
        let marked: String = job
            .sections
            .iter()
            .filter(|section| section.format.background != Color32::TRANSPARENT)
            .map(|section| &job.text[section.byte_range.start.0..section.byte_range.end.0])
            .collect();
        assert_eq!(marked, "let b = 2;\n");
    }
}
