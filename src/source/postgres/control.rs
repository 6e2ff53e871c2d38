//! The queries rowpipe runs for itself rather than for an export: the health check,
//! discovery's listing and primary keys, describing a dataset, the planner's estimate.
//!
//! Each runs in a `REPEATABLE READ READ ONLY` transaction of its own, exactly as an export
//! does ([`BEGIN_READ_ONLY`]). Left to the session's defaults, a standby whose
//! `default_transaction_isolation` is `serializable` (as `pg_basebackup` copies it from a
//! primary that has it) refuses every one of them with 0A000, and a load balancer would
//! take a working replica for a dead one. The connection is held through a
//! [`ConnectionGuard`], so a query dropped half way (a health check that timed out) is
//! cancelled and its connection closed, never pooled inside an open transaction.

use tokio_postgres::Client;

use super::connect::Pool;
use super::copy::BEGIN_READ_ONLY;
use super::guard::ConnectionGuard;
use crate::source::SourceError;

/// Runs `query` on a connection of `pool` inside a `REPEATABLE READ READ ONLY`
/// transaction, and ends the transaction (committed when `query` succeeded, rolled back
/// otherwise) before the connection goes back to the pool.
pub(super) async fn read_only<T>(
    pool: &Pool,
    query: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
) -> Result<T, SourceError> {
    let guard = ConnectionGuard::checkout(pool)
        .await
        .map_err(SourceError::Connect)?;
    let client = guard.client();
    let answered = async {
        client.batch_execute(BEGIN_READ_ONLY).await?;
        let answer = query(client).await?;
        client.batch_execute("COMMIT").await?;
        Ok(answer)
    }
    .await;
    match answered {
        Ok(answer) => {
            guard.release();
            Ok(answer)
        }
        Err(error) => {
            guard.failed(&error).await;
            Err(SourceError::Query(error))
        }
    }
}
