//! Inputs kept from fuzzing (`.ci/fuzz.sh`): every file under
//! `tests/fuzz/regressions/<target>/` goes through the same code the fuzz
//! target drives, so a crash found once stays fixed.

use std::path::{Path, PathBuf};

use sockscope::core::query::{format_query, parse_query};
use sockscope::session::format::parse_session;
use sockscope::session::har::import_har;

fn inputs(target: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/regressions")
        .join(target);
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read input");
            (path, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

#[test]
fn session_reader_inputs() {
    for (path, text) in inputs("session_reader") {
        // Ok or a line error: either way, no panic.
        let _ = parse_session(&text, &path.display().to_string());
    }
}

#[test]
fn har_import_inputs() {
    for (_, text) in inputs("har_import") {
        let _ = import_har(&text);
    }
}

#[test]
fn query_parse_inputs() {
    for (path, raw) in inputs("query_parse") {
        let query = parse_query(&raw);
        assert_eq!(
            parse_query(&format_query(&query)),
            query,
            "{}",
            path.display()
        );
    }
}
