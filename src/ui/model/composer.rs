//! Turning what the user typed into a frame: text, JSON, or binary given as
//! hex or base64. Errors say what is wrong with the input.

use base64::Engine as _;
use bytes::Bytes;

use crate::core::events::Payload;

/// How the composer's text is meant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ComposeMode {
    /// A text frame, as typed.
    #[default]
    Text,
    /// A text frame that must be valid JSON.
    Json,
    /// A binary frame written as hex bytes (`00 ff 7a`, `0x00ff`, whitespace ignored).
    Hex,
    /// A binary frame written as standard base64.
    Base64,
}

impl ComposeMode {
    /// Every mode, for pickers.
    pub const ALL: [ComposeMode; 4] = [
        ComposeMode::Text,
        ComposeMode::Json,
        ComposeMode::Hex,
        ComposeMode::Base64,
    ];

    /// Label for pickers.
    pub fn label(self) -> &'static str {
        match self {
            ComposeMode::Text => "Text",
            ComposeMode::Json => "JSON",
            ComposeMode::Hex => "Binary (hex)",
            ComposeMode::Base64 => "Binary (base64)",
        }
    }
}

/// Builds the frame, or says why the input is not valid for `mode`.
pub fn compose(mode: ComposeMode, input: &str) -> Result<Payload, String> {
    match mode {
        ComposeMode::Text => Ok(Payload::Text(input.into())),
        ComposeMode::Json => serde_json::from_str::<serde::de::IgnoredAny>(input)
            .map(|_| Payload::Text(input.trim().into()))
            .map_err(|error| format!("not valid JSON: {error}")),
        ComposeMode::Hex => parse_hex(input).map(|bytes| Payload::Binary(Bytes::from(bytes))),
        ComposeMode::Base64 => {
            let compact: String = input.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map(|bytes| Payload::Binary(Bytes::from(bytes)))
                .map_err(|error| format!("not valid base64: {error}"))
        }
    }
}

fn parse_hex(input: &str) -> Result<Vec<u8>, String> {
    let digits: String = input
        .split_whitespace()
        .map(|word| {
            word.strip_prefix("0x")
                .or_else(|| word.strip_prefix("0X"))
                .unwrap_or(word)
        })
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "odd number of hex digits ({}): each byte needs two",
            digits.len()
        ));
    }
    (0..digits.len())
        .step_by(2)
        .map(|start| {
            let pair = &digits[start..start + 2];
            u8::from_str_radix(pair, 16).map_err(|_| format!("'{pair}' is not a hex byte"))
        })
        .collect()
}

/// A hex dump: offset, 16 bytes in hex, and their printable ASCII.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|byte| format!("{byte:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&byte| {
                if byte.is_ascii_graphic() || byte == b' ' {
                    byte as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  {ascii}\n",
            line * 16,
            hex.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_mode_and_explains_errors() {
        assert_eq!(
            compose(ComposeMode::Text, "hi"),
            Ok(Payload::Text("hi".into()))
        );
        assert_eq!(
            compose(ComposeMode::Json, " {\"a\":1} "),
            Ok(Payload::Text("{\"a\":1}".into()))
        );
        assert!(
            compose(ComposeMode::Json, "{a:1}")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert_eq!(
            compose(ComposeMode::Hex, "0x00ff 7A"),
            Ok(Payload::Binary(Bytes::from_static(&[0, 255, 0x7a])))
        );
        assert!(
            compose(ComposeMode::Hex, "abc")
                .unwrap_err()
                .contains("odd number")
        );
        assert!(
            compose(ComposeMode::Hex, "zz")
                .unwrap_err()
                .contains("'zz'")
        );
        assert_eq!(
            compose(ComposeMode::Base64, "aGVs bG8="),
            Ok(Payload::Binary(Bytes::from_static(b"hello")))
        );
        assert!(compose(ComposeMode::Base64, "***").is_err());
    }

    #[test]
    fn hex_dump_shows_offsets_and_ascii() {
        let dump = hex_dump(b"hello, world!\x00\x01\x02abc");
        assert!(dump.starts_with("00000000  68 65 6c 6c 6f"), "{dump}");
        assert!(dump.contains("hello, world!..."), "{dump}");
        assert!(dump.contains("00000010  61 62 63"), "{dump}");
    }
}
