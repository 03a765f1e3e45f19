//! `--watch` in the real lane: saving a service's file restarts it, and the
//! new code serves the next connection while the old one stays open.

use std::time::{Duration, Instant};

use super::{node_modules, project, services_config};
use crate::util::{TestServer, recv_text, send_text};

const REPLY_JS: &str = r#"import { websocket } from '@nitric/sdk';
const socket = websocket('reply');
socket.on('connect', async (ctx) => ctx);
socket.on('message', async (ctx) => {
  await socket.send(ctx.req.connectionId, 'VERSION');
});
"#;

#[tokio::test]
async fn a_saved_service_file_restarts_the_service() {
    let Some(node_modules) = node_modules() else {
        return;
    };
    let first = REPLY_JS.replace("VERSION", "one");
    let dir = project(&[("reply.mjs", &first)], Some(&node_modules));
    let file = dir.path().join("reply.mjs");
    let mut config = services_config(dir.path(), &["node reply.mjs"]);
    if let Some(services) = &mut config.services {
        services.watch = true;
    }
    let server = TestServer::launch(dir, config).await;
    let mut client = server.connect("/").await;
    send_text(&mut client, "?").await;
    assert_eq!(recv_text(&mut client).await, "one");

    std::fs::write(&file, REPLY_JS.replace("VERSION", "two")).expect("save the file");
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the new version never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        if server.refused_status_or_accepted("/").await != 101 {
            continue;
        }
        let mut fresh = server.connect("/").await;
        send_text(&mut fresh, "?").await;
        if recv_text(&mut fresh).await == "two" {
            break;
        }
    }
    assert_eq!(
        server.engine.services()[1].restarts,
        1,
        "one save, one restart"
    );
}
