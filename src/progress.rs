//! Counters shared between the stages of one export.
//!
//! The source counts rows (it is the only stage that still sees them) and the sink counts
//! bytes (it is the only stage that knows what was really delivered); the limit stage
//! counts the format's bytes before any compression, so that a compressed export's ratio
//! is known. Readers such as the
//! CLI's progress line and the server's download log take snapshots whenever they like;
//! nothing here allocates or logs per row.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Rows produced and bytes delivered so far by one export.
#[derive(Debug)]
pub struct Progress {
    rows: AtomicU64,
    bytes: AtomicU64,
    plain_bytes: AtomicU64,
    started: Instant,
}

impl Progress {
    /// Starts the clock at zero rows and bytes.
    pub fn new() -> Self {
        Self {
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            plain_bytes: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub fn add_rows(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes of the format, before compression, passed on towards the sink.
    pub fn add_plain_bytes(&self, bytes: u64) {
        self.plain_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The format's bytes before compression so far: [`bytes`](Self::bytes) once an
    /// uncompressed export is delivered, more than them (usually) for a compressed one.
    pub fn plain_bytes(&self) -> u64 {
        self.plain_bytes.load(Ordering::Relaxed)
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Average rate since the start, in bytes per second.
    pub fn bytes_per_second(&self) -> f64 {
        let seconds = self.elapsed().as_secs_f64();
        if seconds > 0.0 {
            self.bytes() as f64 / seconds
        } else {
            0.0
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
