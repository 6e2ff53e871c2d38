//! The PostgreSQL COPY source: runs a query through `COPY (...) TO STDOUT` and yields the
//! server's own output, one piece per row.
//!
//! Every export runs in its own `REPEATABLE READ READ ONLY` transaction, so the result is
//! one consistent snapshot and the query cannot write, with `statement_timeout` set for that
//! transaction alone. The stream owns its connection through a [`ConnectionGuard`]: if it is
//! dropped before the end, the query is cancelled on the server and the connection is
//! discarded. Errors that happen before the first piece are returned by [`copy_csv`] itself,
//! so a caller can still answer them properly; later ones end the stream with an `Err`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use bytes::Bytes;
use futures_util::Stream;
use tokio_postgres::Client;

use super::connect::{Lent, Pool};
use super::guard::ConnectionGuard;
use crate::escape::quote_identifier;
use crate::progress::Progress;
use crate::source::SourceError;

/// Starts `COPY (<sql>) TO STDOUT (FORMAT csv, HEADER)` on a pooled connection: the
/// server formats every value.
///
/// Returns once the server has accepted the query, so a query that fails to plan is an
/// `Err` here rather than a broken stream. Rows are counted into `progress`.
pub async fn copy_csv(
    pool: &Pool,
    sql: &str,
    statement_timeout: Option<Duration>,
    progress: Arc<Progress>,
) -> Result<CopyStream, SourceError> {
    copy_server_text(
        pool,
        sql,
        "csv",
        Session::timed(statement_timeout),
        progress,
    )
    .await
}

/// What an export's transaction is opened with.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Session<'a> {
    /// Cancels the export when it waits on the database longer than this in all.
    pub statement_timeout: Option<Duration>,
    /// The role it runs as (`SET LOCAL ROLE`).
    pub role: Option<&'a str>,
}

impl Session<'_> {
    /// The connection's own role, with `statement_timeout`.
    fn timed(statement_timeout: Option<Duration>) -> Self {
        Session {
            statement_timeout,
            role: None,
        }
    }
}

/// `format` is one of two constants, never user input.
pub(super) async fn copy_server_text(
    pool: &Pool,
    sql: &str,
    format: &'static str,
    session: Session<'_>,
    progress: Arc<Progress>,
) -> Result<CopyStream, SourceError> {
    let statement_timeout = session.statement_timeout;
    let copy_sql = format!(
        "COPY (\n{}\n) TO STDOUT (FORMAT {format}, HEADER)",
        strip_terminator(sql)
    );
    let (stream, ()) = start_copy(pool, session, RowCount::Pieces(progress), async |client| {
        before_streaming(client, statement_timeout).await?;
        Ok((
            Some(Box::pin(client.copy_out(copy_sql.as_str()).await?) as Pieces),
            (),
        ))
    })
    .await?;
    Ok(stream.expect("the COPY was started"))
}

/// The pieces a running export query delivers, in COPY format.
pub(super) type Pieces = Pin<Box<dyn Stream<Item = Result<Bytes, tokio_postgres::Error>> + Send>>;

/// Opens an export's transaction on a pooled connection, then lets `start` prepare and
/// start its query there (and return whatever else it learnt on the way). `start` may
/// also decline to start anything (a request found invalid on the way), returning no
/// pieces; the connection then goes straight back to the pool.
///
/// A failure of any step is returned, and the connection goes back to the pool if the
/// server merely rejected a statement, or is discarded if its state is unknown.
pub(super) async fn start_copy<T>(
    pool: &Pool,
    session: Session<'_>,
    rows: RowCount,
    start: impl AsyncFnOnce(&Client) -> Result<(Option<Pieces>, T), tokio_postgres::Error>,
) -> Result<(Option<CopyStream>, T), SourceError> {
    let guard = ConnectionGuard::checkout(pool)
        .await
        .map_err(SourceError::Connect)?;
    // `0` is PostgreSQL's "no limit", and so rowpipe's.
    let statement_timeout = session.statement_timeout.filter(|limit| !limit.is_zero());
    let begin = begin_statement(session);
    let started = async {
        guard.client().batch_execute(&begin).await?;
        start(guard.client()).await
    };
    // The server may hold back the start of its answer until its first rows (a sort, a
    // slow function): the statement's time starts counting here, on rowpipe's clock.
    let since = Instant::now();
    let started = match statement_timeout {
        Some(limit) => match tokio::time::timeout(limit, started).await {
            Ok(started) => started,
            // Dropped unreleased, the guard cancels whatever runs.
            Err(_) => return Err(SourceError::TimedOut { rows: 0, limit }),
        },
        None => started.await,
    };
    match started {
        Ok((Some(copy), extra)) => Ok((
            Some(CopyStream {
                state: State::Copying {
                    copy,
                    driver: guard.lend_driver(),
                    guard,
                },
                messages: 0,
                rows,
                clock: statement_timeout.map(|limit| DatabaseClock::new(limit, since.elapsed())),
            }),
            extra,
        )),
        Ok((None, extra)) => {
            guard.roll_back().await;
            Ok((None, extra))
        }
        Err(error) => {
            guard.failed(&error).await;
            Err(SourceError::Query(error))
        }
    }
}

