//! The invariants the speed tricks at the top of `sdk.js` rely on. Each test
//! fails when the code drifts from what its trick assumes, instead of the
//! trick silently costing its figure (or, for the written-out entry point,
//! changing behaviour).

use regex::Regex;

use super::answer::Outcome;
use super::runtime::Entry;
use super::turn_tests::loaded;
use crate::core::events::{HandlerKind, Payload};

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

/// The properties the constructor of `class` assigns, in order.
fn constructor_keys(class: &str) -> Vec<String> {
    let body = SDK_JS
        .split(&format!("class {class} {{"))
        .nth(1)
        .unwrap_or_else(|| panic!("sdk.js defines {class}"));
    let constructor = body
        .split("constructor(")
        .nth(1)
        .and_then(|rest| rest.split("\n  }").next())
        .unwrap_or_else(|| panic!("{class} has a constructor"));
    let assignment = Regex::new(r"this\.([A-Za-z]+) =").expect("a valid pattern");
    assignment
        .captures_iter(constructor)
        .map(|found| found[1].to_owned())
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
        anchors[0],
        constructor_keys("WebsocketNotificationContext"),
        "ctx anchor vs constructor"
    );
    let response = Regex::new(r"this\.response = \{ (\w+):").expect("a valid pattern");
    let response_keys: Vec<String> = response
        .captures_iter(SDK_JS)
        .map(|found| found[1].to_owned())
        .collect();
    assert_eq!(
        anchors[1], response_keys,
        "ctx.res anchor vs the response literal"
    );
    assert_eq!(
        anchors[2],
        constructor_keys("WebsocketNotificationRequest"),
        "ctx.req anchor vs constructor"
    );
}

/// Answers each message as its text says, so one handler covers every way
/// a chain can end.
const ANSWERS_AS_TOLD: &str = "import { websocket } from '@nitric/sdk';
const socket = websocket('s');
const expectedShape = (ctx) => Object.keys(ctx).join() === 'request,response'
  && Object.keys(ctx.req).join() === 'data,eventCaseToType,socket,eventType,connectionId,query'
  && ctx.req.data instanceof Uint8Array && ctx.req.data.constructor.name === 'Uint8Array'
  && ctx.req.eventType === 'message' && ctx.req.socket === 's' && ctx.websocket === ctx
  && JSON.stringify(ctx.req.query) === '{}' && ctx.res.success === true;
socket.on('message', (ctx) => {
  switch (ctx.req.text()) {
    case 'undefined': return undefined;
    case 'ctx': return ctx;
    case 'deny': ctx.res.success = false; return ctx;
    case 'falsy deny': ctx.res.success = 0; return ctx;
    case 'other ctx': return { websocket: { res: { success: false } } };
    case 'no websocket': return { res: { success: false } };
    case 'not a ctx': return 42;
    case 'false': return false;
    case 'async': return Promise.resolve(ctx);
    case 'async deny': return Promise.resolve().then(() => { ctx.res.success = false; });
    case 'async other ctx': return Promise.resolve({ websocket: { res: { success: false } } });
    case 'async not a ctx': return Promise.resolve(42);
    case 'async zero': return Promise.resolve(0);
    case 'async truthy': ctx.res.success = 'yes'; return Promise.resolve(ctx);
    case 'async no response': ctx.response = null; return Promise.resolve();
    case 'async function': return (async () => { await null; ctx.res.success = false; })();
    case 'thenable': return { then(resolve) { resolve(ctx); } };
    case 'thenable deny': return { then(resolve) { ctx.res.success = false; resolve(undefined); } };
    case 'thenable throws': return { then() { throw new Error('told to'); } };
    case 'throw': throw new Error('told to');
    case 'reject': return Promise.reject(new Error('told to'));
    case 'shape': ctx.res.success = expectedShape(ctx); return ctx;
    default: return ctx;
  }
});";

#[test]
fn the_message_entry_behaves_as_the_generic_one_and_as_the_sdk() {
    let (mut runtime, _bus) = loaded("answers.js", ANSWERS_AS_TOLD);
    let connection_id = uuid::Uuid::new_v4();
    // `None`: the event fails (a TypeError reading `.websocket.res`, or the throw).
    let expected_success = [
        ("undefined", Some(true)),
        ("ctx", Some(true)),
        ("deny", Some(false)),
        ("falsy deny", Some(false)),
        ("other ctx", Some(false)),
        ("no websocket", None),
        ("not a ctx", None),
        ("false", Some(true)),
        ("async", Some(true)),
        ("async deny", Some(false)),
        ("async other ctx", Some(false)),
        ("async not a ctx", None),
        ("async zero", Some(true)),
        ("async truthy", Some(true)),
        ("async no response", None),
        ("async function", Some(false)),
        ("thenable", Some(true)),
        ("thenable deny", Some(false)),
        ("thenable throws", None),
        ("throw", None),
        ("reject", None),
        ("shape", Some(true)),
    ];
    for (text, expected) in expected_success {
        let payload = Payload::Text(text.into());
        let mut outcome = |entry| {
            let (outcome, reports) = runtime.run_alone(
                entry,
                HandlerKind::Message,
                connection_id,
                None,
                Some(&payload),
            );
            let outcome = match outcome {
                Outcome::Handled(success) => Ok(success),
                Outcome::Failed(failure) => Err(failure.message),
                Outcome::Unhandled => Err("unhandled".to_owned()),
            };
            (outcome, reports.len())
        };
        let through_message_entry = outcome(Entry::Message);
        let through_generic_entry = outcome(Entry::Generic);
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
