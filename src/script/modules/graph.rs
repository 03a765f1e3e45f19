//! The module graph of one script: QuickJS's resolver and loader, reading
//! the project's files (the entry from the editor's buffer when it has one),
//! transpiling TypeScript once per content, and recording every module's
//! source for error reports.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error, Module, Result};
use rustc_hash::FxHashMap;

use super::ServiceSource;
use super::resolve::{self, Mode, Resolved, SDK_MODULE};
use super::sources::{ModuleSource, ModuleSources};
use super::{builtins, commonjs, helpers, transpile};
use crate::core::events::ScriptLocation;

/// How deep `export *` chains of CommonJS modules are followed for names.
const MAX_REEXPORT_DEPTH: usize = 8;

/// How a file runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Module,
    CommonJs,
    Json,
}

impl Format {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Module => "esm",
            Self::CommonJs => "cjs",
            Self::Json => "json",
        }
    }
}

/// One file, ready to run: JavaScript (transpiled if it was TypeScript).
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) original: Arc<str>,
    pub(crate) code: Arc<str>,
    pub(crate) format: Format,
    pub(crate) map: Option<Arc<super::source_map::LineMap>>,
}

/// The script being loaded and what its imports found.
pub(crate) struct ModuleGraph {
    root: PathBuf,
    /// The service files being loaded: path, module name, text.
    entries: Vec<(PathBuf, String, Arc<str>)>,
    /// Module name → file, for this load.
    files: FxHashMap<String, PathBuf>,
    /// Compiled files across loads; a reload recompiles only what changed.
    cache: FxHashMap<PathBuf, Arc<Compiled>>,
    /// Files read during this load: their cache entries are current (a
    /// file is resolved, then loaded; it is read once).
    read_this_load: rustc_hash::FxHashSet<PathBuf>,
    /// The sources of the graph being loaded (shared with the host, which
    /// reports failures with them).
    sources: Rc<RefCell<ModuleSources>>,
    /// A module the host imports by the name it already resolved to.
    pub(crate) by_name: Option<String>,
    /// Where the last file that failed to compile failed.
    pub(crate) failed_at: Option<ScriptLocation>,
}

pub(crate) type SharedGraph = Rc<RefCell<ModuleGraph>>;

impl ModuleGraph {
    pub(crate) fn new() -> SharedGraph {
        Rc::new(RefCell::new(Self {
            root: PathBuf::new(),
            entries: Vec::new(),
            files: FxHashMap::default(),
            cache: FxHashMap::default(),
            read_this_load: rustc_hash::FxHashSet::default(),
            sources: Rc::default(),
            by_name: None,
            failed_at: None,
        }))
    }

    /// Starts a load of the service files `services` (their texts are the
    /// editor's buffer or the files'). Returns their module names and the
    /// sources the load records into.
    pub(crate) fn begin(
        &mut self,
        services: &[ServiceSource],
    ) -> (Vec<String>, Rc<RefCell<ModuleSources>>) {
        let first = services.first().map(|service| service.path.as_path());
        self.root = resolve::project_root(first.unwrap_or(Path::new("script.js")));
        self.files.clear();
        self.read_this_load.clear();
        self.failed_at = None;
        self.entries = services
            .iter()
            .map(|service| {
                let path =
                    std::path::absolute(&service.path).unwrap_or_else(|_| service.path.clone());
                let name = self.name_of(&path);
                (path, name, Arc::from(service.source.as_str()))
            })
            .collect();
        for (path, name, _) in &self.entries {
            self.files.insert(name.clone(), path.clone());
        }
        let names: Vec<String> = self
            .entries
            .iter()
            .map(|(_, name, _)| name.clone())
            .collect();
        self.sources = Rc::new(RefCell::new(ModuleSources::new(
            names.first().map_or("", String::as_str),
        )));
        self.cache.retain(|path, _| path.exists());
        (names, Rc::clone(&self.sources))
    }

    /// Service file `index` compiled: what `Module::declare` gets for it.
    pub(crate) fn entry(&mut self, index: usize) -> std::result::Result<Arc<Compiled>, String> {
        let path = self
            .entries
            .get(index)
            .map(|(path, ..)| path.clone())
            .ok_or_else(|| format!("no service file {index}"))?;
        self.compile(&path)
    }

