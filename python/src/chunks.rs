//! `Chunks`: a started export as a Python iterator of `bytes`.
//!
//! - **The GIL is released** while the next chunk is awaited (and while `to_file` writes),
//!   so other Python threads run meanwhile; the engine itself runs on the process's runtime.
//!   A long wait looks at Python's signals every 100 ms, so Ctrl-C still interrupts it.
//! - **Closing cancels.** `close()` (called by WSGI servers when a client leaves, by the
//!   async face when its task is cancelled) wakes a thread waiting for a chunk and drops the
//!   stream, whose guard cancels the query on the server and releases the connection. So
//!   does dropping or garbage-collecting the object, on any thread.
//! - **A failure ends it.** An error after the first byte raises from `__next__` once; the
//!   iterator is finished after it, so a server aborts the response instead of ending it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::errors::Failure;
use crate::runtime::SIGNAL_CHECK;

/// The stream of a started export.
pub type ChunkStream = Box<dyn Stream<Item = Result<Bytes, rowpipe::Error>> + Send + Unpin>;

/// The chunks of a running export: an iterator of `bytes`, each about `chunk_size` long.
#[pyclass(frozen, module = "rowpipe")]
pub struct Chunks {
    /// `None` once the export ended, failed or was closed.
    stream: Mutex<Option<ChunkStream>>,
    /// Set by `close`: wakes a thread waiting for the next chunk.
    closed: watch::Sender<bool>,
    /// Whether a chunk was handed out (then `to_file` would write only the rest).
    taken: AtomicBool,
    runtime: Arc<Runtime>,
    content_type: &'static str,
    /// The file name's ending: `.csv`, `.jsonl.gz`, ...
    suffix: String,
}

impl Chunks {
    /// A started export's chunks.
    pub fn new(
        stream: ChunkStream,
        runtime: Arc<Runtime>,
        content_type: &'static str,
        suffix: String,
    ) -> Self {
        Self {
            stream: Mutex::new(Some(stream)),
            closed: watch::Sender::new(false),
            taken: AtomicBool::new(false),
            runtime,
            content_type,
            suffix,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<ChunkStream>> {
        self.stream
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next chunk, waited for without the GIL, a slice of [`SIGNAL_CHECK`] at a time
    /// with Python's signal handlers run in between (so Ctrl-C raises `KeyboardInterrupt`
    /// during a long wait); `None` at the end or once closed.
    fn next_bytes(&self, py: Python<'_>) -> PyResult<Option<Bytes>> {
        loop {
            match py.detach(|| self.step(SIGNAL_CHECK)) {
                Ok(Step::Chunk(chunk)) => return Ok(Some(chunk)),
                Ok(Step::End) => return Ok(None),
                Ok(Step::Waiting) => py.check_signals()?,
                Err(error) => return Err(Failure::from(error).into_pyerr(py)),
            }
        }
    }

    /// Waits up to `wait` for the next chunk. The stream is dropped (and so the query ended
    /// or cancelled) as soon as it is done; a wait that ran out loses nothing (a stream's
    /// `next` may be given up and asked again).
    fn step(&self, wait: Duration) -> Result<Step, rowpipe::Error> {
        let mut slot = self.lock();
        let Some(stream) = slot.as_mut() else {
            return Ok(Step::End);
        };
        let mut closed = self.closed.subscribe();
        let next = self.runtime.block_on(async {
            tokio::select! {
                biased;
                _ = closed.wait_for(|closed| *closed) => Some(None),
                next = tokio::time::timeout(wait, stream.next()) => next.ok(),
            }
        });
        match next {
            None => Ok(Step::Waiting),
            Some(Some(Ok(chunk))) => Ok(Step::Chunk(chunk)),
            Some(ended) => {
                self.drop_stream(slot.take());
                ended.transpose().map(|_| Step::End)
            }
        }
    }

    /// Drops a stream inside the runtime, so that its cancel runs there rather than on a
    /// thread of its own.
    fn drop_stream(&self, stream: Option<ChunkStream>) {
        let _entered = self.runtime.enter();
        drop(stream);
    }

    /// Writes every chunk to `part`, flushed to disk; the GIL is released for each wait
    /// and each write.
    fn write_part(&self, py: Python<'_>, part: &Path) -> PyResult<u64> {
        let mut file = py
            .detach(|| File::create(part))
            .map_err(|error| write_failure(part, &error).into_pyerr(py))?;
        let mut bytes = 0;
        while let Some(chunk) = self.next_bytes(py)? {
            py.detach(|| file.write_all(&chunk))
                .map_err(|error| write_failure(part, &error).into_pyerr(py))?;
            bytes += chunk.len() as u64;
        }
        if *self.closed.borrow() {
            return Err(
                Failure::Invalid("the export was closed while being written".into()).into_pyerr(py),
            );
        }
        py.detach(|| file.sync_all())
            .map_err(|error| write_failure(part, &error).into_pyerr(py))?;
        Ok(bytes)
    }
}

/// What one wait for a chunk came to.
enum Step {
    Chunk(Bytes),
    End,
    Waiting,
}

fn write_failure(path: &Path, error: &std::io::Error) -> Failure {
    Failure::Write(format!("cannot write {}: {error}", path.display()))
}

#[pymethods]
impl Chunks {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        self.next_chunk(py)
    }

    /// The next chunk, or `None` at the end (what `__next__` gives, without
    /// `StopIteration`, for the async face's executor).
    fn next_chunk(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        self.taken.store(true, Ordering::SeqCst);
        let chunk = self.next_bytes(py)?;
        Ok(chunk.map(|chunk| PyBytes::new(py, &chunk).unbind()))
    }

    /// Stops the export: cancels its query on the server and releases the connection.
    /// Safe to call from any thread, while another thread waits for a chunk, and more
    /// than once.
    fn close(&self, py: Python<'_>) {
        self.closed.send_replace(true);
        py.detach(|| {
            let stream = self.lock().take();
            self.drop_stream(stream);
        });
    }

    /// Writes the whole export to `path` atomically: into `path.part`, renamed into place
    /// once complete; a failed export leaves no file (and an older `path` untouched).
    /// Returns the bytes written.
    fn to_file(&self, py: Python<'_>, path: PathBuf) -> PyResult<u64> {
        if self.taken.swap(true, Ordering::SeqCst) {
            return Err(Failure::Invalid(
                "to_file writes a whole export, and chunks were already taken from this one".into(),
            )
            .into_pyerr(py));
        }
        let mut part = path.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        let written = self.write_part(py, &part).and_then(|bytes| {
            py.detach(|| std::fs::rename(&part, &path))
                .map(|()| bytes)
                .map_err(|error| write_failure(&path, &error).into_pyerr(py))
        });
        if written.is_err() {
            // Whatever failed (the query, the disk, a KeyboardInterrupt), the export is
            // over: its query is cancelled and no part file is left.
            self.close(py);
            let _ = std::fs::remove_file(&part);
        }
        written
    }

    /// The `Content-Type` of what the export writes (`text/csv; charset=utf-8`, ...).
    #[getter]
    fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// A file name for the export: `name` with the format's extension (and the
    /// compression's): `filename("orders")` is `"orders.csv"`.
    fn filename(&self, name: &str) -> String {
        format!("{name}{}", self.suffix)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _type: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) {
        self.close(py);
    }
}
