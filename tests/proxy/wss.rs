//! `wss://` targets: a Python `websockets` server with a self-signed
//! certificate (made by `openssl` for the test).

use std::path::Path;
use std::process::Command;

use futures_util::SinkExt;
use sockscope::core::events::Event;
use sockscope::proxy::ProxyConfig;
use tokio_tungstenite::tungstenite::Message;

use super::PythonTarget;
use crate::util::{TestServer, missing_tool, recv};

/// A self-signed certificate for 127.0.0.1 in `dir`: (cert, key) paths.
fn self_signed(dir: &Path) -> Option<(String, String)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match made {
        Ok(output) if output.status.success() => {
            Some((cert.display().to_string(), key.display().to_string()))
        }
        Ok(output) => {
            missing_tool("openssl", String::from_utf8_lossy(&output.stderr).trim());
            None
        }
        Err(error) => {
            missing_tool("openssl", &error.to_string());
            None
        }
    }
}

async fn proxy_to_wss(url: &str, is_insecure: bool) -> TestServer {
    let mut proxy = ProxyConfig::new(url).expect("a valid target");
    proxy.is_insecure = is_insecure;
    super::proxy_with(proxy).await
}

#[tokio::test]
async fn a_self_signed_wss_target_needs_insecure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((cert, key)) = self_signed(dir.path()) else {
        return;
    };
    let Some(target) = PythonTarget::start(&["--tls", &cert, &key]) else {
        return;
    };
    let url = format!("wss://127.0.0.1:{}", target.port);

    // Not trusted: 502, naming the certificate problem.
    let mut strict = proxy_to_wss(&url, false).await;
    assert_eq!(strict.refused_status("/echo").await, 502);
    strict
        .wait_for("the refusal", |event| {
            matches!(event, Event::ConnectionDenied { status: 502, reason, .. } if reason.contains("certificate"))
        })
        .await;

    // --insecure: through, both ways.
    let insecure = proxy_to_wss(&url, true).await;
    let mut client = insecure.connect("/echo").await;
    client.send(Message::text("over tls")).await.expect("send");
    assert_eq!(recv(&mut client).await, Message::text("over tls"));
    client
        .send(Message::binary(vec![7u8; 70_000]))
        .await
        .expect("send");
    assert_eq!(recv(&mut client).await, Message::binary(vec![7u8; 70_000]));
}
