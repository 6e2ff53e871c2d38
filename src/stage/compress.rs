//! Compression: an export's bytes in, the gzip or zstd file of them out.
//!
//! The stage runs after limit (so `max_bytes` counts the bytes of the uncompressed file)
//! and before rechunk (so the chunks sent stay full-sized). It holds the encoder's own
//! buffers, the one piece it is feeding in (in slices of at most `out_size` bytes), and at
//! most about `out_size` compressed bytes plus one encoder flush before it hands them on.
//!
//! The trailer (gzip's CRC and length, zstd's last block) is what makes a compressed file
//! complete, and a decompressor accept it. So it is written only when the input ended
//! cleanly: on an upstream error the stage passes the error through unchanged, drops the
//! encoder and whatever it buffered, and yields nothing after it. A broken export therefore
//! never looks complete once decompressed, any more than it does uncompressed.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use flate2::write::GzEncoder;
use futures_util::{Stream, StreamExt};

use super::StreamError;
use crate::format::Compression;

/// One encoder writing into a growing buffer of compressed bytes.
enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    fn write_all(&mut self, input: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(encoder) => encoder.write_all(input),
            Encoder::Zstd(encoder) => encoder.write_all(input),
        }
    }

    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Gzip(encoder) => encoder.get_mut(),
            Encoder::Zstd(encoder) => encoder.get_mut(),
        }
    }

    /// Writes the rest and the trailer; returns everything not yet taken.
    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(encoder) => encoder.finish(),
            Encoder::Zstd(encoder) => encoder.finish(),
        }
    }
}

/// The IO-free core of the stage: feeds pieces to an encoder and hands on its output in
/// pieces of about `out_size` bytes.
pub struct Compressor {
    /// `None` once finished.
    encoder: Option<Encoder>,
    out_size: usize,
    pending: Bytes,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("out_size", &self.out_size)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Compressor {
    /// A compressor writing `compression` at `level` (gzip 0–9, zstd 1–19, checked by the
    /// config), handing on pieces of about `out_size` bytes.
    ///
    /// # Panics
    /// If `out_size` is zero.
    pub fn new(compression: Compression, level: i32, out_size: usize) -> io::Result<Self> {
        assert!(out_size > 0, "output pieces must be at least one byte");
        let output = Vec::with_capacity(out_size);
        let encoder = match compression {
            Compression::Gzip => {
                let level = u32::try_from(level).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "negative gzip level")
                })?;
                Encoder::Gzip(GzEncoder::new(output, flate2::Compression::new(level)))
            }
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(output, level)?),
        };
        Ok(Self {
            encoder: Some(encoder),
            out_size,
            pending: Bytes::new(),
        })
    }

    /// Whether the last piece pushed has been fed to the encoder, so the next may be pushed.
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

    /// The next piece of compressed output once about `out_size` bytes of it are ready, or
    /// `None` when more input is needed for that.
    pub fn next_piece(&mut self) -> io::Result<Option<Bytes>> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Ok(None);
        };
        // Fed in slices, so that one large piece never makes a large buffer of output.
        while !self.pending.is_empty() {
            let slice = self.pending.split_to(self.out_size.min(self.pending.len()));
            encoder.write_all(&slice)?;
            if encoder.output().len() >= self.out_size {
                return Ok(Some(self.take_output()));
            }
        }
        Ok(None)
    }

    /// The rest of the compressed output with its trailer, once the input has ended
    /// cleanly: the end of a complete file. `None` after the first call.
    pub fn finish(&mut self) -> io::Result<Option<Bytes>> {
        if let Some(piece) = self.next_piece()? {
            return Ok(Some(piece));
        }
        match self.encoder.take() {
            Some(encoder) => Ok(Some(Bytes::from(encoder.finish()?))),
            None => Ok(None),
        }
    }

    /// Drops the encoder and everything buffered, never writing a trailer (after an
    /// upstream error: the file must stay incomplete).
    pub fn abandon(&mut self) {
        self.encoder = None;
        self.pending = Bytes::new();
    }

    fn take_output(&mut self) -> Bytes {
        let out_size = self.out_size;
        let output = self
            .encoder
            .as_mut()
            .expect("taken only while encoding")
            .output();
        Bytes::from(std::mem::replace(output, Vec::with_capacity(out_size)))
    }
}

/// The stream adapter around [`Compressor`]; see [`compress`].
#[derive(Debug)]
pub struct Compress<S> {
    upstream: Option<S>,
    core: Compressor,
}

/// Compresses `upstream` with `core` (made before the export starts, so that a compressor
/// that cannot start costs no query).
///
/// The first error is passed through unchanged, the compressed bytes buffered before it are
/// dropped, no trailer is written, and nothing is yielded after it. The upstream is dropped
/// as soon as it ends or fails.
pub fn compress<S>(upstream: S, core: Compressor) -> Compress<S>
where
    S: Stream<Item = Result<Bytes, StreamError>> + Unpin,
{
    Compress {
        upstream: Some(upstream),
        core,
    }
}

