//! Any query string: parsing never panics, and what it parses survives a
//! format/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::core::query::{format_query, parse_query};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let query = parse_query(raw);
    assert_eq!(parse_query(&format_query(&query)), query);
});
