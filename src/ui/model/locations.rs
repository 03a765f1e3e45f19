//! The `file:line[:column]` places in a text (a log line, a handler
//! failure, a lost-update report), so panels can make them links to the
//! Script panel.

use std::sync::LazyLock;

use crate::core::events::ScriptLocation;

/// A script file name (JavaScript or TypeScript, possibly in a folder),
/// its line and maybe its column.
static LOCATION: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"([A-Za-z0-9_./@-]*[A-Za-z0-9_@-]\.[cm]?[jt]sx?):(\d+)(?::(\d+))?")
        .expect("a valid pattern")
});

/// A piece of a text: words, or a place in a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Location {
        /// The place as written (`handler.js:5:3`).
        text: &'a str,
        location: ScriptLocation,
    },
}

/// `text` cut into words and places, in order.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest_from = 0;
    for found in LOCATION.captures_iter(text) {
        let (Some(whole), Some(file), Some(line)) = (found.get(0), found.get(1), found.get(2))
        else {
            continue;
        };
        let Ok(line) = line.as_str().parse::<u32>() else {
            continue;
        };
        if whole.start() > rest_from {
            out.push(Segment::Text(&text[rest_from..whole.start()]));
        }
        out.push(Segment::Location {
            text: whole.as_str(),
            location: ScriptLocation {
                file: file.as_str().to_owned(),
                line,
                column: found.get(3).and_then(|column| column.as_str().parse().ok()),
            },
        });
        rest_from = whole.end();
    }
    if rest_from < text.len() {
        out.push(Segment::Text(&text[rest_from..]));
    }
    out
}

/// Whether `text` names a place in a script.
pub fn has_location(text: &str) -> bool {
    LOCATION.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, line: u32, column: Option<u32>) -> ScriptLocation {
        ScriptLocation {
            file: file.to_owned(),
            line,
            column,
        }
    }

    #[test]
    fn places_are_found_among_the_words() {
        let text = "lost update: kv('c') key 'n': connection a at handler.js:12 read it, connection b at lib/count.ts:4:7 wrote it";
        let found = segments(text);
        assert_eq!(
            found,
            [
                Segment::Text("lost update: kv('c') key 'n': connection a at "),
                Segment::Location {
                    text: "handler.js:12",
                    location: at("handler.js", 12, None)
                },
                Segment::Text(" read it, connection b at "),
                Segment::Location {
                    text: "lib/count.ts:4:7",
                    location: at("lib/count.ts", 4, Some(7))
                },
                Segment::Text(" wrote it"),
            ]
        );
        assert!(has_location("TypeError: x (at chat.mjs:3)"));
        assert_eq!(
            segments("(at chat.mjs:3)")[1],
            Segment::Location {
                text: "chat.mjs:3",
                location: at("chat.mjs", 3, None)
            }
        );
    }

    #[test]
    fn times_urls_and_json_are_not_places() {
        for text in [
            "at 17:54:50.418",
            "ws://127.0.0.1:4001/?name=ann",
            "package.json:3",
            "no place here",
        ] {
            assert!(!has_location(text), "{text}");
            assert_eq!(segments(text), [Segment::Text(text)]);
        }
        assert!(segments("").is_empty());
    }
}
