//! Loading a script, or a project's services: each service file and what
//! it imports in a context of its own, all or nothing.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use rquickjs::{CatchResultExt, Context, Function, Module, Object, Persistent};
use rustc_hash::FxHashMap;

use super::deferred::realm_of;
use super::host;
use super::host_api;
use super::modules::{self, SDK_MODULE, ServiceSource};
use super::runtime::{JsRuntime, LoadReport, Loaded, PRELUDE_JS};
use crate::core::events::ScriptFailure;

/// A service that loaded, and what it declared and handles.
struct LoadedService {
    loaded: Loaded,
    sockets: Vec<String>,
    /// `socket:event` for every registered handler chain.
    handled: Vec<String>,
}

impl JsRuntime {
    /// Compiles and runs every service file and what it imports, each in a
    /// fresh context of its own. On success the new handlers replace the
    /// old ones; if any service fails, the old ones stay. Top-level awaits
    /// on kv calls get their turns here.
    pub(crate) fn load(&mut self, services: &[ServiceSource]) -> Result<LoadReport, ScriptFailure> {
        let (names, sources) = self.graph.borrow_mut().begin(services);
        let previous_sources =
            std::mem::replace(&mut self.host.borrow_mut().sources, Rc::clone(&sources));
        let mut loaded = Vec::with_capacity(names.len());
        let mut failure = None;
        for (index, name) in names.iter().enumerate() {
            match self.load_service(index, name) {
                Ok(service) => loaded.push(service),
                Err(failed) => {
                    failure = Some(failed);
                    break;
                }
            }
        }
        let pending = self.take_rejections();
        let routed = match failure {
            Some(failure) => Err(failure),
            None => route_sockets(&names, &loaded),
        };
        let (sockets, owners) = match routed {
            Ok(routed) => routed,
            Err(failure) => {
                self.host.borrow_mut().sources = previous_sources;
                return Err(super::load_failure::explain(
                    failure,
                    &self.graph.borrow(),
                    &sources.borrow(),
                ));
            }
        };
        let mut warnings: Vec<String> = pending
            .into_iter()
            .map(|failure| format!("unhandled promise rejection while loading: {failure}"))
            .collect();
        warnings.extend(load_warnings(&names, &sockets, &loaded));
        self.socket_services = owners;
        self.loaded = loaded.into_iter().map(|service| service.loaded).collect();
        Ok(LoadReport {
            sockets,
            warnings,
            files: sources.borrow().own_files(),
        })
    }

    fn load_service(&mut self, index: usize, name: &str) -> Result<LoadedService, ScriptFailure> {
        let context = Context::full(&self.runtime).map_err(|error| ScriptFailure {
            message: format!("cannot create a JavaScript context: {error}"),
            location: None,
            stack: None,
        })?;
        self.deadline
            .set(Some(Instant::now() + self.handler_timeout));
        let result = context.with(|ctx| {
            let evaluated = (|| -> rquickjs::Result<_> {
                let host_object = host::install(&ctx, &self.host)?;
                super::host_kv::install(&ctx, &host_object, &self.host)?;
                super::topics::install(&ctx, &host_object, &self.host)?;
                modules::install(&ctx, &host_object, &self.graph)?;
                ctx.eval::<(), _>(PRELUDE_JS)?;
                for (script_name, script) in modules::CONTEXT_SCRIPTS {
                    let mut options = rquickjs::context::EvalOptions::default();
                    options.filename = Some(script_name.to_owned());
                    ctx.eval_with_options::<(), _>(script, options)?;
                }
                Module::import(&ctx, SDK_MODULE)?.finish::<Object>()?;
                let provider_error: Function = host_object.get(host_api::PROVIDER_ERROR)?;
                let entry = self.graph.borrow_mut().entry(index);
                let code = match entry {
                    Ok(compiled) => modules::entry_source(&self.graph, name, &compiled),
                    Err(message) => {
                        return Err(rquickjs::Error::new_loading_message(name, message));
                    }
                };
                let (_module, done) = Module::declare(ctx.clone(), name, code)?.eval()?;
                self.finish_with_turns(&ctx, &provider_error, &done)?;
                let dispatch: Function = host_object.get(host_api::DISPATCH)?;
                let dispatch_message: Function = host_object.get(host_api::DISPATCH_MESSAGE)?;
                let socket_names: Function = host_object.get(host_api::SOCKET_NAMES)?;
                let handled_events: Function = host_object.get(host_api::HANDLED_EVENTS)?;
                let deliver_topic: Function = host_object.get(host_api::DELIVER_TOPIC)?;
                let success_of: Function = host_object.get(host_api::SUCCESS_OF)?;
                let await_thenable: Function = host_object.get(host_api::AWAIT_THENABLE)?;
                let awaiting: rquickjs::Array = host_object.get(host_api::AWAITING)?;
                let sockets: Vec<String> = socket_names.call(())?;
                let handled: Vec<String> = handled_events.call(())?;
                let entries = Entries {
                    dispatch,
                    dispatch_message,
                    provider_error,
                    deliver_topic,
                    success_of,
                    await_thenable,
                };
                Ok((entries, Persistent::save(&ctx, awaiting), sockets, handled))
            })();
            match evaluated.catch(&ctx) {
                Ok((entries, awaiting, sockets, handled)) => Ok((
                    entries.save(&ctx),
                    awaiting,
                    sockets,
                    handled,
                    realm_of(&ctx),
                )),
                Err(caught) => Err(self.failure_from(&ctx, caught)),
            }
        });
        self.deadline.set(None);
        let (entries, awaiting, sockets, handled, realm) = result?;
        Ok(LoadedService {
            loaded: Loaded {
                realm,
                dispatch: entries.dispatch,
                dispatch_message: entries.dispatch_message,
                provider_error: entries.provider_error,
                deliver_topic: entries.deliver_topic,
                success_of: entries.success_of,
                await_thenable: entries.await_thenable,
                awaiting,
                context,
            },
            sockets,
            handled,
        })
    }
}

