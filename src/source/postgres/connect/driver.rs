//! A connection's protocol driver, run in the task that uses its bytes.
//!
//! tokio-postgres splits a connection in two: the `Client` that sends statements, and a
//! `Connection` future that reads and writes the socket, which somebody must poll. Run
//! as a task of its own (the usual way), it hands every read of the socket (8 KiB) to the
//! task that consumes the rows through a channel of one slot, and on a multi-threaded
//! runtime the two tasks sit on different threads: each hand-off wakes a thread and puts
//! one to sleep. For an export that is two thread switches per 8 KiB, which measured a
//! fifth of rowpipe's CPU time, and on a small machine that time comes out of the
//! database server's.
//!
//! So the `Connection` lives in a [`Driver`]. A background task polls it while the
//! connection is idle or runs short statements; an export [lends](Driver::lend) it for as
//! long as its rows stream and polls it in its own task, where reading the socket and
//! consuming what was read take turns without waking anyone. Handing it back wakes the
//! background task, which runs it from there on.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::task::JoinHandle;

/// tokio-postgres's `Connection` future, whatever its stream type.
pub type Connection = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// Where a connection's [`Connection`] future is kept while nobody has borrowed it.
pub struct Driver {
    slot: Mutex<Slot>,
}

struct Slot {
    /// `None` while lent, and once the connection has ended.
    connection: Option<Connection>,
    /// The connection has ended (closed, or broken): there is nothing left to run.
    ended: bool,
    /// Wakes the background task (once it has run).
    background: Option<Waker>,
}

impl Driver {
    /// Runs `connection` in a task of its own whenever it is not lent. The task ends when
    /// the connection does; aborting it drops the connection unless it is lent just then
    /// (the borrower drops it on giving it back).
    pub fn spawn(connection: Connection) -> (Arc<Driver>, JoinHandle<()>) {
        let driver = Arc::new(Driver {
            slot: Mutex::new(Slot {
                connection: Some(connection),
                ended: false,
                background: None,
            }),
        });
        let running = driver.clone();
        let task = tokio::spawn(std::future::poll_fn(move |cx| running.poll_background(cx)));
        (driver, task)
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The background task's turn: runs the connection if it is here.
    fn poll_background(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut slot = self.slot();
        if slot.ended {
            return Poll::Ready(());
        }
        // Kept whether or not the connection is here: a borrower polls it with its own
        // waker, which replaces this task's wherever the connection waits (the socket, the
        // client's requests), so giving it back must wake this task to take over again.
        if !slot
            .background
            .as_ref()
            .is_some_and(|known| known.will_wake(cx.waker()))
        {
            slot.background = Some(cx.waker().clone());
        }
        let Some(connection) = slot.connection.as_mut() else {
            return Poll::Pending;
        };
        let outcome = std::task::ready!(connection.as_mut().poll(cx));
        slot.connection = None;
        slot.ended = true;
        log_end(outcome);
        Poll::Ready(())
    }

    /// Takes the connection's driver into the caller's task, until the [`Lent`] is dropped;
    /// `None` when the connection has ended or is lent already.
    pub fn lend(self: &Arc<Self>) -> Option<Lent> {
        let connection = self.slot().connection.take()?;
        Some(Lent {
            driver: self.clone(),
            connection: Some(connection),
        })
    }
}

/// A connection's driver, borrowed: the borrower must [poll](Lent::poll) it whenever it
/// waits for the connection, or the connection stands still. Dropping it gives it back.
pub struct Lent {
    driver: Arc<Driver>,
    /// `None` once the connection has ended.
    connection: Option<Connection>,
}

impl Lent {
    /// Runs the connection: sends what the client queued, reads what the server sent and
    /// passes it on to the statements waiting for it. Registers `cx` to be woken when
    /// there is more to do. `Ready` once the connection has ended (its statements then see
    /// it closed).
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(connection) = self.connection.as_mut() else {
            return Poll::Ready(());
        };
        let outcome = std::task::ready!(connection.as_mut().poll(cx));
        self.connection = None;
        log_end(outcome);
        Poll::Ready(())
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let mut slot = self.driver.slot();
        match self.connection.take() {
            Some(connection) => slot.connection = Some(connection),
            None => slot.ended = true,
        }
        let background = slot.background.clone();
        drop(slot);
        if let Some(background) = background {
            background.wake();
        }
    }
}

