//! Query-string parsing with Nitric's shape: `Record<string, string[]>`.

use std::collections::BTreeMap;

use percent_encoding::percent_decode;

/// Parsed query string: every key maps to its values in the order they
/// appeared (`?a=1&a=2` → `{"a": ["1", "2"]}`), like Nitric's `ctx.req.query`.
pub type Query = BTreeMap<String, Vec<String>>;

/// Parses a raw query string (without the leading `?`).
///
/// Never fails: `+` means space (form encoding, as browsers send it), a
/// malformed `%` escape is kept literally, and invalid UTF-8 after decoding
/// becomes U+FFFD. A handler sees what the client sent rather than an error
/// page for a typo in a URL.
pub fn parse_query(raw: &str) -> Query {
    let mut query = Query::new();
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        query
            .entry(decode_component(key))
            .or_default()
            .push(decode_component(value));
    }
    query
}

fn decode_component(component: &str) -> String {
    let spaced = component.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

/// Serialises a query back into a string (used by clients and replay).
pub fn format_query(query: &Query) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let mut out = String::new();
    for (key, values) in query {
        for value in values {
            if !out.is_empty() {
                out.push('&');
            }
            out.extend(utf8_percent_encode(key, NON_ALPHANUMERIC));
            out.push('=');
            out.extend(utf8_percent_encode(value, NON_ALPHANUMERIC));
        }
    }
    out
}

/// `path` (with a leading `/`) followed by `?query` when there is one: the
/// request target a client sends.
pub fn path_and_query(path: &str, query: &Query) -> String {
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", format_query(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_keep_their_order() {
        let query = parse_query("tag=b&name=ann&tag=a");
        assert_eq!(query["tag"], vec!["b", "a"]);
        assert_eq!(query["name"], vec!["ann"]);
    }

    #[test]
    fn decodes_percent_and_plus() {
        let query = parse_query("name=J%C3%BCrgen+M&empty=&bare");
        assert_eq!(query["name"], vec!["Jürgen M"]);
        assert_eq!(query["empty"], vec![""]);
        assert_eq!(query["bare"], vec![""]);
    }

    #[test]
    fn malformed_escapes_do_not_panic() {
        let query = parse_query("a=%&b=%zz&c=%ff%fe&%=x&&=");
        assert_eq!(query["a"], vec!["%"]);
        assert_eq!(query["b"], vec!["%zz"]);
        assert_eq!(query["c"], vec!["\u{fffd}\u{fffd}"]);
        assert_eq!(query["%"], vec!["x"]);
        assert_eq!(query[""], vec![""]);
    }

    #[test]
    fn path_and_query_adds_what_is_missing() {
        assert_eq!(path_and_query("room", &Query::new()), "/room");
        assert_eq!(path_and_query("/", &parse_query("a=1&a=2")), "/?a=1&a=2");
    }

    #[test]
    fn format_round_trips() {
        let query = parse_query("name=J%C3%BCrgen+M&tag=a&tag=b%26c");
        assert_eq!(parse_query(&format_query(&query)), query);
    }
}
