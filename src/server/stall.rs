//! A client connection that fails when its client stops accepting bytes.
//!
//! A download's back-pressure reaches the database: a client that reads nothing makes
//! PostgreSQL's backend wait to write, holding a pooled connection and a snapshot (which
//! holds back VACUUM) for as long as the client likes, and PostgreSQL ignores a cancel
//! while its backend waits like that. So a write that has made no progress for
//! `send_timeout` fails the connection instead: hyper drops the response body, the
//! pipeline with it, and the source closes its database connection, which is what frees a
//! backend blocked in a write. A slow client that keeps accepting bytes, however few, is
//! never cut: a write can wait long on a slow reader (the kernel wakes a writer only once
//! a good part of its send buffer has drained), so when the time is up the socket's send
//! queue is asked whether it shrank meanwhile, and any progress starts the wait anew.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A connection that can tell how many bytes it holds that its peer has not yet taken.
pub trait SendQueue {
    /// Bytes written but not yet acknowledged by the peer; `None` when it cannot tell.
    fn unsent(&self) -> Option<usize>;
}

impl SendQueue for tokio::net::TcpStream {
    fn unsent(&self) -> Option<usize> {
        use std::os::fd::AsRawFd;
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ on a socket) writes one int through the pointer, which
        // points at a live local; the descriptor is this stream's own, open for its life.
        let done = unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        (done == 0).then(|| usize::try_from(queued).unwrap_or(0))
    }
}

impl SendQueue for tokio::io::DuplexStream {
    fn unsent(&self) -> Option<usize> {
        None
    }
}

/// `io` whose writes fail with `TimedOut` once its peer has taken no bytes for
/// `send_timeout` while a write waits.
pub struct StallGuard<IO> {
    io: IO,
    send_timeout: Duration,
    /// Armed while a write is pending, with the send queue's length when it was armed.
    waiting: Option<(Pin<Box<Sleep>>, Option<usize>)>,
}

impl<IO: SendQueue> StallGuard<IO> {
    pub fn new(io: IO, send_timeout: Duration) -> Self {
        Self {
            io,
            send_timeout,
            waiting: None,
        }
    }

    /// What a write that returned `polled` means, with the stall timer kept in step.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if !polled.is_pending() {
            self.waiting = None;
            return polled;
        }
        let timeout = self.send_timeout;
        loop {
            let (timer, queued) = match &mut self.waiting {
                Some(waiting) => waiting,
                None => self.waiting.insert((
                    Box::pin(tokio::time::sleep_until(Instant::now() + timeout)),
                    self.io.unsent(),
                )),
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let before = *queued;
            self.waiting = None;
            match (before, self.io.unsent()) {
                // The peer took bytes meanwhile: slow, not stalled. Wait again from here.
                (Some(before), Some(now)) if now < before => continue,
                _ => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client accepted no bytes for {timeout:?}"),
                    )));
                }
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for StallGuard<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + SendQueue + Unpin> AsyncWrite for StallGuard<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const TIMEOUT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_reader_that_stops_fails_the_writer_after_the_timeout() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut guarded = StallGuard::new(near, TIMEOUT);
        let started = std::time::Instant::now();
        let mut written = 0;
        let error = loop {
            match guarded.write(&[0; 256]).await {
                Ok(n) => written += n,
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(written, 1024, "everything the buffer took");
        assert!(started.elapsed() >= TIMEOUT);
        // Nothing is lost of what was accepted.
        let mut received = vec![0; 1024];
        far.read_exact(&mut received).await.unwrap();
    }

    #[tokio::test]
    async fn a_slow_reader_is_never_cut() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(near, TIMEOUT);
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0; 64];
            while total < 512 {
                // Slower than the writer would like, faster than the timeout.
                tokio::time::sleep(TIMEOUT / 3).await;
                total += far.read(&mut buf).await.unwrap();
            }
            total
        });
        for _ in 0..8 {
            guarded
                .write_all(&[1; 64])
                .await
                .expect("a slow reader is not a stalled one");
        }
        assert_eq!(reader.await.unwrap(), 512);
    }
}
