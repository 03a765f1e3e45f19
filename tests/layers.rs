//! The crate's shape stays as `src/lib.rs` describes it: a module imports
//! only modules of its own layer or below, and no two sibling modules import
//! each other, directly or around a circle. Read from the source text, so a
//! new upward `use crate::…` fails here before it settles in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, bottom layer first; modules in one row are peers.
const LAYERS: &[&[&str]] = &[
    &["core"],
    &["kv"],
    &["runtime"],
    &["script", "nitric", "proxy"],
    &["engine"],
    &["launch"],
    &["loadgen", "session"],
    &["serve"],
    &["ui"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// Every `.rs` file under `src/` but the crate roots, with its module path.
fn source_files() -> Vec<(Vec<String>, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut folders = vec![src.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let module = module_path(&src, &path);
                if !module.is_empty() {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    files.push((module, text));
                }
            }
        }
    }
    files.sort();
    files
}

/// `src/ui/app/mod.rs` → `[ui, app]`; `src/lib.rs` and `src/main.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative: PathBuf = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// Absolute paths (`[engine, config, EngineConfig]`) of every `crate::` and
/// `super::` path in `text`, one level of `{…}` expanded.
fn referenced_paths(module: &[String], text: &str) -> Vec<Vec<String>> {
    let path_re =
        regex::Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(?:::\{([^{}]*)\})?")
            .expect("a valid pattern");
    let mut paths = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for found in path_re.captures_iter(code) {
            let mut base: Vec<String> = match &found[1] {
                "crate" => Vec::new(),
                _ => module[..module.len().saturating_sub(1)].to_vec(),
            };
            let mut rest: Vec<String> = found[2]
                .split("::")
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
                .collect();
            while rest.first().is_some_and(|part| part == "super") {
                rest.remove(0);
                base.pop();
            }
            base.extend(rest);
            match found.get(3) {
                Some(group) => {
                    for item in group.as_str().split(',') {
                        let first = item.trim().split("::").next().unwrap_or("").trim();
                        if !first.is_empty() && first != "self" {
                            let mut path = base.clone();
                            path.push(first.to_owned());
                            paths.push(path);
                        }
                    }
                    paths.push(base);
                }
                None => paths.push(base),
            }
        }
    }
    paths
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let mut upward = Vec::new();
    for (module, text) in source_files() {
        let own = &module[0];
        let Some(own_layer) = layer_of(own) else {
            upward.push(format!("{own} is not in the layer list of tests/layers.rs"));
            continue;
        };
        for path in referenced_paths(&module, &text) {
            let Some(target) = path.first() else { continue };
            match layer_of(target) {
                Some(layer) if layer > own_layer => upward.push(format!(
                    "{} uses crate::{}",
                    module.join("::"),
                    path.join("::")
                )),
                _ => {}
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn sibling_modules_import_each_other_in_one_direction_only() {
    let files = source_files();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(module, _)| module.clone()).collect();
    // Folder module → its children → the siblings each one uses.
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, text) in &files {
        for path in referenced_paths(module, text) {
            let shared = module.iter().zip(&path).take_while(|(a, b)| a == b).count();
            let (Some(from), Some(to)) = (module.get(shared), path.get(shared)) else {
                continue;
            };
            let parent = module[..shared].to_vec();
            let mut target = parent.clone();
            target.push(to.clone());
            if modules.contains(&target) {
                edges
                    .entry(parent)
                    .or_default()
                    .entry(from.clone())
                    .or_default()
                    .insert(to.clone());
            }
        }
    }
    let mut circles = Vec::new();
    for (parent, graph) in &edges {
        for start in graph.keys() {
            if let Some(circle) = circle_through(graph, start) {
                circles.push(format!("in crate::{}: {}", parent.join("::"), circle));
            }
        }
    }
    circles.sort();
    circles.dedup();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

/// A path from `start` back to itself, written `a → b → a`.
fn circle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<String> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, trail)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut trail = trail.clone();
                trail.push(next.clone());
                return Some(trail.join(" → "));
            }
            if seen.insert(next.clone()) {
                let mut trail = trail.clone();
                trail.push(next.clone());
                stack.push((next.clone(), trail));
            }
        }
    }
    None
}

#[test]
fn the_checker_sees_an_upward_import_and_a_circle() {
    // The two checks above pass on a tree that has neither, so show that
    // they would see them.
    let kv = vec!["kv".to_owned()];
    let paths = referenced_paths(&kv, "use crate::engine::EngineHandle;\n");
    assert_eq!(
        paths,
        vec![vec!["engine".to_owned(), "EngineHandle".to_owned()]]
    );
    assert!(layer_of("engine") > layer_of("kv"));

    let client = vec!["loadgen".to_owned(), "client".to_owned()];
    let paths = referenced_paths(&client, "use super::{report::X, LiveCounters};");
    assert!(paths.contains(&vec!["loadgen".to_owned(), "report".to_owned()]));
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("client".to_owned(), BTreeSet::from(["report".to_owned()])),
        ("report".to_owned(), BTreeSet::from(["client".to_owned()])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        circle_through(&graph, "client").as_deref(),
        Some("client → report → client")
    );
}
