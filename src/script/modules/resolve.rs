//! Where an import points, as Node finds it: relative files with the usual
//! extension and `index` lookup, packages in `node_modules` through their
//! `package.json`, Node's built-ins — confined to the project.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::builtins;

/// The module every handler imports; served from our copy of the SDK.
pub(crate) const SDK_MODULE: &str = "@nitric/sdk";

/// What a specifier resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    Sdk,
    /// A Node built-in, by its bare name (`fs`, `fs/promises`).
    Builtin(&'static str),
    /// One of oxc's lowering helpers (`@oxc-project/runtime/helpers/decorate`).
    Helper(String),
    File(PathBuf),
}

/// Who is asking: `import` and `require` see different `exports` conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Import,
    Require,
}

impl Mode {
    fn condition(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Require => "require",
        }
    }
}

/// Extensions tried, in order, for `./x` and `./x/index`.
const EXTENSIONS: [&str; 8] = ["ts", "mts", "cts", "js", "mjs", "cjs", "json", "tsx"];

/// The project a script belongs to: the nearest folder up with
/// `nitric.yaml` or `package.json`, else the script's own folder.
pub(crate) fn project_root(script: &Path) -> PathBuf {
    let script = std::path::absolute(script).unwrap_or_else(|_| script.to_path_buf());
    let folder = script.parent().map(Path::to_path_buf).unwrap_or_default();
    folder
        .ancestors()
        .find(|dir| {
            ["nitric.yaml", "nitric.yml", "package.json"]
                .iter()
                .any(|marker| dir.join(marker).is_file())
        })
        .map(Path::to_path_buf)
        .unwrap_or(folder)
}

/// Resolves `specifier` imported by the file `importer` in the project `root`.
pub(crate) fn resolve(
    specifier: &str,
    importer: &Path,
    root: &Path,
    mode: Mode,
) -> Result<Resolved, String> {
    if specifier == SDK_MODULE {
        return Ok(Resolved::Sdk);
    }
    if let Some(helper) = specifier.strip_prefix("@oxc-project/runtime/") {
        return Ok(Resolved::Helper(helper.to_owned()));
    }
    if let Some(name) = builtins::name(specifier) {
        return Ok(Resolved::Builtin(name));
    }
    let base = importer.parent().unwrap_or(root);
    if specifier.starts_with("./") || specifier.starts_with("../") || specifier.starts_with('/') {
        let wanted = normalize(&base.join(specifier));
        let boundary = boundary(importer, root);
        if !wanted.starts_with(&boundary) {
            return Err(format!(
                "'{specifier}' resolves to {}, outside the project at {}; \
                 imports stay inside the project folder",
                wanted.display(),
                boundary.display()
            ));
        }
        let found = file_or_directory(&wanted).ok_or_else(|| {
            format!(
                "cannot find module '{specifier}' (looked for {})",
                tried(&wanted)
            )
        })?;
        confined(found, &boundary, specifier).map(Resolved::File)
    } else if specifier.starts_with(SDK_MODULE) {
        Err(format!(
            "'{specifier}' is not part of the SDK's public API; import from '{SDK_MODULE}'"
        ))
    } else {
        package(specifier, base, mode).map(Resolved::File)
    }
}

/// The folder a relative import must stay in: the package it is in, or
/// the project.
fn boundary(importer: &Path, root: &Path) -> PathBuf {
    let importer = normalize(importer);
    let mut package = None;
    let mut components = importer.components().peekable();
    let mut so_far = PathBuf::new();
    while let Some(component) = components.next() {
        so_far.push(component);
        if component.as_os_str() == "node_modules"
            && let Some(next) = components.peek()
        {
            let mut dir = so_far.join(next);
            if next.as_os_str().to_string_lossy().starts_with('@') {
                let mut ahead = components.clone();
                ahead.next();
                if let Some(name) = ahead.next() {
                    dir.push(name);
                }
            }
            package = Some(dir);
        }
    }
    package.unwrap_or_else(|| normalize(root))
}

