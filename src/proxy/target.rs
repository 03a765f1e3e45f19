//! The target server: its URL, the upgrade request sent to it for each
//! client, and its answer turned into what the client gets.

use std::time::Duration;

use bytes::Bytes;
use hyper::HeaderMap;
use hyper::header::{self, HeaderName, HeaderValue};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::runtime::{HttpAnswer, UpgradeRequest};

/// A websocket to a target server.
pub(crate) type TargetStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Headers that belong to one hop or to the handshake itself: never passed
/// on, in either direction (RFC 9110 §7.6.1, RFC 6455 §4). Extensions are
/// negotiated per hop: sockscope speaks none, so none is offered to the
/// target (tungstenite would refuse its compressed frames).
const HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-extensions",
];

/// Why a `--target` URL cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("--target {url}: not a URL: {reason}")]
    NotAUrl { url: String, reason: String },
    #[error("--target {url}: must start with ws:// or wss://")]
    Scheme { url: String },
    #[error("--target {url}: no host")]
    NoHost { url: String },
}

/// A parsed `--target ws://HOST:PORT[/PATH][?QUERY]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    url: String,
    is_secure: bool,
    authority: String,
    path: String,
    query: Option<String>,
}

impl Target {
    /// Parses and checks a target URL.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let uri: Uri =
            url.parse()
                .map_err(|error: http::uri::InvalidUri| TargetError::NotAUrl {
                    url: url.to_owned(),
                    reason: error.to_string(),
                })?;
        let is_secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => {
                return Err(TargetError::Scheme {
                    url: url.to_owned(),
                });
            }
        };
        let Some(authority) = uri
            .authority()
            .filter(|authority| !authority.host().is_empty())
        else {
            return Err(TargetError::NoHost {
                url: url.to_owned(),
            });
        };
        Ok(Self {
            url: url.to_owned(),
            is_secure,
            authority: authority.as_str().to_owned(),
            path: uri.path().trim_end_matches('/').to_owned(),
            query: uri.query().map(str::to_owned),
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_secure(&self) -> bool {
        self.is_secure
    }

    /// The URL a client's connection goes to: the client's path appended
    /// to the target's, the target's query and then the client's.
    pub fn url_for(&self, client_path: &str, client_query: Option<&str>) -> String {
        let scheme = if self.is_secure { "wss" } else { "ws" };
        let path = match (self.path.as_str(), client_path) {
            ("", "/" | "") => "/".to_owned(),
            (base, "/" | "") => base.to_owned(),
            (base, path) if path.starts_with('/') => format!("{base}{path}"),
            (base, path) => format!("{base}/{path}"),
        };
        let query = match (self.query.as_deref(), client_query) {
            (Some(ours), Some(theirs)) if !ours.is_empty() && !theirs.is_empty() => {
                format!("?{ours}&{theirs}")
            }
            (Some(one), _) | (None, Some(one)) if !one.is_empty() => format!("?{one}"),
            _ => String::new(),
        };
        format!("{scheme}://{}{path}{query}", self.authority)
    }
}

/// Whether a header may pass from one hop to the next.
fn is_end_to_end(name: &HeaderName, connection_tokens: &[String]) -> bool {
    let name = name.as_str();
    !HOP_HEADERS.contains(&name) && !connection_tokens.iter().any(|token| token == name)
}

/// Header names listed in `Connection` (hop-by-hop by declaration).
fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// The upgrade request for `target`: the client's path and query, and
/// every end-to-end header it sent (Origin, Cookie, Authorization,
/// User-Agent, Sec-WebSocket-Protocol, …).
pub(crate) fn target_request(
    target: &Target,
    upgrade: &UpgradeRequest,
) -> Result<http::Request<()>, tungstenite::Error> {
    let url = target.url_for(&upgrade.path, upgrade.raw_query.as_deref());
    let mut request = url.into_client_request()?;
    let tokens = connection_tokens(&upgrade.headers);
    let headers = request.headers_mut();
    for (name, value) in &upgrade.headers {
        if is_end_to_end(name, &tokens) {
            headers.append(name.clone(), value.clone());
        }
    }
    Ok(request)
}

/// A target's refusal as the client gets it: status, end-to-end headers
/// and body as they are.
fn passed_on(url: &str, response: http::Response<Option<Vec<u8>>>) -> HttpAnswer {
    let (parts, body) = response.into_parts();
    let tokens = connection_tokens(&parts.headers);
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| is_end_to_end(name, &tokens))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let body = Bytes::from(body.unwrap_or_default());
    let preview: String = String::from_utf8_lossy(&body)
        .chars()
        .take(120)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let reason = match preview.trim() {
        "" => format!("target {url} refused the upgrade"),
        preview => format!("target {url} refused the upgrade: {preview}"),
    };
    HttpAnswer {
        status: parts.status.as_u16(),
        headers,
        body,
        reason,
    }
}

