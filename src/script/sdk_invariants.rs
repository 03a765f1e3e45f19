//! The invariants the speed tricks at the top of `sdk.js` rely on. Each test
//! fails when the code drifts from what its trick assumes, instead of the
//! trick silently costing its figure (or, for the written-out entry point,
//! changing behaviour).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use regex::Regex;

use super::host::HostState;
use super::runtime::{Entry, JsRuntime};
use crate::core::bus::EventBus;
use crate::core::config::KvLocation;
use crate::core::events::{HandlerKind, Payload};
use crate::kv::KvStore;

const SDK_JS: &str = include_str!("sdk.js");

/// The quoted keys of every `anchorSteps(make, [...])` call, in order.
fn anchor_key_lists() -> Vec<Vec<String>> {
    let call = Regex::new(r"anchorSteps\(\s*[^,]+,\s*\[([^\]]*)\]").expect("a valid pattern");
    let key = Regex::new(r"'([A-Za-z]+)'").expect("a valid pattern");
    call.captures_iter(SDK_JS)
        .map(|found| {
            key.captures_iter(&found[1])
                .map(|key| key[1].to_owned())
                .collect()
        })
        .collect()
}

/// The properties `WebsocketRequest`'s constructor assigns, in order.
fn request_constructor_keys() -> Vec<String> {
    let class = SDK_JS
        .split("class WebsocketRequest {")
        .nth(1)
        .expect("sdk.js defines WebsocketRequest");
    let constructor = class
        .split("constructor(")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("WebsocketRequest has a constructor");
    let assignment = Regex::new(r"this\.([A-Za-z]+) =").expect("a valid pattern");
    assignment
        .captures_iter(constructor)
        .map(|found| found[1].to_owned())
        .collect()
}

/// The keys of every ctx literal (`{ req: …, res: { success: … } }`).
fn ctx_literal_keys() -> Vec<(Vec<String>, Vec<String>)> {
    let literal = Regex::new(
        r"\{\s*req:\s*new WebsocketRequest\([^)]*\),\s*res:\s*\{\s*(\w+):[^}]*\},?\s*\}",
    )
    .expect("a valid pattern");
    literal
        .captures_iter(SDK_JS)
        .map(|found| {
            (
                vec!["req".to_owned(), "res".to_owned()],
                vec![found[1].to_owned()],
            )
        })
        .collect()
}

#[test]
fn shape_anchors_follow_the_layouts_they_anchor() {
    let anchors = anchor_key_lists();
    assert_eq!(
        anchors.len(),
        3,
        "ctx, ctx.res and ctx.req anchors: {anchors:?}"
    );
    assert_eq!(
        anchors[2],
        request_constructor_keys(),
        "ctx.req anchor vs constructor"
    );
    let literals = ctx_literal_keys();
    // `run` and the message entry, its written-out copy, each build one.
    assert_eq!(literals.len(), 2, "ctx literals found: {literals:?}");
    for (ctx_keys, res_keys) in literals {
        assert_eq!(anchors[0], ctx_keys, "ctx anchor vs ctx literal");
        assert_eq!(anchors[1], res_keys, "ctx.res anchor vs ctx.res literal");
    }
}

/// Answers each message as its text says, so one handler covers every way
/// a chain can end.
const ANSWERS_AS_TOLD: &str = "import { websocket } from '@nitric/sdk';
const socket = websocket('s');
const expectedShape = (ctx) => Object.keys(ctx).join() === 'req,res'
  && Object.keys(ctx.req).join() === 'socket,eventType,connectionId,query,data'
  && ctx.req.eventType === 'message' && ctx.req.socket === 's'
  && JSON.stringify(ctx.req.query) === '{}' && ctx.res.success === true;
socket.on('message', (ctx) => {
  switch (ctx.req.data) {
    case 'undefined': return undefined;
    case 'ctx': return ctx;
    case 'deny': ctx.res.success = false; return ctx;
    case 'other ctx': return { res: { success: false } };
    case 'not a ctx': return 42;
    case 'async': return Promise.resolve(ctx);
    case 'async deny': return Promise.resolve().then(() => { ctx.res.success = false; });
    case 'throw': throw new Error('told to');
    case 'reject': return Promise.reject(new Error('told to'));
    case 'shape': ctx.res.success = expectedShape(ctx); return ctx;
    default: return ctx;
  }
});";

#[test]
fn the_message_entry_behaves_as_the_generic_one() {
    let bus = EventBus::new(64);
    let kv = KvStore::open(&KvLocation::Memory, bus.clone()).expect("in-memory kv");
    let host = Rc::new(RefCell::new(HostState::new(kv, bus, String::new())));
    let mut runtime = JsRuntime::new(host, 16 << 20, Duration::from_secs(1)).expect("a runtime");
    runtime
        .load("answers.js", ANSWERS_AS_TOLD)
        .expect("the script loads");
    let connection_id = uuid::Uuid::new_v4();
    let expected_success = [
        ("undefined", Some(true)),
        ("ctx", Some(true)),
        ("deny", Some(false)),
        ("other ctx", Some(false)),
        ("not a ctx", Some(true)),
        ("async", Some(true)),
        ("async deny", Some(false)),
        ("throw", None),
        ("reject", None),
        ("shape", Some(true)),
    ];
    for (text, expected) in expected_success {
        let payload = Payload::Text(text.into());
        let outcome = |runtime: &mut JsRuntime, entry| {
            let (result, rejections) = runtime.dispatch_through(
                entry,
                HandlerKind::Message,
                connection_id,
                None,
                Some(&payload),
            );
            (result.map_err(|failure| failure.message), rejections.len())
        };
        let through_message_entry = outcome(&mut runtime, Entry::Message);
        let through_generic_entry = outcome(&mut runtime, Entry::Generic);
        assert_eq!(
            through_message_entry, through_generic_entry,
            "message {text:?}"
        );
        assert_eq!(
            through_message_entry.0.as_ref().ok().copied(),
            expected,
            "message {text:?}: {through_message_entry:?}"
        );
    }
}