/// Refuses a file that a symlink took out of the boundary.
fn confined(found: PathBuf, boundary: &Path, specifier: &str) -> Result<PathBuf, String> {
    let real = found.canonicalize().unwrap_or_else(|_| found.clone());
    let real_boundary = boundary
        .canonicalize()
        .unwrap_or_else(|_| boundary.to_path_buf());
    if real.starts_with(&real_boundary)
        || real.components().any(|c| c.as_os_str() == "node_modules")
    {
        Ok(found)
    } else {
        Err(format!(
            "'{specifier}' leads to {} through a link, outside the project at {}",
            real.display(),
            boundary.display()
        ))
    }
}

fn tried(wanted: &Path) -> String {
    format!(
        "{0}, {0}.{{ts,js,…}} and {0}/index.{{ts,js,…}}",
        wanted.display()
    )
}

/// `.` and `..` removed without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `x` as a file, `x` with an extension (`./x.js` may be `x.ts`, as
/// TypeScript's NodeNext writes it), or `x/index.*`.
fn file_or_directory(wanted: &Path) -> Option<PathBuf> {
    if wanted.is_file() {
        return Some(wanted.to_path_buf());
    }
    if let Some(stem) = typescript_twin(wanted)
        && stem.is_file()
    {
        return Some(stem);
    }
    with_extension(wanted).or_else(|| {
        if wanted.is_dir() {
            directory_main(wanted).or_else(|| with_extension(&wanted.join("index")))
        } else {
            None
        }
    })
}

fn with_extension(wanted: &Path) -> Option<PathBuf> {
    let name = wanted.file_name()?.to_string_lossy().into_owned();
    EXTENSIONS
        .iter()
        .map(|extension| wanted.with_file_name(format!("{name}.{extension}")))
        .find(|candidate| candidate.is_file())
}

/// `./x.js` written for `x.ts` (and `.mjs`/`.cjs` for `.mts`/`.cts`).
fn typescript_twin(wanted: &Path) -> Option<PathBuf> {
    let twin = match wanted.extension()?.to_str()? {
        "js" => "ts",
        "mjs" => "mts",
        "cjs" => "cts",
        _ => return None,
    };
    Some(wanted.with_extension(twin))
}

/// A folder with a `package.json` whose `main` names the file.
fn directory_main(dir: &Path) -> Option<PathBuf> {
    let manifest = read_manifest(dir)?;
    let main = manifest.get("main")?.as_str()?;
    file_or_directory(&normalize(&dir.join(main)))
}

