//! Real projects in the embedded lane: TypeScript, relative modules, npm
//! packages (ES modules and CommonJS), JSON, and Node's built-ins as far as
//! the sandbox allows — all read by the loader, never by handler code.

mod builtins;
mod commonjs;
mod graph;
mod helpers;
mod resolve;
mod source_map;
mod sources;
mod transpile;

use rquickjs::context::EvalOptions;
use rquickjs::{Ctx, Exception, Function, Module, Object, Result, TypedArray};

pub(crate) use graph::{Format, GraphLoader, GraphResolver, ModuleGraph, SharedGraph};
pub(crate) use resolve::{SDK_MODULE, project_root};
pub(crate) use sources::ModuleSources;
pub(crate) use transpile::{caret_excerpt, parses_as_typescript};

use resolve::Mode;

/// One service file to load: its path and its text (the editor's buffer
/// or the file's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceSource {
    pub path: std::path::PathBuf,
    pub source: String,
}

/// The scripts every context runs before the user's modules, after the
/// prelude: the built-ins, then `require`.
pub(crate) const CONTEXT_SCRIPTS: [(&str, &str); 2] = [
    ("sockscope:builtins", builtins::BUILTINS_JS),
    ("sockscope:commonjs", commonjs::COMMONJS_JS),
];

/// Host functions `commonjs.js` and `builtins.js` call.
pub(crate) mod names {
    pub(crate) const RESOLVE_MODULE: &str = "resolveModule";
    pub(crate) const MODULE_FILE: &str = "moduleFile";
    pub(crate) const MODULE_TEXT: &str = "moduleText";
    pub(crate) const COMMONJS_BODY: &str = "commonJsBody";
    pub(crate) const IMPORT_NAMESPACE: &str = "importNamespace";
    pub(crate) const RANDOM_BYTES: &str = "randomBytes";
    pub(crate) const RANDOM_UUID: &str = "randomUuid";
    #[cfg(test)]
    pub(crate) const ALL: [&str; 7] = [
        RESOLVE_MODULE,
        MODULE_FILE,
        MODULE_TEXT,
        COMMONJS_BODY,
        IMPORT_NAMESPACE,
        RANDOM_BYTES,
        RANDOM_UUID,
    ];
}

/// The name the module at `path` gets: its path inside its project.
pub(crate) fn module_name(path: &std::path::Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    graph::name_in(&project_root(path), &absolute)
}

/// The ES module source `Module::declare` gets for the entry.
pub(crate) fn entry_source(graph: &SharedGraph, name: &str, compiled: &graph::Compiled) -> String {
    match compiled.format {
        Format::CommonJs => {
            let names = graph.borrow_mut().commonjs_names(name, &compiled.code, 0);
            commonjs::face(name, &names)
        }
        Format::Module | Format::Json => compiled.code.to_string(),
    }
}

fn thrown(ctx: &Ctx<'_>, message: &str, code: &str) -> rquickjs::Error {
    match Exception::from_message(ctx.clone(), message) {
        Ok(exception) => {
            let _ = exception.set("code", code);
            ctx.throw(exception.into_value())
        }
        Err(error) => error,
    }
}

/// Adds the module host functions to the host object of a context.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, host: &Object<'js>, graph: &SharedGraph) -> Result<()> {
    let shared = graph.clone();
    host.set(
        names::RESOLVE_MODULE,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, specifier: String, from: String| {
                let resolved = shared
                    .borrow_mut()
                    .resolve(&from, &specifier, Mode::Require);
                match resolved {
                    Ok((name, kind)) => Ok(vec![name, kind.to_owned()]),
                    Err(message) => Err(thrown(
                        &ctx,
                        &format!("Cannot find module '{specifier}' from '{from}': {message}"),
                        "MODULE_NOT_FOUND",
                    )),
                }
            },
        )?,
    )?;
    let shared = graph.clone();
    host.set(
        names::MODULE_FILE,
        Function::new(ctx.clone(), move |name: String| {
            shared
                .borrow()
                .file_of(&name)
                .map(|path| path.display().to_string())
                .unwrap_or(name)
        })?,
    )?;
    let shared = graph.clone();
    host.set(
        names::MODULE_TEXT,
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| {
            let compiled = compiled(&ctx, &shared, &name)?;
            Ok::<_, rquickjs::Error>(compiled.original.to_string())
        })?,
    )?;
    let shared = graph.clone();
    host.set(
        names::COMMONJS_BODY,
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| {
            let compiled = compiled(&ctx, &shared, &name)?;
            let mut options = EvalOptions::default();
            options.strict = false;
            options.filename = Some(name);
            ctx.eval_with_options::<Function, _>(commonjs::wrap(&compiled.code), options)
        })?,
    )?;
    let shared = graph.clone();
    host.set(
        names::IMPORT_NAMESPACE,
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| {
            shared.borrow_mut().by_name = Some(name.clone());
            let imported = Module::import(&ctx, name);
            shared.borrow_mut().by_name = None;
            imported?.finish::<Object>()
        })?,
    )?;
    host.set(
        names::RANDOM_BYTES,
        Function::new(ctx.clone(), |ctx: Ctx<'js>, size: usize| {
            let mut bytes = vec![0u8; size.min(1 << 20)];
            getrandom::fill(&mut bytes)
                .map_err(|error| thrown(&ctx, &error.to_string(), "ERR_CRYPTO"))?;
            TypedArray::<u8>::new(ctx.clone(), bytes).map(|array| array.into_value())
        })?,
    )?;
    host.set(
        names::RANDOM_UUID,
        Function::new(ctx.clone(), || uuid::Uuid::new_v4().to_string())?,
    )?;
    Ok(())
}

fn compiled(
    ctx: &Ctx<'_>,
    graph: &SharedGraph,
    name: &str,
) -> Result<std::sync::Arc<graph::Compiled>> {
    let mut graph = graph.borrow_mut();
    let path = graph.file_of(name).cloned().ok_or_else(|| {
        thrown(
            ctx,
            &format!("Cannot find module '{name}'"),
            "MODULE_NOT_FOUND",
        )
    })?;
    graph
        .compile(&path)
        .map_err(|message| thrown(ctx, &message, "ERR_SOCKSCOPE_LOAD"))
}
