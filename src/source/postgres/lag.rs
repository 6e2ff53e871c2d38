//! How far a read replica's data is behind: the health check of [`super::replicas`].
//!
//! `now() - pg_last_xact_replay_timestamp()` alone misleads: when the primary writes
//! nothing, the last replayed transaction grows old while the replica is fully caught up.
//! So the lag is zero whenever the replica has replayed all the WAL it received, and
//! only while replay is behind is it the age of the last transaction replayed. A replica
//! cut off from its primary receives nothing new, and so reports no lag either: it knows
//! of nothing newer (its connection state is PostgreSQL's `pg_stat_wal_receiver`).

use std::time::Duration;

use super::connect::Pool;

use super::control;
use crate::source::SourceError;

/// The replica's lag in seconds (see the module's comment); `0` on a server that is not
/// in recovery, NULL when replay is behind and no transaction was replayed yet. Every
/// function and operator is `pg_catalog`'s.
const LAG: &str = "\
    SELECT CASE \
      WHEN NOT pg_catalog.pg_is_in_recovery() THEN 0::pg_catalog.float8 \
      WHEN pg_catalog.pg_last_wal_receive_lsn() \
        OPERATOR(pg_catalog.<=) pg_catalog.pg_last_wal_replay_lsn() THEN 0::pg_catalog.float8 \
      ELSE pg_catalog.date_part('epoch', pg_catalog.now() \
        OPERATOR(pg_catalog.-) pg_catalog.pg_last_xact_replay_timestamp()) \
    END";

/// How far behind a server's data is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lag {
    /// Replay is this far behind (zero: caught up with what it received).
    Behind(Duration),
    /// Replay is behind, by how much it cannot tell yet (no transaction replayed since it
    /// started).
    Unknown,
}

/// The lag of the server `pool` connects to.
pub(super) async fn lag(pool: &Pool) -> Result<Lag, SourceError> {
    let seconds: Option<f64> = control::read_only(pool, async |client| {
        client.query_one(LAG, &[]).await.map(|row| row.get(0))
    })
    .await?;
    Ok(match seconds {
        // Clocks of the two hosts can disagree by a little: never a negative lag.
        Some(seconds) => Lag::Behind(Duration::from_secs_f64(seconds.max(0.0))),
        None => Lag::Unknown,
    })
}