    /// Module names: the path inside the project (`services/chat.ts`), or
    /// the whole path outside it.
    fn name_of(&self, path: &Path) -> String {
        name_in(&self.root, path)
    }

    pub(crate) fn file_of(&self, name: &str) -> Option<&PathBuf> {
        self.files.get(name)
    }

    /// Resolves `specifier` imported from the module `base`, to a module name.
    pub(crate) fn resolve(
        &mut self,
        base: &str,
        specifier: &str,
        mode: Mode,
    ) -> std::result::Result<(String, &'static str), String> {
        let importer = self
            .files
            .get(base)
            .cloned()
            .unwrap_or_else(|| self.root.join(base));
        match resolve::resolve(specifier, &importer, &self.root, mode)? {
            Resolved::Sdk => Ok((SDK_MODULE.to_owned(), "sdk")),
            Resolved::Builtin(name) => Ok((name.to_owned(), "builtin")),
            Resolved::Helper(helper) => {
                Ok((format!("{}/{helper}", transpile::HELPERS_MODULE), "esm"))
            }
            Resolved::File(path) => {
                let name = self.name_of(&path);
                self.files.insert(name.clone(), path.clone());
                let format = self.compile(&path)?.format;
                Ok((name, format.as_str()))
            }
        }
    }

    /// The named exports of the CommonJS module `name` (with text `code`):
    /// its own and, followed a few levels deep, those of what it
    /// re-exports whole.
    pub(crate) fn commonjs_names(&mut self, name: &str, code: &str, depth: usize) -> Vec<String> {
        let mut names = commonjs::exported_names(code);
        if depth >= MAX_REEXPORT_DEPTH {
            return names;
        }
        for specifier in commonjs::reexported_specifiers(code) {
            let Ok((target, "cjs")) = self.resolve(name, &specifier, Mode::Require) else {
                continue;
            };
            let Some(path) = self.files.get(&target).cloned() else {
                continue;
            };
            let Ok(compiled) = self.compile(&path) else {
                continue;
            };
            for found in self.commonjs_names(&target, &compiled.code, depth + 1) {
                if !names.contains(&found) {
                    names.push(found);
                }
            }
        }
        names
    }

    /// The file at `path`, compiled (from the cache when its text is the same).
    pub(crate) fn compile(&mut self, path: &Path) -> std::result::Result<Arc<Compiled>, String> {
        if self.read_this_load.contains(path)
            && let Some(cached) = self.cache.get(path)
        {
            return Ok(Arc::clone(cached));
        }
        let given = self
            .entries
            .iter()
            .find(|(entry, ..)| entry == path)
            .map(|(.., text)| Arc::clone(text));
        let text: Arc<str> = if let Some(text) = given {
            text
        } else {
            std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?
                .into()
        };
        let compiled = match self.cache.get(path) {
            Some(cached) if cached.original == text => Arc::clone(cached),
            _ => {
                let compiled = match compile(path, text) {
                    Ok(compiled) => Arc::new(compiled),
                    Err(Failed { message, position }) => {
                        self.failed_at = position.map(|(line, column)| ScriptLocation {
                            file: self.name_of(path),
                            line,
                            column: Some(column),
                        });
                        return Err(message);
                    }
                };
                self.cache.insert(path.to_path_buf(), Arc::clone(&compiled));
                compiled
            }
        };
        self.read_this_load.insert(path.to_path_buf());
        let name = self.name_of(path);
        let own = !path
            .components()
            .any(|part| part.as_os_str() == "node_modules")
            && path.starts_with(&self.root);
        self.sources.borrow_mut().insert(
            name,
            ModuleSource {
                original: Arc::clone(&compiled.original),
                map: compiled.map.clone(),
                path: Some(path.to_path_buf()),
                own,
            },
        );
        Ok(compiled)
    }
}

/// Why a file did not compile, and where in it.
struct Failed {
    message: String,
    position: Option<(u32, u32)>,
}

impl From<String> for Failed {
    fn from(message: String) -> Self {
        Self {
            message,
            position: None,
        }
    }
}

/// `path`'s module name in the project at `root`.
pub(crate) fn name_in(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(inside) => inside
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path.display().to_string(),
    }
}

