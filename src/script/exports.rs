//! The names `@nitric/sdk` 1.2.2 exports, and a load error that names every
//! import the package does not have (QuickJS stops at the first), with what
//! replaced the removed ones.

use regex::Regex;
use std::sync::LazyLock;

use crate::core::events::ScriptFailure;

/// The package's runtime exports (`lib/index.d.ts`, shared/NITRIC.md §5.7).
pub(crate) const RUNTIME_EXPORTS: [&str; 70] = [
    "AbstractRequest",
    "Api",
    "ApiWorkerOptions",
    "BaseContext",
    "BlobEventContext",
    "BlobEventRequest",
    "BlobEventType",
    "Bucket",
    "BucketEventContext",
    "BucketEventRequest",
    "BucketNotification",
    "BucketNotificationWorkerOptions",
    "BucketResource",
    "Cron",
    "DequeuedMessage",
    "Eventing",
    "File",
    "FileMode",
    "FileNotification",
    "FileNotificationWorkerOptions",
    "HttpContext",
    "HttpRequest",
    "HttpResponse",
    "HttpWorkerOptions",
    "IntervalContext",
    "IntervalRequest",
    "KeyValue",
    "KeyValueStoreResource",
    "MessageContext",
    "MessageRequest",
    "Method",
    "Queue",
    "QueueResource",
    "Queueing",
    "Rate",
    "Route",
    "SQLDatabaseResource",
    "Schedule",
    "Secret",
    "SecretResource",
    "Secrets",
    "Storage",
    "Subscription",
    "SubscriptionWorkerOptions",
    "Topic",
    "TopicResource",
    "Websocket",
    "WebsocketNotificationContext",
    "WebsocketNotificationRequest",
    "WebsocketNotificationType",
    "WebsocketResource",
    "api",
    "bucket",
    "createHandler",
    "http",
    "json",
    "jsonResponse",
    "keyvalue",
    "kv",
    "oidcRule",
    "queue",
    "queues",
    "schedule",
    "secret",
    "secrets",
    "sql",
    "storage",
    "topic",
    "topics",
    "websocket",
];

/// What a name the package does not export was, or what to use instead.
fn hint(name: &str) -> &'static str {
    match name {
        "collection" | "documents" => "removed in SDK v1; use kv(...)",
        "faas" => "removed in SDK v1; use websocket(...).on(...) and the other resources",
        "events" | "event" => "removed in SDK v1; use topic(...)",
        name if name.ends_with("Error") => {
            "1.2.2 exports no error classes; check err.constructor.name or the message (e.g. '5 NOT_FOUND')"
        }
        _ => "not in the package",
    }
}

static SDK_IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"import\s*(?:type\s+)?\{([^}]*)\}\s*from\s*['"]@nitric/sdk['"]"#)
        .expect("a valid pattern")
});

/// The names `source` imports from `@nitric/sdk` that 1.2.2 lacks.
pub(crate) fn missing_imports(source: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for found in SDK_IMPORT.captures_iter(source) {
        for item in found[1].split(',') {
            let item = item.trim();
            let name = item.split_whitespace().next().unwrap_or("");
            if name.is_empty() || name == "type" || RUNTIME_EXPORTS.contains(&name) {
                continue;
            }
            if !missing.iter().any(|known| known == name) {
                missing.push(name.to_owned());
            }
        }
    }
    missing
}

/// A "Could not find export" load failure, made to name every missing
/// import and what replaced it.
pub(crate) fn explain_missing_export(mut failure: ScriptFailure, source: &str) -> ScriptFailure {
    if !failure.message.contains("Could not find export")
        || !failure.message.contains("@nitric/sdk")
    {
        return failure;
    }
    let missing = missing_imports(source);
    if missing.is_empty() {
        return failure;
    }
    let listed: Vec<String> = missing
        .iter()
        .map(|name| format!("'{name}' ({})", hint(name)))
        .collect();
    failure.message = format!(
        "SyntaxError: '@nitric/sdk' 1.2.2 (the version sockscope emulates) does not export {}",
        listed.join(", ")
    );
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_import_is_named_with_what_replaced_it() {
        let source =
            "import { websocket, collection, NotFoundError as NF, faas } from '@nitric/sdk';";
        assert_eq!(
            missing_imports(source),
            ["collection", "NotFoundError", "faas"]
        );
        let failure = explain_missing_export(
            ScriptFailure {
                message: "SyntaxError: Could not find export 'collection' in module '@nitric/sdk'"
                    .to_owned(),
                location: None,
                stack: None,
            },
            source,
        );
        assert!(
            failure
                .message
                .contains("'collection' (removed in SDK v1; use kv(...))"),
            "{}",
            failure.message
        );
        assert!(
            failure
                .message
                .contains("'NotFoundError' (1.2.2 exports no error classes"),
            "{}",
            failure.message
        );
        assert!(failure.message.contains("'faas'"), "{}", failure.message);
    }

    #[test]
    fn the_sdk_module_exports_exactly_the_packages_runtime_names() {
        let sdk = include_str!("sdk.js");
        let pattern = Regex::new(r"export (?:const|class) ([A-Za-z]+)").expect("a valid pattern");
        let mut exported: Vec<&str> = pattern
            .captures_iter(sdk)
            .map(|found| found.get(1).map_or("", |name| name.as_str()))
            .collect();
        exported.sort_unstable();
        let mut expected = RUNTIME_EXPORTS.to_vec();
        expected.sort_unstable();
        assert_eq!(exported, expected);
    }
}
