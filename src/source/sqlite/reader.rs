//! The blocking side of a SQLite export: a thread that owns the read-only connection,
//! plans the statement, then steps its rows and hands them over a bounded channel in
//! pieces of whole rows, so a slow client slows the reader and memory stays flat.
//!
//! The export is one read transaction: every row comes from one snapshot of the file.
//! The thread stops when the receiving side is gone (its next send fails) or when its
//! [`Interrupt`](super::guard::Interrupt) fires (a dropped download, `statement_timeout`),
//! which also stops SQLite inside one long step, such as a sort before the first row.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use rusqlite::{Connection, ErrorCode};
use tokio::sync::{mpsc, oneshot};

use super::guard::ConsumerWaits;
use super::plan::{Plan, failed};
use super::rows::{InvalidText, encode_field};
use crate::export::ExportQuery;
use crate::schema::Schema;
use crate::source::{RowOptions, SourceError, ValueForm};

/// Bytes of rows gathered before they are handed over.
const PIECE_SIZE: usize = 64 * 1024;

/// Pieces the channel holds before the reader waits.
pub(super) const CHANNEL_PIECES: usize = 2;

/// What the reader thread needs besides its connection.
pub(super) struct Reading {
    pub query: ExportQuery,
    pub options: RowOptions,
    /// Gets the schema, or why the statement cannot run, before any row.
    pub planned: oneshot::Sender<Result<Schema, SourceError>>,
    pub pieces: mpsc::Sender<Result<Bytes, SourceError>>,
    /// Where the time spent waiting for `pieces` to take a piece is counted, which
    /// `statement_timeout` leaves out.
    pub waits: Arc<ConsumerWaits>,
    /// Set when `statement_timeout` fired, so an interrupt is told from a dropped export.
    pub timed_out: Arc<AtomicBool>,
    /// Readers running in this process, for tests and metrics.
    pub running: Arc<AtomicUsize>,
    /// Set once every row was handed over: a channel that closes without it (a reader
    /// that panicked) is a broken export, never a complete one.
    pub completed: Arc<AtomicBool>,
}

/// Counts a reader as running until it returns.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs one export on `connection`; returns when it ended, failed or was abandoned.
pub(super) fn read(connection: Connection, reading: Reading) {
    reading.running.fetch_add(1, Ordering::SeqCst);
    let _running = Running(reading.running.clone());
    // One snapshot for the plan and every row. A read-only connection ends it on close.
    if let Err(error) = connection.execute_batch("BEGIN") {
        let _ = reading.planned.send(Err(failed(0, &error)));
        return;
    }
    let mut plan = match Plan::new(&connection, &reading.query) {
        Ok(plan) => plan,
        Err(error) => {
            let _ = reading.planned.send(Err(error));
            return;
        }
    };
    let fields = plan.schema.fields();
    if reading.planned.send(Ok(plan.schema.clone())).is_err() {
        return;
    }
    let invalid = match reading.options.form {
        ValueForm::Text => InvalidText::Kept,
        ValueForm::Json => InvalidText::Replaced,
    };
    let timeout = reading.options.statement_timeout;
    let mut rows = plan.statement.raw_query();
    let mut piece = BytesMut::with_capacity(PIECE_SIZE + 1024);
    // Rows handed over, and rows in `piece` not yet.
    let mut sent: u64 = 0;
    let mut pending: u64 = 0;
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                for index in 0..fields {
                    let value = row.get_ref(index).expect("the plan's field count");
                    encode_field(value, invalid, &mut piece);
                }
                pending += 1;
                if piece.len() >= PIECE_SIZE {
                    let full = piece.split().freeze();
                    let handed = reading
                        .waits
                        .waiting(|| reading.pieces.blocking_send(Ok(full)));
                    if handed.is_err() {
                        return;
                    }
                    sent += pending;
                    pending = 0;
                    piece.reserve(PIECE_SIZE + 1024);
                }
            }
            Ok(None) => break,
            Err(error) => {
                let interrupted =
                    error.sqlite_error_code() == Some(ErrorCode::OperationInterrupted);
                let error = match timeout {
                    Some(timeout) if interrupted && reading.timed_out.load(Ordering::SeqCst) => {
                        SourceError::TimedOut {
                            rows: sent,
                            limit: timeout,
                        }
                    }
                    // Interrupted because the export was dropped: nobody is listening.
                    _ if interrupted => return,
                    _ => failed(sent, &error),
                };
                // The rows read but not handed over are dropped: the error counts those
                // that went out.
                let _ = reading.pieces.blocking_send(Err(error));
                return;
            }
        }
    }
    if !piece.is_empty() {
        let last = piece.freeze();
        let handed = reading
            .waits
            .waiting(|| reading.pieces.blocking_send(Ok(last)));
        if handed.is_err() {
            return;
        }
    }
    reading.completed.store(true, Ordering::SeqCst);
}
