//! Clients on a slow link: they read, only slowly. Under `nitric start` a
//! send to such a client takes as long as the network does, and nothing
//! closes it; sockscope must never take a slow reader for one that stopped
//! reading, nor a send that waits on it for a handler that never settles.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::SinkExt;
use sockscope::core::bus::BusMessage;
use sockscope::core::events::Event;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::backpressure::{proxy_to_python_target, read_until_done, real_sdk_server};
use crate::util::{TestServer, script};

/// What the slow link delivers per read, and how often.
const SLOW_READ_BYTES: usize = 4 * 1024;
const SLOW_READ_EVERY: Duration = Duration::from_millis(10);

/// How long the link is slow (about 1.2 MiB at 400 KiB/s): longer than the
/// kernel's buffers take to fill, then several times the 0.5 s after which
/// a client that takes nothing counts as not reading.
const SLOW_FOR: Duration = Duration::from_secs(3);

/// A TCP stream that reads [`SLOW_READ_BYTES`] per [`SLOW_READ_EVERY`]
/// until its slow spell ends, then at full speed.
struct SlowLink {
    inner: TcpStream,
    slow_until: Instant,
    pause: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for SlowLink {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if Instant::now() >= this.slow_until {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if let Some(pause) = &mut this.pause {
            ready!(pause.as_mut().poll(cx));
            this.pause = None;
        }
        let mut slice = buf.take(SLOW_READ_BYTES);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut slice))?;
        let read = slice.filled().len();
        // SAFETY: `slice` wrote `read` initialised bytes into `buf`'s unfilled part.
        unsafe { buf.assume_init(read) };
        buf.advance(read);
        this.pause = Some(Box::pin(tokio::time::sleep(SLOW_READ_EVERY)));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SlowLink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A client whose link is slow for [`SLOW_FOR`]; its small receive buffer
/// keeps the kernel from reading ahead for it.
async fn connect_slow(server: &TestServer, path: &str) -> WebSocketStream<SlowLink> {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(16 * 1024)
        .expect("a small receive buffer");
    let stream = socket
        .connect(server.engine.local_addr())
        .await
        .expect("connect");
    let link = SlowLink {
        inner: stream,
        slow_until: Instant::now() + SLOW_FOR,
        pause: None,
    };
    let (client, _) = tokio_tungstenite::client_async(server.url(path), link)
        .await
        .expect("upgrade accepted");
    client
}

/// Sends `count` numbered messages of 1 MiB at once, then "done".
const MEGABYTES_JS: &str = "const socket = websocket('slow');
socket.on('connect', () => {});
socket.on('message', async (ctx) => {
  const count = Number(ctx.req.text());
  const sends = [];
  for (let i = 0; i < count; i++) {
    sends.push(socket.send(ctx.req.connectionId, `${i}:`.padEnd(1024 * 1024, 'x')));
  }
  await Promise.all(sends);
  await socket.send(ctx.req.connectionId, 'done');
});
";

/// Sends `request` over a slow link to `path` and reads the numbered
/// messages it asks for until "done".
async fn read_over_a_slow_link(server: &TestServer, path: &str, request: &str) -> Vec<usize> {
    let mut client = connect_slow(server, path).await;
    client
        .send(Message::text(request))
        .await
        .expect("the request is sent");
    read_until_done(&mut client).await
}

/// Room for one message: the next ones wait while the client reads.
const ONE_MESSAGE_QUEUE_BYTES: usize = 1 << 20;

#[tokio::test]
async fn a_client_on_a_slow_link_gets_every_message_and_its_handler_settles() {
    let mut server = TestServer::start_with(&script(MEGABYTES_JS), |config| {
        config.server.limits.outbound_queue_bytes = ONE_MESSAGE_QUEUE_BYTES;
    })
    .await;
    let numbers = read_over_a_slow_link(&server, "/", "12").await;
    assert_eq!(
        numbers,
        (0..12).collect::<Vec<_>>(),
        "every message, in order"
    );
    // Each send waited longer than the handler's 1 s budget for the client
    // to take the one before: waiting on a client that reads is progress.
    while let Some(message) = server.events.try_recv() {
        if let BusMessage::Event(event) = message
            && let Event::ScriptError { failure, .. } = &*event
        {
            panic!("the handler was reported as failing: {}", failure.message);
        }
    }
}

#[tokio::test]
async fn the_real_sdk_s_sends_to_a_client_on_a_slow_link_all_arrive() {
    let Some(server) = real_sdk_server(MEGABYTES_JS, ONE_MESSAGE_QUEUE_BYTES).await else {
        return;
    };
    let mut numbers = read_over_a_slow_link(&server, "/", "12").await;
    // Concurrent gRPC calls may be served in any order, as by the gateway.
    numbers.sort_unstable();
    assert_eq!(numbers, (0..12).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_proxied_target_s_large_messages_reach_a_client_on_a_slow_link() {
    let Some((_target, proxy)) = proxy_to_python_target(ONE_MESSAGE_QUEUE_BYTES).await else {
        return;
    };
    let numbers = read_over_a_slow_link(&proxy, "/flood", "12 1048576").await;
    assert_eq!(
        numbers,
        (0..12).collect::<Vec<_>>(),
        "every message, in order"
    );
}