/// A connection that broke says so in the debug log; what it broke shows as the failure of
/// the statement or export that was using it, which is reported where it is answered.
fn log_end(outcome: Result<(), tokio_postgres::Error>) {
    if let Err(error) = outcome {
        tracing::debug!(error = %error, "database connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A stand-in connection: counts its polls, and ends after `polls` of them.
    fn counting(polls: usize, seen: Arc<AtomicUsize>) -> Connection {
        Box::pin(std::future::poll_fn(move |cx| {
            let now = seen.fetch_add(1, Ordering::SeqCst) + 1;
            if now >= polls {
                return Poll::Ready(Ok(()));
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }))
    }

    /// A connection that never ends and never wakes anyone.
    fn idle() -> Connection {
        Box::pin(std::future::pending())
    }

    #[tokio::test]
    async fn the_background_task_runs_the_connection_to_its_end() {
        let seen = Arc::new(AtomicUsize::new(0));
        let (driver, task) = Driver::spawn(counting(5, seen.clone()));
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task ends with the connection")
            .expect("no panic");
        assert_eq!(seen.load(Ordering::SeqCst), 5);
        assert!(driver.lend().is_none(), "an ended connection is not lent");
    }

    #[tokio::test]
    async fn a_lent_connection_runs_in_the_borrowers_task_and_comes_back() {
        let (driver, task) = Driver::spawn(idle());
        tokio::task::yield_now().await;
        let mut lent = driver.lend().expect("idle, so it can be lent");
        assert!(driver.lend().is_none(), "lent once at a time");
        let waker = Waker::noop();
        assert!(lent.poll(&mut Context::from_waker(waker)).is_pending());
        drop(lent);
        assert!(!task.is_finished());
        let again = driver.lend().expect("given back, so it can be lent again");
        drop(again);
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
    }

    /// The case that matters: a borrower's poll moves the connection's wake-ups (the
    /// socket's, the client's requests') to the borrower's task, so after the borrower is
    /// done, the next statement must still reach a task that runs the connection.
    #[tokio::test]
    async fn after_a_loan_the_background_task_hears_the_connection_again() {
        let (requests, mut received) = tokio::sync::mpsc::unbounded_channel::<()>();
        let connection: Connection = Box::pin(async move {
            received.recv().await;
            Ok(())
        });
        let (driver, task) = Driver::spawn(connection);
        // The background task runs first and waits on the channel.
        tokio::task::yield_now().await;
        let mut lent = driver.lend().expect("idle");
        assert!(
            lent.poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        drop(lent);
        requests.send(()).expect("the connection listens");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the background task runs the connection after the loan")
            .expect("no panic");
    }

    #[tokio::test]
    async fn a_connection_that_ends_while_lent_ends_the_background_task() {
        let (driver, task) = Driver::spawn(idle());
        let mut lent = driver.lend().expect("idle");
        // The borrowed connection ends at its first poll.
        lent.connection = Some(counting(1, Arc::new(AtomicUsize::new(0))));
        let waker = Waker::noop();
        assert!(lent.poll(&mut Context::from_waker(waker)).is_ready());
        drop(lent);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the background task sees the end")
            .expect("no panic");
        assert!(driver.lend().is_none());
    }

    #[tokio::test]
    async fn aborting_the_task_while_lent_closes_the_connection_on_return() {
        struct Closed(Arc<AtomicUsize>);
        impl Drop for Closed {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let closed = Arc::new(AtomicUsize::new(0));
        let marker = Closed(closed.clone());
        let connection: Connection = Box::pin(async move {
            let _marker = marker;
            std::future::pending::<()>().await;
            Ok(())
        });
        let (driver, task) = Driver::spawn(connection);
        let lent = driver.lend().expect("idle");
        task.abort();
        let _ = task.await;
        drop(driver);
        assert_eq!(closed.load(Ordering::SeqCst), 0, "still lent");
        drop(lent);
        assert_eq!(
            closed.load(Ordering::SeqCst),
            1,
            "dropped with the last holder"
        );
    }
}
