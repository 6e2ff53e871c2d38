//! A TCP stream to the database that is read in batches while a large result streams in.
//!
//! A COPY arrives as one 8 KiB send after another, and each send to a reader asleep in
//! `epoll` costs the backend a wake-up of the reader: a large share of the backend's
//! kernel time, on the one core that is the ceiling of an export. With `SO_RCVLOWAT` the
//! kernel wakes the reader only once [`MARK`] bytes are waiting (or the receive window is
//! nearly full), so the backend sends on without waking anyone for most of its sends.
//!
//! The mark is raised only once a burst of [`RAISE_AFTER`] bytes has come in without a
//! pause, so the start-up messages, the answers to the statements that prepare an export
//! and a small result never wait for it. Whatever is left below the mark (the end of a
//! result, an error in the middle of one) is still read: once the stream has waited
//! [`QUIET`] for more, the mark goes back to one byte, which the kernel answers with a
//! wake-up of its own when bytes wait (`tcp_set_rcvlowat` signals readable at once), so
//! tokio's readiness, which would not fire below the mark, fires. A connection idle in
//! the pool has no burst and so no timer.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// How many bytes the kernel gathers before it wakes the reader during a burst.
const MARK: usize = 64 * 1024;

/// How many bytes in a row, without a pause of [`QUIET`], make a burst.
const RAISE_AFTER: usize = 256 * 1024;

/// A pause in a burst this long ends it: what waits below the mark is read now.
const QUIET: Duration = Duration::from_millis(1);

/// A database connection's TCP stream, read in batches of [`MARK`] bytes during bursts.
pub struct BatchedStream {
    inner: TcpStream,
    /// Bytes read since the last pause of [`QUIET`].
    burst: usize,
    /// Whether the mark is [`MARK`] (else one byte, the default).
    raised: bool,
    /// Runs while a read waits in a burst.
    pause: Option<Pin<Box<Sleep>>>,
}

impl BatchedStream {
    pub fn new(inner: TcpStream) -> Self {
        Self {
            inner,
            burst: 0,
            raised: false,
            pause: None,
        }
    }

    /// Sets the mark; a failure leaves it where it was, which costs only speed.
    fn set_mark(&mut self, raised: bool) {
        let bytes = if raised { MARK } else { 1 } as libc::c_int;
        // SAFETY: the descriptor is this stream's open socket, and the option value is a
        // c_int of the length given.
        let done = unsafe {
            libc::setsockopt(
                self.inner.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if done == 0 {
            self.raised = raised;
        }
    }
}

impl AsyncRead for BatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let before = buf.filled().len();
            if let Poll::Ready(result) = Pin::new(&mut this.inner).poll_read(cx, buf) {
                this.pause = None;
                this.burst += buf.filled().len() - before;
                if !this.raised && this.burst >= RAISE_AFTER {
                    this.set_mark(true);
                }
                return Poll::Ready(result);
            }
            if this.burst == 0 {
                return Poll::Pending;
            }
            let pause = this
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(QUIET)));
            ready!(pause.as_mut().poll(cx));
            this.pause = None;
            this.burst = 0;
            if !this.raised {
                return Poll::Pending;
            }
            // Lowering the mark makes the kernel signal what waits below it; poll again to
            // register for that signal (or take bytes that are already flagged).
            this.set_mark(false);
        }
    }
}

impl AsyncWrite for BatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
