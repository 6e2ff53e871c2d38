//! `Chunks`: a started export as a Python iterator of `bytes`.
//!
//! - **The GIL is released** while the next chunk is awaited (and while `to_file` writes),
//!   so other Python threads run meanwhile; the engine itself runs on the process's runtime.
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

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::errors::{Failure, IntoPy};

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

    /// The next chunk, waited for without the GIL; `None` at the end or once closed. The
    /// stream is dropped (and so the query ended or cancelled) as soon as it is done.
    fn next_bytes(&self) -> Result<Option<Bytes>, rowpipe::Error> {
        let mut slot = self.lock();
        let Some(stream) = slot.as_mut() else {
            return Ok(None);
        };
        let mut closed = self.closed.subscribe();
        let next = self.runtime.block_on(async {
            tokio::select! {
                biased;
                _ = closed.wait_for(|closed| *closed) => None,
                next = stream.next() => next,
            }
        });
        match next {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            ended => {
                self.drop_stream(slot.take());
                ended.transpose()
            }
        }
    }

    /// Drops a stream inside the runtime, so that its cancel runs there rather than on a
    /// thread of its own.
    fn drop_stream(&self, stream: Option<ChunkStream>) {
        let _entered = self.runtime.enter();
        drop(stream);
    }

    /// Writes every chunk to `path.part`, then renames it to `path`; on any failure the
    /// part file is removed and `path` is left as it was.
    fn write_file(&self, path: &Path) -> Result<u64, Failure> {
        let mut part = path.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        let written = self.write_part(&part);
        match written {
            Ok(bytes) => std::fs::rename(&part, path)
                .map(|()| bytes)
                .map_err(|error| write_failure(path, &error)),
            Err(failure) => {
                let _ = std::fs::remove_file(&part);
                Err(failure)
            }
        }
    }

    fn write_part(&self, part: &Path) -> Result<u64, Failure> {
        let mut file = File::create(part).map_err(|error| write_failure(part, &error))?;
        let mut bytes = 0;
        while let Some(chunk) = self.next_bytes()? {
            file.write_all(&chunk)
                .map_err(|error| write_failure(part, &error))?;
            bytes += chunk.len() as u64;
        }
        if *self.closed.borrow() {
            return Err(Failure::Invalid(
                "the export was closed while being written".into(),
            ));
        }
        file.sync_all()
            .map_err(|error| write_failure(part, &error))?;
        Ok(bytes)
    }
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
        let chunk = py.detach(|| self.next_bytes()).or_raise(py)?;
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
        py.detach(|| self.write_file(&path)).or_raise(py)
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
