//! The names of the host object the SDK talks to, declared once. The Rust
//! side uses these constants; `sdk.js` and `prelude.js` spell the same names
//! as `host.<name>`, and a test checks that both sides agree.

/// The global the host object sits at until the SDK captures and removes it.
pub(crate) const GLOBAL: &str = "__sockscope";

// Set by Rust, called by the SDK.
pub(crate) const SEND: &str = "send";
pub(crate) const CLOSE: &str = "close";
pub(crate) const URL: &str = "url";
pub(crate) const LOG: &str = "log";
pub(crate) const KV_GET: &str = "kvGet";
pub(crate) const KV_SET: &str = "kvSet";
pub(crate) const KV_DELETE: &str = "kvDelete";
pub(crate) const KV_KEYS: &str = "kvKeys";
pub(crate) const UTF8_ENCODE: &str = "utf8Encode";
pub(crate) const UTF8_DECODE: &str = "utf8Decode";
pub(crate) const DEFER: &str = "defer";
pub(crate) const DEFER_REJECT: &str = "deferReject";
pub(crate) const ENFORCE_PERMISSIONS: &str = "enforcePermissions";
pub(crate) const TOPIC_PUBLISH: &str = "topicPublish";

// Set by the SDK, called by Rust.
pub(crate) const DISPATCH: &str = "dispatch";
pub(crate) const DISPATCH_MESSAGE: &str = "dispatchMessage";
pub(crate) const SOCKET_NAMES: &str = "socketNames";
pub(crate) const HANDLED_EVENTS: &str = "handledEvents";
pub(crate) const PROVIDER_ERROR: &str = "providerError";
pub(crate) const DELIVER_TOPIC: &str = "deliverTopic";
pub(crate) const SUCCESS_OF: &str = "successOf";
pub(crate) const AWAIT_THENABLE: &str = "awaitThenable";
pub(crate) const AWAITING: &str = "awaiting";

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const FROM_RUST: [&str; 14] = [
        SEND,
        CLOSE,
        URL,
        LOG,
        KV_GET,
        KV_SET,
        KV_DELETE,
        KV_KEYS,
        UTF8_ENCODE,
        UTF8_DECODE,
        DEFER,
        DEFER_REJECT,
        ENFORCE_PERMISSIONS,
        TOPIC_PUBLISH,
    ];
    const FROM_JS: [&str; 9] = [
        DISPATCH,
        DISPATCH_MESSAGE,
        SOCKET_NAMES,
        HANDLED_EVENTS,
        PROVIDER_ERROR,
        DELIVER_TOPIC,
        SUCCESS_OF,
        AWAIT_THENABLE,
        AWAITING,
    ];

    fn host_names_in(source: &str) -> BTreeSet<String> {
        let pattern = regex::Regex::new(r"\bhost\.([A-Za-z0-9_]+)").expect("a valid pattern");
        pattern
            .captures_iter(source)
            .map(|found| found[1].to_owned())
            .collect()
    }

    #[test]
    fn the_sdk_and_the_prelude_use_exactly_the_declared_names() {
        let sdk = include_str!("sdk.js");
        let prelude = include_str!("prelude.js");
        let used: BTreeSet<String> = host_names_in(sdk)
            .into_iter()
            .chain(host_names_in(prelude))
            .chain(host_names_in(include_str!("modules/builtins.js")))
            .chain(host_names_in(include_str!("modules/commonjs.js")))
            .collect();
        let declared: BTreeSet<String> = FROM_RUST
            .iter()
            .chain(&super::super::modules::names::ALL)
            .chain(&FROM_JS)
            .map(|name| (*name).to_owned())
            .collect();
        assert_eq!(
            used, declared,
            "host.<name> in sdk.js/prelude.js vs host_api.rs"
        );
        for set_by_js in FROM_JS {
            assert!(
                sdk.contains(&format!("host.{set_by_js} = ")),
                "sdk.js must define host.{set_by_js}"
            );
        }
        for source in [sdk, prelude] {
            assert!(source.contains(&format!("globalThis.{GLOBAL}")));
        }
    }
}
