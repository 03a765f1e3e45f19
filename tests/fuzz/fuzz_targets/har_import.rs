//! Any bytes as a HAR export: the importer returns a session or an error,
//! never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::session::har::import_har;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = import_har(text);
});
