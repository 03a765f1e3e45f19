//! Which thread carries the sockets: the server's (the default) or the
//! script thread itself (`--low-cpu`).

use std::sync::Arc;
use std::time::Duration;

use super::host::{Gateway, NoConnections};
use super::modules::ServiceSource;
use super::turns::TurnOrder;
use super::{ScriptHost, ScriptSettings};
use crate::core::bus::EventBus;
use crate::core::config::KvLocation;
use crate::core::events::ConnectionId;
use crate::core::query::parse_query;
use crate::kv::KvStore;
use crate::runtime::ConnectVerdict;

const WAIT: Duration = Duration::from_secs(10);

/// A connect handler that waits for a kv write (so its answer waits for
/// the group commit) and denies `?name=bad`.
const GUARD: &str = "import { websocket, kv } from '@nitric/sdk';
const seen = kv('connections').allow('set');
websocket('socket').on('connect', async (ctx) => {
  await seen.set(ctx.websocket.connectionId, { at: 1 });
  ctx.res.success = ctx.req.query.name?.[0] !== 'bad';
  return ctx;
});
";

fn start(shares_thread_with_sockets: bool) -> ScriptHost {
    let bus = EventBus::new(256);
    let kv = KvStore::open(&KvLocation::Memory, bus.clone()).expect("in-memory kv");
    let settings = ScriptSettings {
        handler_timeout: Duration::from_secs(5),
        memory_limit_bytes: 64 << 20,
        url: String::new(),
        directory: Arc::new(NoConnections),
        gateway: Gateway::default(),
        order: TurnOrder::default(),
        shares_thread_with_sockets,
    };
    ScriptHost::start(settings, kv, bus).expect("the script thread starts")
}

fn stop(host: &ScriptHost) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(host.stop());
}

#[test]
fn under_low_cpu_the_sockets_run_on_the_script_thread_and_await_it_there() {
    let host = start(true);
    let sockets = host.sockets_runtime().expect("a runtime for the sockets");
    let (answer, answered) = std::sync::mpsc::channel();
    let socket_side = host.clone();
    sockets.spawn(async move {
        let thread = std::thread::current().name().map(str::to_owned);
        // A socket task waits for the job loop on the same thread: the loop
        // must run between its polls, or this never ends.
        let loaded = socket_side
            .load(vec![ServiceSource {
                path: "guard.js".into(),
                source: GUARD.to_owned(),
            }])
            .await
            .map(|loaded| loaded.sockets);
        let mut verdicts = Vec::new();
        for query in ["name=good", "name=bad"] {
            let verdict = socket_side
                .connect(
                    ConnectionId::new_v4(),
                    Arc::from("socket"),
                    parse_query(query),
                )
                .await;
            verdicts.push(verdict);
        }
        let _ = answer.send((thread, loaded, verdicts));
    });
    let (thread, loaded, verdicts) = answered
        .recv_timeout(WAIT)
        .expect("the socket task got its answers");
    assert_eq!(thread.as_deref(), Some("sockscope-script"));
    assert_eq!(loaded, Ok(vec!["socket".to_owned()]));
    assert_eq!(verdicts, [ConnectVerdict::Accept, ConnectVerdict::Deny]);
    stop(&host);
}

#[test]
fn by_default_the_sockets_stay_on_the_servers_threads() {
    let host = start(false);
    assert!(host.sockets_runtime().is_none());
    stop(&host);
}
