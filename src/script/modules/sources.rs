//! The sources of one loaded module graph, for error reports: stacks and
//! locations in the user's own lines (the `.ts`, not the JavaScript run),
//! and the source line a failure points at.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::source_map::LineMap;
use crate::core::events::ScriptLocation;

/// One module as the user wrote it.
#[derive(Clone, Debug)]
pub(crate) struct ModuleSource {
    pub(crate) original: Arc<str>,
    pub(crate) map: Option<Arc<LineMap>>,
    pub(crate) path: Option<PathBuf>,
    /// Inside the project, not a package: where a failure is reported.
    pub(crate) own: bool,
}

/// Every module of the graph, by the name QuickJS knows it by.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModuleSources {
    pub(crate) entry: String,
    modules: FxHashMap<String, ModuleSource>,
    /// Whether any module was transpiled (has a map to remap stacks with).
    mapped: bool,
}

impl ModuleSources {
    /// The sources of a graph whose first service file is `entry`.
    pub(crate) fn new(entry: &str) -> Self {
        Self {
            entry: entry.to_owned(),
            modules: FxHashMap::default(),
            mapped: false,
        }
    }

    /// Records a module the graph loaded.
    pub(crate) fn insert(&mut self, name: String, module: ModuleSource) {
        self.mapped |= module.map.is_some();
        self.modules.insert(name, module);
    }

    /// A module by its name.
    pub(crate) fn get(&self, name: &str) -> Option<&ModuleSource> {
        self.modules.get(name)
    }

    /// The text of every project module (not packages).
    pub(crate) fn own_sources(&self) -> impl Iterator<Item = &str> {
        self.modules
            .values()
            .filter(|module| module.own)
            .map(|module| &*module.original)
    }

    /// One script and nothing it imports.
    #[cfg(test)]
    pub(crate) fn single(name: &str, source: &str) -> Self {
        let mut sources = Self::new(name);
        sources.modules.insert(
            name.to_owned(),
            ModuleSource {
                original: source.into(),
                map: None,
                path: None,
                own: true,
            },
        );
        sources
    }

    /// The project files loaded, for the watcher and the Script panel.
    pub(crate) fn own_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .modules
            .values()
            .filter(|module| module.own)
            .filter_map(|module| module.path.clone())
            .collect();
        files.sort();
        files
    }

    /// `stack` with every frame in a transpiled module at its original line.
    pub(crate) fn remap_stack<'a>(&self, stack: &'a str) -> Cow<'a, str> {
        if !self.mapped {
            return Cow::Borrowed(stack);
        }
        let mut out = String::with_capacity(stack.len());
        for line in stack.split_inclusive('\n') {
            out.push_str(&self.remap_frame(line).unwrap_or_else(|| line.to_owned()));
        }
        Cow::Owned(out)
    }

    fn remap_frame(&self, line: &str) -> Option<String> {
        let frame = parse_frame(line)?;
        let map = self.modules.get(&frame.file)?.map.as_ref()?;
        let (original_line, original_column) =
            map.original(frame.line, frame.column.unwrap_or(1))?;
        let written = match frame.column {
            Some(column) => format!("{}:{}:{}", frame.file, frame.line, column),
            None => format!("{}:{}", frame.file, frame.line),
        };
        let mapped = format!("{}:{original_line}:{original_column}", frame.file);
        Some(line.replacen(&written, &mapped, 1))
    }

    /// Where a (remapped) stack points: the first frame in the user's own
    /// modules, else the first frame.
    pub(crate) fn locate(&self, stack: &str) -> Option<ScriptLocation> {
        self.locate_own(stack)
            .or_else(|| stack.lines().find_map(parse_frame))
    }

    /// The first frame of `stack` in the user's own code, if any (not the
    /// SDK's, the prelude's or a package's).
    pub(crate) fn locate_own(&self, stack: &str) -> Option<ScriptLocation> {
        let frames: Vec<ScriptLocation> = stack.lines().filter_map(parse_frame).collect();
        frames
            .iter()
            .find(|frame| {
                self.modules
                    .get(&frame.file)
                    .is_some_and(|module| module.own)
            })
            .or_else(|| frames.iter().find(|frame| frame.file == self.entry))
            .cloned()
    }

    /// The text of a 1-based line of a module, as the user wrote it.
    pub(crate) fn line(&self, file: &str, line: u32) -> Option<&str> {
        self.modules
            .get(file)?
            .original
            .lines()
            .nth(line.checked_sub(1)? as usize)
    }
}

/// Parses `    at fn (file.js:12:5)` or `    at file.js:12:5`.
pub(crate) fn parse_frame(line: &str) -> Option<ScriptLocation> {
    let line = line.trim().strip_prefix("at ")?;
    let inner = match (line.rfind('('), line.ends_with(')')) {
        (Some(open), true) => &line[open + 1..line.len() - 1],
        _ => line,
    };
    let mut parts = inner.rsplitn(3, ':');
    let last: u32 = parts.next()?.parse().ok()?;
    let middle = parts.next()?;
    match (middle.parse::<u32>(), parts.next()) {
        (Ok(line), Some(file)) => Some(ScriptLocation {
            file: file.to_owned(),
            line,
            column: Some(last),
        }),
        _ => Some(ScriptLocation {
            file: inner.rsplit_once(':')?.0.to_owned(),
            line: last,
            column: None,
        }),
    }
}