fn compile(path: &Path, text: Arc<str>) -> std::result::Result<Compiled, Failed> {
    let extension = path
        .extension()
        .map(|extension| extension.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let (code, map): (Arc<str>, _) = match extension.as_str() {
        "json" => {
            serde_json::from_str::<serde_json::Value>(&text).map_err(|error| Failed {
                message: format!("{} is not valid JSON: {error}", path.display()),
                position: Some((
                    u32::try_from(error.line()).unwrap_or(u32::MAX),
                    u32::try_from(error.column()).unwrap_or(u32::MAX),
                )),
            })?;
            return Ok(Compiled {
                code: format!("export default {};\n", text.trim_start_matches('\u{feff}')).into(),
                original: text,
                format: Format::Json,
                map: None,
            });
        }
        "ts" | "mts" | "cts" => {
            let out = transpile::typescript(path, &text).map_err(|error| Failed {
                message: error.message,
                position: error.position,
            })?;
            (out.code.into(), Some(Arc::new(out.map)))
        }
        "tsx" | "jsx" => {
            return Err(Failed::from(format!(
                "{}: JSX is not supported in the embedded lane; run the project with --run",
                path.display()
            )));
        }
        _ => (Arc::clone(&text), None),
    };
    let format = match extension.as_str() {
        "mjs" | "mts" => Format::Module,
        "cjs" | "cts" => Format::CommonJs,
        _ => detect_format(path, &text),
    };
    Ok(Compiled {
        original: text,
        code,
        format,
        map,
    })
}

/// `.js` and `.ts`: ES module when it has module syntax or its package says
/// `"type": "module"`; CommonJS when it uses `require`/`module.exports`;
/// else a module (a plain script runs the same either way).
fn detect_format(path: &Path, text: &str) -> Format {
    if transpile::has_module_syntax(text) || package_type_is_module(path) {
        return Format::Module;
    }
    let uses_commonjs = ["require(", "module.exports", "exports."]
        .iter()
        .any(|marker| text.contains(marker));
    if uses_commonjs {
        Format::CommonJs
    } else {
        Format::Module
    }
}

fn package_type_is_module(path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .find_map(|dir| std::fs::read_to_string(dir.join("package.json")).ok())
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|manifest| {
            manifest.get("type").and_then(|kind| kind.as_str()) == Some("module")
        })
}

/// QuickJS's resolver, over the shared graph.
pub(crate) struct GraphResolver(pub(crate) SharedGraph);

impl Resolver for GraphResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        let mut graph = self.0.borrow_mut();
        if graph.by_name.as_deref() == Some(name) {
            graph.by_name = None;
            return Ok(name.to_owned());
        }
        match graph.resolve(base, name, Mode::Import) {
            Ok((resolved, "builtin")) => Ok(format!("node:{resolved}")),
            Ok((resolved, _)) => Ok(resolved),
            Err(message) => Err(Error::new_resolving_message(base, name, message)),
        }
    }
}

/// QuickJS's loader: the SDK, built-ins, helpers and the project's files.
pub(crate) struct GraphLoader {
    pub(crate) graph: SharedGraph,
    pub(crate) sdk_source: &'static str,
}

impl Loader for GraphLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        if name == SDK_MODULE {
            return Module::declare(ctx.clone(), name, self.sdk_source);
        }
        if let Some(builtin) = name.strip_prefix("node:") {
            return Module::declare(ctx.clone(), name, builtins::face_source(builtin));
        }
        if let Some(helper) = name
            .strip_prefix(transpile::HELPERS_MODULE)
            .and_then(|rest| rest.strip_prefix('/'))
        {
            let source = helpers::source(helper).ok_or_else(|| {
                Error::new_loading_message(
                    name,
                    "this TypeScript feature needs a helper sockscope does not have",
                )
            })?;
            return Module::declare(ctx.clone(), name, source);
        }
        let mut graph = self.graph.borrow_mut();
        let Some(path) = graph.file_of(name).cloned() else {
            return Err(Error::new_loading_message(name, "module not available"));
        };
        let compiled = graph
            .compile(&path)
            .map_err(|message| Error::new_loading_message(name, message))?;
        drop(graph);
        match compiled.format {
            Format::Module | Format::Json => {
                Module::declare(ctx.clone(), name, compiled.code.as_bytes())
            }
            Format::CommonJs => {
                let names = self
                    .graph
                    .borrow_mut()
                    .commonjs_names(name, &compiled.code, 0);
                Module::declare(ctx.clone(), name, commonjs::face(name, &names))
            }
        }
    }
}
