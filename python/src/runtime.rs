//! The Tokio runtime every export of the process runs on, made on first use.
//!
//! One runtime for the process, not one per `Database`: a one-off `rowpipe.export(...)`
//! would otherwise start and stop two threads each time. A forked child (gunicorn's
//! workers, when the app was imported before the fork) has none of its parent's threads,
//! so a runtime made in another process is left alone (never dropped: dropping it would
//! wait for threads that do not exist here) and a new one is made.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How long a wait on the engine goes without a look at Python's signals.
pub const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Worker threads: the engine's stages and the database connections. Two keep up with
/// PostgreSQL's backend, which is the bottleneck of an export.
const WORKER_THREADS: usize = 2;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The process's runtime.
pub fn runtime() -> std::io::Result<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, runtime)) = &*slot {
        if *owner == pid {
            return Ok(runtime.clone());
        }
    }
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("rowpipe")
            .enable_all()
            .build()?,
    );
    if let Some(inherited) = slot.replace((pid, runtime.clone())) {
        std::mem::forget(inherited);
    }
    Ok(runtime)
}

/// Runs `future` on `runtime` and waits for it without the GIL, running Python's signal
/// handlers every [`SIGNAL_CHECK`]: a Ctrl-C raises `KeyboardInterrupt` and drops the
/// future (an export being opened is cancelled with it).
pub fn wait<F>(py: Python<'_>, runtime: &Runtime, future: F) -> PyResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    let mut task = runtime.spawn(future);
    loop {
        // The timer is made inside the runtime, which drives it.
        let done = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut task).await })
        });
        match done {
            Ok(Ok(output)) => return Ok(output),
            Ok(Err(panicked)) => std::panic::resume_unwind(panicked.into_panic()),
            Err(_) => {
                if let Err(interrupted) = py.check_signals() {
                    task.abort();
                    return Err(interrupted);
                }
            }
        }
    }
}
