//! Re-chunking: many small pieces in, chunks of exactly `chunk_size` bytes out.
//!
//! `COPY ... TO STDOUT` sends one message per row, and hyper writes every body frame as its
//! own HTTP chunk, so without this stage a download would be one chunk (and one syscall) per
//! row. The stage holds at most one chunk being filled plus the one piece it is cutting up;
//! every chunk it yields is exactly `chunk_size` bytes long except the last. A piece larger
//! than a chunk is cut into chunk-sized slices without copying.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// The IO-free core of the stage: a state machine that cuts pieces into fixed-size chunks.
#[derive(Debug)]
pub struct Rechunker {
    chunk_size: usize,
    filling: BytesMut,
    pending: Bytes,
}

impl Rechunker {
    /// A re-chunker that yields chunks of `chunk_size` bytes.
    ///
    /// # Panics
    /// If `chunk_size` is zero.
    pub fn new(chunk_size: usize) -> Self {
        assert!(chunk_size > 0, "chunk size must be at least one byte");
        Self {
            chunk_size,
            filling: BytesMut::new(),
            pending: Bytes::new(),
        }
    }

    /// Whether every byte pushed so far has been moved into a chunk, so the next piece may
    /// be pushed.
    pub fn needs_input(&self) -> bool {
        self.pending.is_empty()
    }

    /// Hands over the next piece. Call only when [`needs_input`](Self::needs_input) is true.
    pub fn push(&mut self, piece: Bytes) {
        debug_assert!(
            self.pending.is_empty(),
            "pushed before the last piece was used up"
        );
        self.pending = piece;
    }

    /// The next full chunk, or `None` when more input is needed for one.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        while !self.pending.is_empty() {
            if self.filling.is_empty() && self.pending.len() >= self.chunk_size {
                return Some(self.pending.split_to(self.chunk_size));
            }
            if self.filling.capacity() < self.chunk_size {
                self.filling.reserve(self.chunk_size);
            }
            let take = (self.chunk_size - self.filling.len()).min(self.pending.len());
            self.filling.extend_from_slice(&self.pending[..take]);
            self.pending.advance(take);
            if self.filling.len() == self.chunk_size {
                return Some(self.filling.split().freeze());
            }
        }
        None
    }

    /// The last, possibly shorter chunk once the input has ended; `None` if nothing is left.
    pub fn finish(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.next_chunk() {
            return Some(chunk);
        }
        (!self.filling.is_empty()).then(|| self.filling.split().freeze())
    }

    /// Drops whatever is buffered (after an upstream error: a partial chunk must not leak out).
    pub fn clear(&mut self) {
        self.filling = BytesMut::new();
        self.pending = Bytes::new();
    }
}

/// The stream adapter around [`Rechunker`]; see [`rechunk`].
#[derive(Debug)]
pub struct Rechunk<S> {
    upstream: Option<S>,
    core: Rechunker,
}

/// Re-chunks `upstream` into chunks of exactly `chunk_size` bytes (the last may be shorter).
///
/// The first error is passed through unchanged, the bytes buffered before it are dropped,
/// and nothing is yielded after it. The upstream is dropped as soon as it ends or fails.
pub fn rechunk<S, E>(upstream: S, chunk_size: usize) -> Rechunk<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    Rechunk {
        upstream: Some(upstream),
        core: Rechunker::new(chunk_size),
    }
}

impl<S, E> Stream for Rechunk<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(chunk) = this.core.next_chunk() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            let Some(upstream) = this.upstream.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(upstream.poll_next_unpin(cx)) {
                Some(Ok(piece)) => this.core.push(piece),
                Some(Err(error)) => {
                    this.upstream = None;
                    this.core.clear();
                    return Poll::Ready(Some(Err(error)));
                }
                None => {
                    this.upstream = None;
                    return Poll::Ready(this.core.finish().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn pieces(sizes: &[usize]) -> Vec<Bytes> {
        let mut next = 0u8;
        sizes
            .iter()
            .map(|&size| {
                Bytes::from(
                    (0..size)
                        .map(|_| {
                            next = next.wrapping_add(1);
                            next
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .collect()
    }

    fn run(sizes: &[usize], chunk_size: usize) -> (Vec<Bytes>, Vec<u8>) {
        let input = pieces(sizes);
        let expected: Vec<u8> = input.iter().flat_map(|p| p.iter().copied()).collect();
        let upstream = stream::iter(input.into_iter().map(Ok::<_, String>));
        let chunks: Vec<Bytes> = block_on(
            rechunk(upstream, chunk_size)
                .map(|item| item.unwrap())
                .collect(),
        );
        (chunks, expected)
    }

    /// A tiny executor so the stage's tests need no runtime: the streams here never pend.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }

    fn assert_chunked(chunks: &[Bytes], expected: &[u8], chunk_size: usize) {
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, expected, "bytes changed on the way through");
        for (index, chunk) in chunks.iter().enumerate() {
            let last = index + 1 == chunks.len();
            if last {
                assert!(!chunk.is_empty() && chunk.len() <= chunk_size);
            } else {
                assert_eq!(chunk.len(), chunk_size, "chunk {index} has the wrong size");
            }
        }
    }

    #[test]
    fn small_pieces_become_full_chunks() {
        let (chunks, expected) = run(&[3; 100], 64);
        assert_eq!(chunks.len(), 5);
        assert_chunked(&chunks, &expected, 64);
    }

    #[test]
    fn large_pieces_are_cut_without_losing_bytes() {
        let (chunks, expected) = run(&[1, 500, 7, 64, 63, 1, 1000, 0, 2], 64);
        assert_chunked(&chunks, &expected, 64);
    }

    #[test]
    fn exact_multiples_leave_no_short_chunk() {
        let (chunks, expected) = run(&[32, 32, 64, 128], 64);
        assert_eq!(chunks.len(), 4);
        assert_chunked(&chunks, &expected, 64);
    }

    #[test]
    fn empty_input_yields_nothing() {
        let (chunks, _) = run(&[], 64);
        assert!(chunks.is_empty());
        let (chunks, _) = run(&[0, 0], 64);
        assert!(chunks.is_empty());
    }

    #[test]
    fn many_shapes_keep_every_byte() {
        for chunk_size in [1, 2, 7, 64, 100] {
            for sizes in [&[1usize, 2, 3, 4, 5, 6][..], &[99, 1, 250], &[0, 64, 0, 1]] {
                let (chunks, expected) = run(sizes, chunk_size);
                assert_chunked(&chunks, &expected, chunk_size);
            }
        }
    }

    #[test]
    fn first_error_passes_through_and_nothing_follows() {
        let upstream = stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err("broken".to_owned()),
            Ok(Bytes::from_static(b"never seen")),
        ]);
        let items: Vec<_> = block_on(rechunk(upstream, 2).collect());
        assert_eq!(
            items,
            vec![Ok(Bytes::from_static(b"ab")), Err("broken".to_owned())],
            "the buffered partial chunk must be dropped, the error kept, and nothing after it"
        );
    }
}
