//! A connection's socket, reporting its writes to the connection's outbound
//! queue, and letting the queue ask the kernel how much of them the client
//! has taken. A writer wakes only when the kernel's send queue is half
//! empty: for a client on a slow link that is seconds apart, and a writer
//! stuck in that flush must not make it look like a client that stopped
//! reading.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::core::delivery::{UnackedProbe, WriteMeter};

/// A TCP stream with every write it accepts counted.
pub(crate) struct Metered {
    inner: TcpStream,
    meter: WriteMeter,
    /// What the HTTP server read past the upgrade request, read first.
    /// (tungstenite's `from_partially_read` would do it, but its read
    /// buffer then shrinks to about one frame per read: 10–13% fewer 32 B
    /// echoes a second, measured.)
    read_first: Bytes,
}

impl Metered {
    pub(crate) fn new(inner: TcpStream, read_first: Bytes, meter: WriteMeter) -> Self {
        if let Some(probe) = unacked_probe(&inner) {
            meter.attach(probe);
        }
        Self {
            inner,
            meter,
            read_first,
        }
    }

    fn counted(&self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(len_bytes)) = written {
            self.meter.wrote(len_bytes);
        }
        written
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // Before the socket closes: the probe holds its descriptor's number,
        // which the process may reuse.
        self.meter.detach();
    }
}

/// Asks the kernel for the bytes in the socket's send queue the peer has
/// not acknowledged (`SIOCOUTQ`).
#[cfg(target_os = "linux")]
fn unacked_probe(stream: &TcpStream) -> Option<UnackedProbe> {
    use std::os::fd::AsRawFd;

    let fd = stream.as_raw_fd();
    Some(Box::new(move || {
        let mut unacked: libc::c_int = 0;
        // SAFETY: `fd` is open while the probe is attached (the stream
        // detaches it before closing), and TIOCOUTQ writes one c_int.
        let status = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut unacked) };
        (status == 0).then(|| u64::try_from(unacked).ok()).flatten()
    }))
}

/// The same on macOS (`SO_NWRITE`).
#[cfg(target_vendor = "apple")]
fn unacked_probe(stream: &TcpStream) -> Option<UnackedProbe> {
    use std::os::fd::AsRawFd;

    let fd = stream.as_raw_fd();
    Some(Box::new(move || {
        let mut unacked: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: as above; SO_NWRITE writes one c_int.
        let status = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_NWRITE,
                std::ptr::addr_of_mut!(unacked).cast::<libc::c_void>(),
                &mut len,
            )
        };
        (status == 0).then(|| u64::try_from(unacked).ok()).flatten()
    }))
}

/// Elsewhere the queue counts the bytes written, which a slow client
/// advances in larger steps.
#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
fn unacked_probe(_stream: &TcpStream) -> Option<UnackedProbe> {
    None
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read_first.is_empty() {
            let len = self.read_first.len().min(buf.remaining());
            buf.put_slice(&self.read_first.split_to(len));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        self.counted(written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.counted(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