/// The proxy's own 502: the target could not be reached or spoke no
/// websocket.
fn bad_gateway(reason: String) -> HttpAnswer {
    HttpAnswer {
        status: 502,
        headers: vec![(
            header::CONTENT_TYPE.as_str().to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        )],
        body: Bytes::from(format!("502 Bad Gateway\n\n{reason}\n")),
        reason,
    }
}

/// An open websocket to the target and the subprotocol it chose.
pub(crate) struct Opened {
    pub stream: TargetStream,
    pub protocol: Option<String>,
}

/// Opens the target's side of a client's connection, or says what the
/// client gets instead.
pub(crate) async fn open(
    target: &Target,
    upgrade: &UpgradeRequest,
    config: WebSocketConfig,
    connector: Option<tokio_tungstenite::Connector>,
    timeout: Duration,
) -> Result<Opened, HttpAnswer> {
    let request = target_request(target, upgrade)
        .map_err(|error| bad_gateway(format!("cannot build the request to the target: {error}")))?;
    let url = request.uri().to_string();
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, connector);
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(bad_gateway(format!(
            "target {url} did not complete the handshake within {} ms",
            timeout.as_millis()
        ))),
        Ok(Err(tungstenite::Error::Http(response))) => Err(passed_on(&url, *response)),
        Ok(Err(error)) => Err(bad_gateway(format!("cannot reach target {url}: {error}"))),
        Ok(Ok((stream, response))) => {
            let protocol = response
                .headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|value: &HeaderValue| value.to_str().ok())
                .map(str::to_owned);
            Ok(Opened { stream, protocol })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).expect("a valid target")
    }

    #[test]
    fn the_client_path_is_appended_to_the_target_path() {
        assert_eq!(target("ws://h:1").url_for("/", None), "ws://h:1/");
        assert_eq!(target("ws://h:1/").url_for("/chat", None), "ws://h:1/chat");
        assert_eq!(target("ws://h:1/api").url_for("/", None), "ws://h:1/api");
        assert_eq!(
            target("ws://h:1/api/").url_for("/chat", Some("a=1")),
            "ws://h:1/api/chat?a=1"
        );
        assert_eq!(
            target("ws://h:1/api?key=k").url_for("/x", Some("a=1&a=2")),
            "ws://h:1/api/x?key=k&a=1&a=2"
        );
        assert_eq!(
            target("ws://h:1?key=k").url_for("/", Some("")),
            "ws://h:1/?key=k"
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        assert!(matches!(
            Target::parse("http://h:1"),
            Err(TargetError::Scheme { .. })
        ));
        assert!(matches!(
            Target::parse("not a url"),
            Err(TargetError::NotAUrl { .. })
        ));
        assert!(matches!(
            Target::parse("ws:///path"),
            Err(TargetError::NotAUrl { .. } | TargetError::NoHost { .. })
        ));
    }

    #[test]
    fn hop_by_hop_and_extension_headers_stay_behind() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "Upgrade, X-Hop"),
            ("upgrade", "websocket"),
            ("x-hop", "1"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-extensions", "permessage-deflate"),
            ("sec-websocket-protocol", "chat.v2, chat.v1"),
            ("origin", "http://app.example"),
            ("cookie", "s=1"),
            ("authorization", "Bearer t"),
            ("user-agent", "test/1"),
            ("host", "127.0.0.1:4001"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let upgrade = UpgradeRequest {
            path: "/chat".to_owned(),
            raw_query: Some("name=ann".to_owned()),
            headers,
        };
        let request = target_request(&target("ws://target:9/base"), &upgrade).expect("a request");
        assert_eq!(
            request.uri().to_string(),
            "ws://target:9/base/chat?name=ann"
        );
        let sent = request.headers();
        for name in ["origin", "cookie", "authorization", "user-agent"] {
            assert!(sent.contains_key(name), "{name} is forwarded");
        }
        assert_eq!(sent["sec-websocket-protocol"], "chat.v2, chat.v1");
        assert_eq!(sent["host"], "target:9");
        assert!(!sent.contains_key("x-hop"));
        assert!(!sent.contains_key("sec-websocket-extensions"));
        assert_ne!(sent["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(sent.get_all("upgrade").iter().count(), 1);
    }
}
