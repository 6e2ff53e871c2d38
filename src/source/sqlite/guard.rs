//! [`Interrupt`]: who stops a SQLite export's reader thread, whoever drops the export.
//!
//! The guard owns the connection's interrupt handle. Dropped before the rows ended (a
//! client that went away, an export abandoned), it interrupts the connection: SQLite
//! stops within its next few virtual-machine steps, also inside one long step such as a
//! sort before the first row, and the reader thread returns. `statement_timeout` is the
//! same interrupt on a timer, marked so that the reader fails the export loudly. Like
//! PostgreSQL's, the limit counts the time spent on the database's side, never a client's
//! pace: the time the reader waits to hand rows over ([`ConsumerWaits`]) is left out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// that sets `timed_out` and interrupts once the export has spent `timeout` outside
    /// the reader's `waits`.
    pub fn new(
        handle: InterruptHandle,
        timeout: Option<Duration>,
        waits: Arc<ConsumerWaits>,
        timed_out: Arc<AtomicBool>,
        interrupts: Arc<AtomicU64>,
    ) -> Self {
        let handle = Arc::new(handle);
        // `0s` is "no limit", as PostgreSQL's `statement_timeout = 0` is.
        let timer = timeout.filter(|timeout| !timeout.is_zero()).map(|timeout| {
            let handle = handle.clone();
            tokio::spawn(async move {
                // Sleeps for what is left of the limit, as often as waits for the client
                // have pushed it back: a few times per export, not once per piece.
                loop {
                    let spent = waits.database_time();
                    if spent >= timeout {
                        break;
                    }
                    tokio::time::sleep(timeout - spent).await;
                }
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

/// The time a SQLite export's reader has spent waiting to hand rows over (its channel full:
/// a slow client), which `statement_timeout` does not count. Written by the reader thread,
/// read by the timer.
#[derive(Debug)]
pub(super) struct ConsumerWaits {
    origin: Instant,
    /// Nanoseconds (since `origin`) of the waits that have ended.
    ended: AtomicU64,
    /// When the current wait began (nanoseconds since `origin`), or [`NOT_WAITING`].
    since: AtomicU64,
}

const NOT_WAITING: u64 = u64::MAX;

impl ConsumerWaits {
    /// Starts the export's clock.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            ended: AtomicU64::new(0),
            since: AtomicU64::new(NOT_WAITING),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Runs `hand_over` (a send that blocks while the channel is full) as time spent
    /// waiting for the client.
    pub fn waiting<T>(&self, hand_over: impl FnOnce() -> T) -> T {
        let began = self.now();
        self.since.store(began, Ordering::SeqCst);
        let result = hand_over();
        // Added before the wait is marked over: a reader of the two in the other order
        // ([`Self::database_time`]) may count the wait twice (and so check again later),
        // never not at all.
        self.ended
            .fetch_add(self.now().saturating_sub(began), Ordering::SeqCst);
        self.since.store(NOT_WAITING, Ordering::SeqCst);
        result
    }

    /// The export's time so far, but for its waits for the client.
    pub fn database_time(&self) -> Duration {
        let since = self.since.load(Ordering::SeqCst);
        let ended = self.ended.load(Ordering::SeqCst);
        let now = self.now();
        let current = match since {
            NOT_WAITING => 0,
            since => now.saturating_sub(since),
        };
        Duration::from_nanos(now.saturating_sub(ended.saturating_add(current)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_client_are_left_out_of_the_database_time() {
        let waits = ConsumerWaits::new();
        std::thread::sleep(Duration::from_millis(20));
        waits.waiting(|| std::thread::sleep(Duration::from_millis(200)));
        let spent = waits.database_time();
        assert!(
            spent >= Duration::from_millis(20) && spent < Duration::from_millis(150),
            "{spent:?}"
        );
    }

    #[test]
    fn a_wait_in_progress_is_left_out_too() {
        let waits = Arc::new(ConsumerWaits::new());
        let waiting = waits.clone();
        let (started, start) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            waiting.waiting(|| {
                started.send(()).unwrap();
                stopped.recv().unwrap();
            })
        });
        start.recv().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(waits.database_time() < Duration::from_millis(150));
        stop.send(()).unwrap();
        reader.join().unwrap();
        assert!(waits.database_time() < Duration::from_millis(150));
    }
}