/// The transaction every query rowpipe runs is in, exports and its own alike: one
/// snapshot, and no writes. Named explicitly, so that neither a role's nor a server's
/// `default_transaction_isolation` applies: a standby refuses `serializable` (0A000), and
/// a `pg_basebackup` copies the primary's setting to it.
pub(super) const BEGIN_READ_ONLY: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The statements that open an export's transaction. Only numbers are formatted into it.
fn begin_statement(session: Session<'_>) -> String {
    let mut begin = String::from(BEGIN_READ_ONLY);
    if let Some(timeout) = session.statement_timeout {
        begin.push_str(&format!(
            "; SET LOCAL statement_timeout = {}",
            timeout.as_millis().min(i32::MAX as u128)
        ));
    }
    if let Some(role) = session.role {
        // A name from the config file, quoted as an identifier.
        begin.push_str(&format!("; SET LOCAL ROLE {}", quote_identifier(role)));
    }
    begin
}

/// Lifts the server's `statement_timeout` for the statement that streams the rows, when
/// rowpipe set one: from there on the export's [`DatabaseClock`] bounds the time spent
/// waiting for the database, so that a slow but steady client cannot make a large
/// download time out (the server's clock would count the time it spends blocked sending).
/// The statements before it (describing, checking parameters) keep the server's timeout.
pub(super) async fn before_streaming(
    client: &Client,
    statement_timeout: Option<Duration>,
) -> Result<(), tokio_postgres::Error> {
    if statement_timeout.is_some() {
        client
            .batch_execute("SET LOCAL statement_timeout = 0")
            .await?;
    }
    Ok(())
}

/// The time an export has spent waiting for the database: the time between asking its
/// connection for the next piece and getting it, summed. A client that reads slowly stops
/// the asking (back-pressure), so its time never counts; a query that computes slowly, or
/// sorts before its first row, does.
struct DatabaseClock {
    limit: Duration,
    spent: Duration,
    /// Since when the current wait has run.
    waiting: Option<Instant>,
    /// Fires no later than the limit could be reached: at first the limit from the start,
    /// and when it fires early (time went by while the client, not the database, was
    /// waited for), set again for what is left. So the timer is set a few times per
    /// export, not once per wait.
    timer: Pin<Box<Sleep>>,
}

impl DatabaseClock {
    /// A clock that has counted `spent` already (the statement's start).
    fn new(limit: Duration, spent: Duration) -> Self {
        Self {
            limit,
            spent,
            waiting: None,
            timer: Box::pin(tokio::time::sleep(limit.saturating_sub(spent))),
        }
    }

    /// The connection had nothing yet: starts (or goes on) waiting. `Ready` once the
    /// export has waited `limit` in all.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let since = *self.waiting.get_or_insert_with(Instant::now);
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let spent = self.spent + now.saturating_duration_since(since);
            if spent >= self.limit {
                return Poll::Ready(());
            }
            self.timer.as_mut().reset(now + (self.limit - spent));
        }
        Poll::Pending
    }

    /// A piece arrived: the current wait, if any, is over.
    fn arrived(&mut self) {
        if let Some(since) = self.waiting.take() {
            self.spent += since.elapsed();
        }
    }
}

/// Drops trailing whitespace and semicolons, which are fine at the end of a query but not
/// inside `COPY ( ... )`.
pub(crate) fn strip_terminator(sql: &str) -> &str {
    sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// The pieces of a running export query, in COPY format: one per row (a text COPY's
/// header line first; a binary COPY's header travels with the first row and its trailer
/// alone); see [`copy_csv`].
pub struct CopyStream {
    state: State,
    /// Pieces seen so far.
    messages: u64,
    rows: RowCount,
    /// The `statement_timeout` rowpipe keeps itself, when it set one.
    clock: Option<DatabaseClock>,
}

/// Who counts the rows of a [`CopyStream`], and so where its errors read how many there
/// were.
pub(super) enum RowCount {
    /// A text COPY: every piece after the first (the header line) is a row, counted here.
    Pieces(Arc<Progress>),
    /// Binary data, whose pieces are not rows: the stage that decodes them counts them.
    Downstream(Arc<Progress>),
}

#[expect(
    clippy::large_enum_variant,
    reason = "one per export, and it lives in the Copying state almost all its life"
)]
enum State {
    Copying {
        copy: Pieces,
        /// The connection's driver, run by the stream itself while the rows flow (see
        /// [`poll_pieces`]); `None` if the connection ended before it could be lent.
        driver: Option<Lent>,
        guard: ConnectionGuard,
    },
    /// The rows are all out; the transaction is being closed before the connection goes
    /// back to the pool.
    Committing(Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>),
    Done,
}