impl<S> Compress<S> {
    /// Ends the stream with `error`: nothing of the encoder's reaches the output.
    fn fail(&mut self, error: StreamError) -> Poll<Option<Result<Bytes, StreamError>>> {
        self.upstream = None;
        self.core.abandon();
        Poll::Ready(Some(Err(error)))
    }
}

impl<S> Stream for Compress<S>
where
    S: Stream<Item = Result<Bytes, StreamError>> + Unpin,
{
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match this.core.next_piece() {
                Ok(Some(piece)) => return Poll::Ready(Some(Ok(piece))),
                Ok(None) => {}
                Err(error) => return this.fail(StreamError::Compress(error)),
            }
            let Some(upstream) = this.upstream.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(upstream.poll_next_unpin(cx)) {
                Some(Ok(piece)) => this.core.push(piece),
                Some(Err(error)) => return this.fail(error),
                None => {
                    this.upstream = None;
                    return match this.core.finish() {
                        Ok(piece) => Poll::Ready(piece.map(Ok)),
                        Err(error) => this.fail(StreamError::Compress(error)),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use futures_util::stream;

    use super::*;
    use crate::stage::LimitExceeded;

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

    fn decompress(compression: Compression, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        match compression {
            Compression::Gzip => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?,
            Compression::Zstd => zstd::stream::read::Decoder::new(bytes)?.read_to_end(&mut out)?,
        };
        Ok(out)
    }

    /// Rows that do not compress to nothing, so the encoders emit output before the end.
    fn rows(count: usize) -> Vec<Bytes> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..count)
            .map(|row| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                Bytes::from(format!("{row},{state:x},{}\n", state % 997))
            })
            .collect()
    }

    fn run(
        compression: Compression,
        input: Vec<Result<Bytes, StreamError>>,
        out_size: usize,
    ) -> Vec<Result<Bytes, StreamError>> {
        let core = Compressor::new(compression, 1, out_size).unwrap();
        let stage = compress(stream::iter(input), core);
        block_on(stage.collect())
    }

    #[test]
    fn round_trips_in_bounded_pieces() {
        for &compression in Compression::ALL {
            let input = rows(20_000);
            let plain: Vec<u8> = input.iter().flat_map(|p| p.iter().copied()).collect();
            // One piece far larger than a chunk among small ones.
            let mut pieces: Vec<Result<Bytes, StreamError>> = input.into_iter().map(Ok).collect();
            pieces.push(Ok(Bytes::from(plain.repeat(2))));
            let mut expected = plain.clone();
            expected.extend_from_slice(&plain.repeat(2));

            let out = run(compression, pieces, 4096);
            let pieces: Vec<Bytes> = out.into_iter().map(|piece| piece.unwrap()).collect();
            assert!(pieces.len() > 10, "{compression}: output comes as it fills");
            for piece in &pieces {
                // An output piece is at most a chunk plus what one slice of input made.
                assert!(
                    piece.len() < 4096 + 256 * 1024,
                    "{compression}: {}",
                    piece.len()
                );
            }
            let joined: Vec<u8> = pieces.concat();
            assert_eq!(decompress(compression, &joined).unwrap(), expected);
        }
    }

    #[test]
    fn empty_input_is_a_valid_empty_file() {
        for &compression in Compression::ALL {
            let out = run(compression, vec![], 64);
            let joined: Vec<u8> = out
                .into_iter()
                .map(|piece| piece.unwrap())
                .collect::<Vec<_>>()
                .concat();
            assert!(
                !joined.is_empty(),
                "{compression}: an empty file still has its framing"
            );
            assert_eq!(decompress(compression, &joined).unwrap(), b"");
        }
    }

    #[test]
    fn first_error_passes_through_without_a_trailer() {
        for &compression in Compression::ALL {
            let mut input: Vec<Result<Bytes, StreamError>> =
                rows(30_000).into_iter().map(Ok).collect();
            input.push(Err(StreamError::Limit(LimitExceeded::Rows(30_000))));
            input.push(Ok(Bytes::from_static(b"never seen\n")));
            let out = run(compression, input, 1024);
            let (last, before) = out.split_last().expect("some output");
            assert!(
                matches!(last, Err(StreamError::Limit(LimitExceeded::Rows(30_000)))),
                "{compression}: the error, unchanged, ends the stream: {last:?}"
            );
            assert!(!before.is_empty(), "{compression}: output before the error");
            let joined: Vec<u8> = before
                .iter()
                .map(|piece| piece.as_ref().expect("only the last item fails").clone())
                .collect::<Vec<_>>()
                .concat();
            assert!(
                decompress(compression, &joined).is_err(),
                "{compression}: what came before the error must not decompress as a whole file"
            );
        }
    }

    #[test]
    fn an_error_first_yields_only_the_error() {
        for &compression in Compression::ALL {
            let out = run(
                compression,
                vec![
                    Err(StreamError::Limit(LimitExceeded::Bytes(1))),
                    Ok(Bytes::from_static(b"x")),
                ],
                64,
            );
            assert!(
                matches!(out[..], [Err(StreamError::Limit(LimitExceeded::Bytes(1)))]),
                "{compression}: no header, no trailer: {out:?}"
            );
        }
    }
}