fn read_manifest(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// `name` or `@scope/name`, and the rest (`./sub/path` or `.`).
fn split_package(specifier: &str) -> Option<(&str, String)> {
    let mut slashes = specifier.match_indices('/').map(|(at, _)| at);
    let end = if specifier.starts_with('@') {
        slashes.nth(1)
    } else {
        slashes.next()
    };
    match end {
        Some(end) => Some((&specifier[..end], format!(".{}", &specifier[end..]))),
        None if !specifier.is_empty() => Some((specifier, ".".to_owned())),
        None => None,
    }
}

/// A package from the nearest `node_modules` up from `base`.
fn package(specifier: &str, base: &Path, mode: Mode) -> Result<PathBuf, String> {
    let (name, subpath) =
        split_package(specifier).ok_or_else(|| format!("'{specifier}' is not a module name"))?;
    let dir = base
        .ancestors()
        .map(|dir| dir.join("node_modules").join(name))
        .find(|dir| dir.is_dir())
        .ok_or_else(|| {
            format!(
                "cannot find package '{name}' in node_modules (from {}); \
                 run `npm install` in the project",
                base.display()
            )
        })?;
    let manifest = read_manifest(&dir).unwrap_or(Value::Null);
    if let Some(exports) = read_exports(&dir) {
        let target = exported(&exports, &subpath, mode).ok_or_else(|| {
            format!(
                "package '{name}' does not export '{subpath}' (see its package.json \"exports\")"
            )
        })?;
        let file = normalize(&dir.join(target));
        return if file.is_file() {
            Ok(file)
        } else {
            Err(format!(
                "package '{name}' exports '{subpath}' as {}, which does not exist",
                file.display()
            ))
        };
    }
    let wanted = if subpath == "." {
        match manifest.get("main").and_then(Value::as_str) {
            Some(main) => normalize(&dir.join(main)),
            None => dir.join("index"),
        }
    } else {
        normalize(&dir.join(&subpath))
    };
    file_or_directory(&wanted)
        .or_else(|| with_extension(&dir.join("index")).filter(|_| subpath == "."))
        .ok_or_else(|| format!("cannot find '{specifier}' in {}", dir.display()))
}

/// A package's `exports`, with its keys in the order the file lists them
/// (conditions are tried in that order).
#[derive(Debug, PartialEq)]
enum Exports {
    Path(String),
    Options(Vec<Exports>),
    Map(Vec<(String, Exports)>),
    Nothing,
}

impl<'de> serde::Deserialize<'de> for Exports {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Exports;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a package.json exports value")
            }
            fn visit_str<E>(self, text: &str) -> Result<Exports, E> {
                Ok(Exports::Path(text.to_owned()))
            }
            fn visit_unit<E>(self) -> Result<Exports, E> {
                Ok(Exports::Nothing)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Exports, E> {
                Ok(Exports::Nothing)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Exports, E> {
                Ok(Exports::Nothing)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Exports, E> {
                Ok(Exports::Nothing)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Exports, E> {
                Ok(Exports::Nothing)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Exports, A::Error> {
                let mut options = Vec::new();
                while let Some(option) = seq.next_element()? {
                    options.push(option);
                }
                Ok(Exports::Options(options))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Exports, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Exports::Map(entries))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

fn read_exports(dir: &Path) -> Option<Exports> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        exports: Option<Exports>,
    }
    let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
    serde_json::from_str::<Manifest>(&text).ok()?.exports
}

/// The target of `subpath` in a package's `exports`, with Node's
/// conditions for `mode` taken in the order the package lists them.
fn exported(exports: &Exports, subpath: &str, mode: Mode) -> Option<String> {
    let map = match exports {
        Exports::Map(map) if map.first().is_some_and(|(key, _)| key.starts_with('.')) => map,
        _ => {
            return (subpath == ".")
                .then(|| conditional(exports, mode, None))
                .flatten();
        }
    };
    if let Some((_, target)) = map.iter().find(|(key, _)| key == subpath) {
        return conditional(target, mode, None);
    }
    // Patterns: "./features/*": "./src/features/*.js"; the longest prefix wins.
    map.iter()
        .filter_map(|(key, target)| {
            let (prefix, suffix) = key.split_once('*')?;
            let middle = subpath.strip_prefix(prefix)?.strip_suffix(suffix)?;
            Some((prefix.len(), target, middle))
        })
        .max_by_key(|(length, _, _)| *length)
        .and_then(|(_, target, middle)| conditional(target, mode, Some(middle)))
}

fn conditional(target: &Exports, mode: Mode, star: Option<&str>) -> Option<String> {
    match target {
        Exports::Path(path) => Some(match star {
            Some(middle) => path.replace('*', middle),
            None => path.clone(),
        }),
        Exports::Options(options) => options
            .iter()
            .find_map(|option| conditional(option, mode, star)),
        Exports::Map(conditions) => conditions.iter().find_map(|(condition, nested)| {
            let active = ["default", "node", mode.condition()].contains(&condition.as_str());
            active.then(|| conditional(nested, mode, star)).flatten()
        }),
        Exports::Nothing => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn relative_imports_find_extensions_index_files_and_ts_twins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "services/chat.ts", "");
        write(root, "resources/signal.ts", "");
        write(root, "resources/index.ts", "");
        write(root, "lib/util.ts", "");
        let chat = root.join("services/chat.ts");
        let find = |spec: &str| resolve(spec, &chat, root, Mode::Import);
        assert_eq!(
            find("../resources/signal"),
            Ok(Resolved::File(root.join("resources/signal.ts")))
        );
        assert_eq!(
            find("../resources"),
            Ok(Resolved::File(root.join("resources/index.ts")))
        );
        assert_eq!(
            find("../lib/util.js"),
            Ok(Resolved::File(root.join("lib/util.ts")))
        );
        assert_eq!(find("@nitric/sdk"), Ok(Resolved::Sdk));
        assert_eq!(find("node:fs"), Ok(Resolved::Builtin("fs")));
        assert!(
            find("./missing")
                .expect_err("missing")
                .contains("cannot find module './missing'")
        );
    }

    #[test]
    fn an_import_that_leaves_the_project_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "outside.js", "");
        write(dir.path(), "app/package.json", "{}");
        write(dir.path(), "app/main.js", "");
        let root = dir.path().join("app");
        assert_eq!(project_root(&root.join("main.js")), root);
        let error = resolve("../outside.js", &root.join("main.js"), &root, Mode::Import)
            .expect_err("refused");
        assert!(error.contains("outside the project"), "{error}");
        assert!(error.contains(&dir.path().join("outside.js").display().to_string()));
    }

    #[test]
    fn packages_resolve_through_exports_conditions_main_and_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "package.json", "{}");
        write(root, "main.js", "");
        write(
            root,
            "node_modules/dual/package.json",
            r#"{"exports":{".":{"import":"./esm/index.mjs","require":"./cjs/index.cjs"},"./util/*":"./lib/*.js"}}"#,
        );
        write(root, "node_modules/dual/esm/index.mjs", "");
        write(root, "node_modules/dual/cjs/index.cjs", "");
        write(root, "node_modules/dual/lib/strings.js", "");
        write(
            root,
            "node_modules/plain/package.json",
            r#"{"main":"lib/plain"}"#,
        );
        write(root, "node_modules/plain/lib/plain.js", "");
        write(root, "node_modules/@scope/bare/index.js", "");
        let main = root.join("main.js");
        let file = |spec: &str, mode| match resolve(spec, &main, root, mode) {
            Ok(Resolved::File(path)) => path
                .strip_prefix(root)
                .expect("inside")
                .display()
                .to_string(),
            other => panic!("{spec}: {other:?}"),
        };
        assert_eq!(
            file("dual", Mode::Import),
            "node_modules/dual/esm/index.mjs"
        );
        assert_eq!(
            file("dual", Mode::Require),
            "node_modules/dual/cjs/index.cjs"
        );
        assert_eq!(
            file("dual/util/strings", Mode::Import),
            "node_modules/dual/lib/strings.js"
        );
        assert_eq!(
            file("plain", Mode::Import),
            "node_modules/plain/lib/plain.js"
        );
        assert_eq!(
            file("@scope/bare", Mode::Import),
            "node_modules/@scope/bare/index.js"
        );
        let error = resolve("absent", &main, root, Mode::Import).expect_err("absent");
        assert!(error.contains("npm install"), "{error}");
        let error = resolve("dual/private", &main, root, Mode::Import).expect_err("not exported");
        assert!(error.contains("does not export './private'"), "{error}");
    }

    #[test]
    fn conditions_follow_the_package_order() {
        // As uuid 9 lists them: "browser" and "default" after "node".
        let exports: Exports = serde_json::from_str(
            r#"{"node": {"module": "./m.js", "require": "./n.cjs", "import": "./n.mjs"}, "browser": "./b.js", "default": "./d.js"}"#,
        )
        .expect("exports");
        assert_eq!(
            exported(&exports, ".", Mode::Import).as_deref(),
            Some("./n.mjs")
        );
        assert_eq!(
            exported(&exports, ".", Mode::Require).as_deref(),
            Some("./n.cjs")
        );
        let only = Exports::Path("./only.js".to_owned());
        assert_eq!(
            exported(&only, ".", Mode::Import).as_deref(),
            Some("./only.js")
        );
        assert_eq!(exported(&only, "./x", Mode::Import), None);
    }

    #[test]
    fn relative_imports_inside_a_package_stay_in_that_package() {
        let importer = Path::new("/p/node_modules/@s/pkg/lib/a.js");
        assert_eq!(
            boundary(importer, Path::new("/p")),
            PathBuf::from("/p/node_modules/@s/pkg")
        );
        assert_eq!(
            boundary(Path::new("/p/src/a.ts"), Path::new("/p")),
            PathBuf::from("/p")
        );
    }
}
