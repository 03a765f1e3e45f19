//! Any bytes as a session file: the reader returns a session or an error,
//! never panics (a torn or garbled line is reported, not a crash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::session::format::parse_session;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_session(text, "fuzz.jsonl");
});
