//! [`Interrupt`]: who stops a SQLite export's reader thread, whoever drops the export.
//!
//! The guard owns the connection's interrupt handle. Dropped before the rows ended (a
//! client that went away, an export abandoned), it interrupts the connection: SQLite
//! stops within its next few virtual-machine steps, also inside one long step such as a
//! sort before the first row, and the reader thread returns. `statement_timeout` is the
//! same interrupt on a timer, marked so that the reader fails the export loudly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::InterruptHandle;

/// Exports interrupted because they were dropped, in this process (every source's).
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// How many SQLite exports dropped guards have interrupted since the process started.
pub fn interrupt_count() -> u64 {
    INTERRUPTS.load(Ordering::Relaxed)
}

/// Interrupts a SQLite export when dropped before [`Interrupt::finish`], or when its
/// `statement_timeout` passes.
pub(super) struct Interrupt {
    handle: Arc<InterruptHandle>,
    timer: Option<tokio::task::AbortHandle>,
    finished: bool,
    /// The source's count of exports interrupted because they were dropped.
    interrupts: Arc<AtomicU64>,
}

impl Interrupt {
    /// A guard of `handle`; with a `timeout`, a timer (on the current Tokio runtime)
    /// that sets `timed_out` and interrupts.
    pub fn new(
        handle: InterruptHandle,
        timeout: Option<Duration>,
        timed_out: Arc<AtomicBool>,
        interrupts: Arc<AtomicU64>,
    ) -> Self {
        let handle = Arc::new(handle);
        // `0s` is "no limit", as PostgreSQL's `statement_timeout = 0` is.
        let timer = timeout.filter(|timeout| !timeout.is_zero()).map(|timeout| {
            let handle = handle.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                timed_out.store(true, Ordering::SeqCst);
                handle.interrupt();
            })
            .abort_handle()
        });
        Self {
            handle,
            timer,
            finished: false,
            interrupts,
        }
    }

    /// The rows ended: nothing to stop.
    pub fn finish(&mut self) {
        self.finished = true;
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        if !self.finished {
            // A no-op once the reader closed its connection.
            self.handle.interrupt();
            self.interrupts.fetch_add(1, Ordering::SeqCst);
            INTERRUPTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}
