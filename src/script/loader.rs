//! Module resolution: scripts may import `@nitric/sdk` and nothing else.

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error, Module, Result};

/// The one importable module.
pub(crate) const SDK_MODULE: &str = "@nitric/sdk";

/// Resolves `@nitric/sdk` and refuses everything else with a message that
/// says why (the sandbox has no filesystem, network or other modules).
pub(crate) struct SdkResolver;

impl Resolver for SdkResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        if name == SDK_MODULE {
            Ok(name.to_owned())
        } else {
            Err(Error::new_resolving_message(
                base,
                name,
                format!("only '{SDK_MODULE}' can be imported in sockscope handlers"),
            ))
        }
    }
}

/// Loads the SDK's source. Unlike rquickjs' `BuiltinLoader` it keeps the
/// source, so every context (one per script reload) can import it.
pub(crate) struct SdkLoader {
    pub(crate) source: &'static str,
}

impl Loader for SdkLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        if name == SDK_MODULE {
            Module::declare(ctx.clone(), name, self.source)
        } else {
            Err(Error::new_loading_message(name, "module not available"))
        }
    }
}