/// The SDK's entry points in a service's context.
struct Entries<F> {
    dispatch: F,
    dispatch_message: F,
    provider_error: F,
    deliver_topic: F,
    success_of: F,
    await_thenable: F,
}

impl<'js> Entries<Function<'js>> {
    fn save(self, ctx: &rquickjs::Ctx<'js>) -> Entries<Persistent<Function<'static>>> {
        Entries {
            dispatch: Persistent::save(ctx, self.dispatch),
            dispatch_message: Persistent::save(ctx, self.dispatch_message),
            provider_error: Persistent::save(ctx, self.provider_error),
            deliver_topic: Persistent::save(ctx, self.deliver_topic),
            success_of: Persistent::save(ctx, self.success_of),
            await_thenable: Persistent::save(ctx, self.await_thenable),
        }
    }
}

/// Which service (by index) serves each socket.
type SocketOwners = FxHashMap<Arc<str>, usize>;

/// Every socket in declaration order, and the service that serves each:
/// the one that registered its handlers (others may import the same
/// resources module), else the first that declared it.
fn route_sockets(
    names: &[String],
    services: &[LoadedService],
) -> Result<(Vec<String>, SocketOwners), ScriptFailure> {
    let mut sockets: Vec<String> = Vec::new();
    let mut owners = SocketOwners::default();
    let handles = |service: &LoadedService, socket: &str| {
        service.handled.iter().any(|event| {
            event
                .split_once(':')
                .is_some_and(|(name, _)| name == socket)
        })
    };
    for (index, service) in services.iter().enumerate() {
        for socket in &service.sockets {
            if !sockets.contains(socket) {
                sockets.push(socket.clone());
            }
            let owner = owners.get(socket.as_str()).copied();
            match owner {
                Some(other) if handles(service, socket) && handles(&services[other], socket) => {
                    return Err(ScriptFailure {
                        message: format!(
                            "websocket('{socket}') has handlers in {} and in {}: a socket's \
                             events go to one service",
                            names[other], names[index]
                        ),
                        location: None,
                        stack: None,
                    });
                }
                Some(other) if handles(&services[other], socket) => {}
                Some(_) if !handles(service, socket) => {}
                _ => {
                    owners.insert(socket.as_str().into(), index);
                }
            }
        }
    }
    Ok((sockets, owners))
}

/// What a loaded script should be told about what it registered.
fn load_warnings(names: &[String], sockets: &[String], services: &[LoadedService]) -> Vec<String> {
    let mut warnings = Vec::new();
    if sockets.is_empty() {
        warnings.push(format!(
            "{} declares no websocket(): there is nothing to serve, every upgrade is refused",
            names.join(", ")
        ));
    }
    for socket in sockets {
        let connect = format!("{socket}:connect");
        let handled = services
            .iter()
            .any(|service| service.handled.contains(&connect));
        if !handled {
            warnings.push(format!(
                "websocket('{socket}') has no connect handler: its upgrades are refused, as nitric start answers them (HTTP 200 without an upgrade)"
            ));
        }
    }
    warnings
}