impl CopyStream {
    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        match &self.rows {
            RowCount::Pieces(_) => self.messages.saturating_sub(1),
            RowCount::Downstream(progress) => progress.rows(),
        }
    }
}

impl Stream for CopyStream {
    type Item = Result<Bytes, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Copying { copy, driver, .. } => match poll_pieces(copy, driver, cx) {
                    Poll::Pending => {
                        let Some(clock) = &mut this.clock else {
                            return Poll::Pending;
                        };
                        ready!(clock.pending(cx));
                        let limit = clock.limit;
                        // Out of time: the guard, dropped with the state, cancels the query.
                        let rows = this.rows();
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(SourceError::TimedOut { rows, limit })));
                    }
                    Poll::Ready(Some(Ok(piece))) => {
                        if let Some(clock) = &mut this.clock {
                            clock.arrived();
                        }
                        if let RowCount::Pieces(progress) = &this.rows {
                            if this.messages > 0 {
                                progress.add_rows(1);
                            }
                        }
                        this.messages += 1;
                        return Poll::Ready(Some(Ok(piece)));
                    }
                    Poll::Ready(Some(Err(source))) => {
                        if let State::Copying { guard, .. } =
                            std::mem::replace(&mut this.state, State::Done)
                        {
                            guard.discard();
                        }
                        let rows = this.rows();
                        return Poll::Ready(Some(Err(SourceError::Interrupted {
                            rows,
                            error: source,
                        })));
                    }
                    Poll::Ready(None) => {
                        let State::Copying { guard, driver, .. } =
                            std::mem::replace(&mut this.state, State::Done)
                        else {
                            unreachable!("matched Copying above");
                        };
                        // The few bytes of the commit are the background task's to run.
                        drop(driver);
                        this.state = State::Committing(Box::pin(async move {
                            guard.client().batch_execute("COMMIT").await?;
                            guard.release();
                            Ok(())
                        }));
                    }
                },
                State::Committing(commit) => {
                    let committed = ready!(commit.as_mut().poll(cx));
                    this.state = State::Done;
                    if let Err(source) = committed {
                        let rows = this.rows();
                        return Poll::Ready(Some(Err(SourceError::Interrupted {
                            rows,
                            error: source,
                        })));
                    }
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

/// The next piece, running the connection's driver in this task when it is lent here.
///
/// Only the driver, polled right here, feeds the pieces' channel, so the pieces are polled
/// without a waker of their own: their wake-up would be this very task waking itself,
/// which a multi-threaded runtime answers by waking a second thread to share the work.
/// When no piece is waiting, the driver reads the socket (and registers `cx` with it if it
/// is empty) and the pieces are asked again.
fn poll_pieces(
    copy: &mut Pieces,
    driver: &mut Option<Lent>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Bytes, tokio_postgres::Error>>> {
    let Some(driver) = driver else {
        return copy.as_mut().poll_next(cx);
    };
    let mut quiet = Context::from_waker(Waker::noop());
    if let Poll::Ready(piece) = copy.as_mut().poll_next(&mut quiet) {
        return Poll::Ready(piece);
    }
    // Ready only when the connection ended: the pieces then see it closed.
    let _ = driver.poll(cx);
    copy.as_mut().poll_next(&mut quiet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolons_and_space_are_dropped() {
        assert_eq!(strip_terminator("SELECT 1 ;\n\t"), "SELECT 1");
        assert_eq!(strip_terminator("SELECT ';'"), "SELECT ';'");
    }

    #[test]
    fn begin_sets_the_timeout_for_the_transaction_only() {
        let session = |statement_timeout, role| Session {
            statement_timeout,
            role,
        };
        assert_eq!(
            begin_statement(session(Some(Duration::from_secs(90)), None)),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL statement_timeout = 90000"
        );
        assert_eq!(
            begin_statement(session(None, None)),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        );
        assert_eq!(
            begin_statement(session(None, Some("a \"b\""))),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL ROLE \"a \"\"b\"\"\""
        );
    }
}
