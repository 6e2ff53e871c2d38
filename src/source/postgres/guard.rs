//! Ownership of a pooled connection that is running a query on behalf of a stream.
//!
//! Dropping a `tokio-postgres` copy or row stream does *not* stop the query: the connection
//! keeps reading and discarding rows until the server is done, and a pool would hand that
//! busy connection to the next request. So whoever runs a streaming query holds it through
//! a [`ConnectionGuard`]. Unless the stream ended cleanly and the guard was
//! [released](ConnectionGuard::release), dropping the guard cancels the query on the server
//! and discards the connection instead of returning it to the pool. The cancel request
//! goes over TLS as the connection did (the pool's [`Canceller`]), so it
//! reaches a server that takes only encrypted connections. It does so wherever it is
//! dropped: on a Tokio runtime it spawns the cancel request there; anywhere else (a
//! blocking caller, another language's garbage collector) on a thread of its own.
//!
//! The process counts the cancel requests sent, and those that could not be
//! ([`cancel_counts`]), for the server's `/metrics`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::CancelToken;

use super::connect::{Canceller, Lent, Object, Pool, PoolError};

/// A pooled connection that is returned to the pool only when explicitly released.
pub struct ConnectionGuard {
    client: Option<Object>,
    cancel: CancelToken,
    /// How the pool connects, for the cancel request.
    canceller: Canceller,
}

impl ConnectionGuard {
    /// Takes a connection from the pool.
    pub async fn checkout(pool: &Pool) -> Result<Self, PoolError> {
        let client = pool.get().await?;
        let cancel = client.cancel_token();
        Ok(Self {
            client: Some(client),
            cancel,
            canceller: pool.manager().canceller().clone(),
        })
    }

    /// The connection, for running statements.
    pub fn client(&self) -> &tokio_postgres::Client {
        self.client
            .as_ref()
            .expect("a guard holds its client until it is consumed")
    }

    /// Takes the connection's driver into the caller's task, which must then poll it
    /// whenever it waits for the connection (see [`Lent`]); `None` if the connection has
    /// ended.
    pub fn lend_driver(&self) -> Option<Lent> {
        self.client.as_ref().and_then(|client| client.lend_driver())
    }

    /// The query finished and the connection is idle again: return it to the pool.
    pub fn release(mut self) {
        drop(self.client.take());
    }

    /// The query already ended in an error, so there is nothing to cancel, but the
    /// connection's state is unknown: close it rather than pool it.
    pub fn discard(mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }

    /// Ends the connection's transaction without committing it: the connection goes back
    /// to the pool once `ROLLBACK` succeeded, and is closed otherwise.
    pub async fn roll_back(self) {
        match self.client().batch_execute("ROLLBACK").await {
            Ok(()) => self.release(),
            Err(_) => self.discard(),
        }
    }

    /// A statement of the connection's transaction failed with `error`. When the server
    /// answered it, nothing runs any more and the connection only needs its failed
    /// transaction rolled back to be reusable; otherwise (the connection broke) its state
    /// is unknown, and it is closed.
    pub async fn failed(self, error: &tokio_postgres::Error) {
        match error.as_db_error() {
            Some(_) => self.roll_back().await,
            None => self.discard(),
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        // The stream was abandoned mid-query. Ask the server to stop it, then close the
        // connection: the cancel would hit whatever the connection ran next, so it can
        // never go back to the pool.
        let cancel = self.cancel.clone();
        let canceller = self.canceller.clone();
        let pending = PendingCancel::new();
        let send = async move {
            match canceller.cancel(&cancel).await {
                Ok(()) => CANCELS_SENT.fetch_add(1, Ordering::Relaxed),
                Err(error) => {
                    tracing::warn!(error = %error, "could not cancel an abandoned query");
                    CANCELS_FAILED.fetch_add(1, Ordering::Relaxed)
                }
            };
            drop(pending);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(send)),
            // Dropped where no runtime runs (a blocking caller, a garbage collector's
            // thread): closing the connection alone would leave a query that is not
            // writing (a sort, a sleep) running on the server, so a thread of its own
            // sends the cancel.
            Err(_) => {
                let cancelling = std::thread::Builder::new()
                    .name("rowpipe-cancel".to_owned())
                    .spawn(move || {
                        match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(runtime) => runtime.block_on(send),
                            Err(error) => {
                                tracing::warn!(
                                    error = %error,
                                    "could not cancel an abandoned query: no runtime for it"
                                );
                                CANCELS_FAILED.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                if let Err(error) = cancelling {
                    tracing::warn!(error = %error, "could not cancel an abandoned query");
                    CANCELS_FAILED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        drop(Object::take(client));
    }
}

/// Cancel requests that reached the server, since the process started.
static CANCELS_SENT: AtomicU64 = AtomicU64::new(0);
/// Cancel requests that could not be sent (the server unreachable, no thread for it).
static CANCELS_FAILED: AtomicU64 = AtomicU64::new(0);

/// The queries dropped guards have cancelled since the process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CancelCounts {
    /// Cancel requests the server received.
    pub sent: u64,
    /// Cancel requests that could not be sent; their connections were closed all the same.
    pub failed: u64,
}

/// How many cancel requests dropped guards have sent, and failed to send, in this process
/// (a request still on its way counts once it is done).
pub fn cancel_counts() -> CancelCounts {
    CancelCounts {
        sent: CANCELS_SENT.load(Ordering::Relaxed),
        failed: CANCELS_FAILED.load(Ordering::Relaxed),
    }
}

/// Cancel requests sent from [`ConnectionGuard`]'s `Drop` that have not finished yet.
static PENDING_CANCELS: AtomicUsize = AtomicUsize::new(0);

/// One cancel request in [`PENDING_CANCELS`], for as long as it lives: however the request
/// ends (sent, failed, or dropped unsent), the count goes down.
struct PendingCancel;

impl PendingCancel {
    fn new() -> Self {
        PENDING_CANCELS.fetch_add(1, Ordering::SeqCst);
        PendingCancel
    }
}

impl Drop for PendingCancel {
    fn drop(&mut self) {
        PENDING_CANCELS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits (at most `limit`) until every cancel request sent by a dropped guard has reached
/// the server. A program that is about to exit calls this so that a query it abandoned does
/// not keep running on the server after the process is gone.
pub async fn cancels_settled(limit: Duration) {
    let deadline = Instant::now() + limit;
    while PENDING_CANCELS.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
