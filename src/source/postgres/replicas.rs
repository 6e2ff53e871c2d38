//! A primary and its read replicas (hot standbys) as one [`Source`]: each request goes
//! to a healthy replica, in turn, and to the primary (or nowhere) when none is.
//!
//! A replica is healthy when its last check answered and its replay was no further behind
//! than `max_lag` (`lag.rs` says how the lag is measured). The checks run every
//! `replica_check_interval` in a task of their own, started by the first request (the
//! first round runs before that request is routed) and ended once the source is dropped;
//! a replica whose connection fails during a request is taken for down at once, until the
//! next check finds it back. Everything a request asks (a download, a listing, a
//! describe, an estimate, the readiness check) goes where a download would: while
//! downloads go to replicas, listings come from them too, and leave out what a replica
//! cannot serve (an unlogged table).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::Postgres;
use super::connect::{PoolError, TimeoutType};
use super::lag::Lag;
use crate::export::ExportQuery;
use crate::format::Format;
use crate::progress::Progress;
use crate::source::{
    ColumnInfo, ParamKind, PoolStatus, ReplicaStatus, RowOptions, Source, SourceError,
    SourcePieces, SourceRows, TableInfo,
};
use crate::table_name::TableName;

/// How long one replica's check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// How requests are spread over replicas; see [`Replicated`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSettings {
    pub urls: Vec<String>,
    pub fallback: Fallback,
    /// Zero: no limit.
    pub max_lag: Duration,
    pub check_interval: Duration,
}

/// Where requests go when `[database] replicas` are configured and none is healthy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// To the primary (`url`).
    #[default]
    Primary,
    /// Nowhere: answered 503 `database_unavailable`, so the primary never takes the
    /// replicas' read load.
    Fail,
}

/// The primary and its replicas; see the module's comment.
pub struct Replicated {
    inner: Arc<Inner>,
}

struct Inner {
    primary: Postgres,
    replicas: Vec<Replica>,
    fallback: Fallback,
    max_lag: Duration,
    check_interval: Duration,
    /// Where the next request starts looking for a healthy replica.
    turn: AtomicUsize,
    /// Set once the first round of checks is done and the checking task runs.
    checking: OnceCell<()>,
}

struct Replica {
    /// Its URL without a password, for logs and `/readyz`.
    name: String,
    source: Postgres,
    health: Mutex<Health>,
}

/// What a replica's last check (or request) found.
#[derive(Debug, Clone)]
enum Health {
    Unchecked,
    Answered(Lag),
    Down(String),
}

impl std::fmt::Debug for Replicated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicated")
            .field(
                "replicas",
                &self
                    .inner
                    .replicas
                    .iter()
                    .map(|r| &r.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Replicated {
    /// `primary` with `replicas` (each with its name as logs show it), spread as
    /// `settings` say.
    pub fn new(
        primary: Postgres,
        replicas: Vec<(String, Postgres)>,
        settings: &ReplicaSettings,
    ) -> Self {
        let replicas = replicas
            .into_iter()
            .map(|(name, source)| Replica {
                name,
                source,
                health: Mutex::new(Health::Unchecked),
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                primary,
                replicas,
                fallback: settings.fallback,
                max_lag: settings.max_lag,
                check_interval: settings.check_interval,
                turn: AtomicUsize::new(0),
                checking: OnceCell::new(),
            }),
        }
    }

    /// Where the next request goes: a healthy replica (its index) in turn, else the
    /// primary (no index) or, with `fallback = "fail"`, nowhere.
    async fn target(&self) -> Result<(Option<usize>, &Postgres), SourceError> {
        let inner = &*self.inner;
        inner
            .checking
            .get_or_init(|| async {
                inner.check_all().await;
                tokio::spawn(keep_checking(
                    Arc::downgrade(&self.inner),
                    inner.check_interval,
                ));
            })
            .await;
        let count = inner.replicas.len();
        let first = inner.turn.fetch_add(1, Ordering::Relaxed);
        let healthy = (0..count)
            .map(|step| (first + step) % count)
            .find(|&index| inner.replicas[index].problem(inner.max_lag).is_none());
        match (healthy, inner.fallback) {
            (Some(index), _) => Ok((Some(index), &inner.replicas[index].source)),
            (None, Fallback::Primary) => Ok((None, &inner.primary)),
            (None, Fallback::Fail) => {
                let problems: Vec<String> = inner
                    .replicas
                    .iter()
                    .map(|replica| {
                        let problem = replica.problem(inner.max_lag).unwrap_or_default();
                        format!("{}: {problem}", replica.name)
                    })
                    .collect();
                Err(SourceError::Unavailable {
                    reason: format!(
                        "no read replica is healthy ({}), and [database] fallback is \"fail\"",
                        problems.join("; ")
                    ),
                })
            }
        }
    }

    /// Takes note of a request's outcome on replica `index`: one that could not reach
    /// it takes the replica out of turn until the next check finds it back. A pool whose
    /// connections were all busy says nothing about the replica.
    fn note<T>(&self, index: Option<usize>, outcome: &Result<T, SourceError>) {
        let busy = |error: &SourceError| {
            matches!(
                error,
                SourceError::Connect(PoolError::Timeout(TimeoutType::Wait))
            )
        };
        if let (Some(index), Err(error)) = (index, outcome)
            && error.is_unavailable()
            && !busy(error)
        {
            let replica = &self.inner.replicas[index];
            replica.set(Health::Down(error.to_string()), self.inner.max_lag);
        }
    }
}

/// Runs `$request` (a future using `$source`) on the source [`Replicated::target`] picks,
/// and notes its outcome, as a boxed future.
macro_rules! routed {
    ($this:ident, $source:ident => $request:expr) => {
        Box::pin(async move {
            let (index, $source) = $this.target().await?;
            let outcome = $request.await;
            $this.note(index, &outcome);
            outcome
        })
    };
}

impl Inner {
    /// Checks every replica at once, each within [`CHECK_TIMEOUT`].
    async fn check_all(&self) {
        let checks = self.replicas.iter().map(|replica| async move {
            let health = match tokio::time::timeout(CHECK_TIMEOUT, replica.source.lag()).await {
                Ok(Ok(lag)) => Health::Answered(lag),
                Ok(Err(error)) => Health::Down(error.to_string()),
                Err(_) => Health::Down(format!(
                    "the health check did not answer within {}",
                    humantime::format_duration(CHECK_TIMEOUT)
                )),
            };
            replica.set(health, self.max_lag);
        });
        join_all(checks).await;
    }
}

/// Checks the replicas every `interval` for as long as the source lives.
async fn keep_checking(inner: Weak<Inner>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.check_all().await;
    }
}

impl Replica {
    fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records `health`, and logs the replica going out of turn or back into it.
    fn set(&self, health: Health, max_lag: Duration) {
        let was = std::mem::replace(
            &mut *self.health.lock().unwrap_or_else(PoisonError::into_inner),
            health,
        );
        let before = problem(&was, max_lag);
        match (before, self.problem(max_lag)) {
            (None, Some(problem)) => tracing::warn!(
                replica = %self.name,
                problem = %crate::escape::OneLine(&problem),
                "a read replica is out of turn"
            ),
            (Some(_), None) => {
                tracing::info!(replica = %self.name, "a read replica is back in turn")
            }
            _ => {}
        }
    }

    /// Why requests skip this replica now, or `None` when they may use it.
    fn problem(&self, max_lag: Duration) -> Option<String> {
        problem(&self.health(), max_lag)
    }

    fn status(&self, max_lag: Duration) -> ReplicaStatus {
        let health = self.health();
        ReplicaStatus {
            name: self.name.clone(),
            lag: match health {
                Health::Answered(Lag::Behind(lag)) => Some(lag),
                _ => None,
            },
            problem: problem(&health, max_lag),
        }
    }
}

/// Why a replica in `health` is skipped, or `None` when it may be used.
fn problem(health: &Health, max_lag: Duration) -> Option<String> {
    let limit = || humantime::format_duration(max_lag);
    match health {
        Health::Unchecked => Some("not checked yet".to_owned()),
        Health::Down(problem) => Some(problem.clone()),
        Health::Answered(_) if max_lag.is_zero() => None,
        Health::Answered(Lag::Behind(lag)) if *lag > max_lag => Some(format!(
            "replay is {:.1}s behind (max_lag {})",
            lag.as_secs_f64(),
            limit()
        )),
        Health::Answered(Lag::Behind(_)) => None,
        Health::Answered(Lag::Unknown) => Some(format!(
            "replay is behind by an unknown time (no transaction replayed yet; max_lag {})",
            limit()
        )),
    }
}

impl Source for Replicated {
    fn rows<'a>(
        &'a self,
        query: &'a ExportQuery,
        options: RowOptions,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<SourceRows, SourceError>> {
        routed!(self, source => source.rows(query, options, progress))
    }

    fn formatted<'a>(
        &'a self,
        sql: &'a str,
        role: Option<&'a str>,
        format: Format,
        statement_timeout: Option<Duration>,
        progress: Arc<Progress>,
    ) -> BoxFuture<'a, Result<Option<SourcePieces>, SourceError>> {
        routed!(self, source => source.formatted(sql, role, format, statement_timeout, progress))
    }

    fn describe<'a>(
        &'a self,
        sql: &'a str,
        params: usize,
    ) -> BoxFuture<'a, Result<Vec<ColumnInfo>, SourceError>> {
        routed!(self, source => source.describe(sql, params))
    }

    fn tables<'a>(
        &'a self,
        schemas: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<TableInfo>, SourceError>> {
        routed!(self, source => source.tables(schemas))
    }

    fn primary_key<'a>(
        &'a self,
        table: &'a TableName,
    ) -> BoxFuture<'a, Result<Option<String>, SourceError>> {
        routed!(self, source => source.primary_key(table))
    }

    fn estimate_rows<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Option<f64>> {
        Box::pin(async move {
            let (_, source) = self.target().await.ok()?;
            source.estimate_rows(sql).await
        })
    }

    /// Whether a download could be served now: by the replica it would go to, or the
    /// fallback.
    fn ping(&self, within: Duration) -> BoxFuture<'_, Result<(), SourceError>> {
        routed!(self, source => source.ping(within))
    }

    fn pools(&self) -> Vec<PoolStatus> {
        let mut pools = self.inner.primary.pools();
        for (number, replica) in (1..).zip(&self.inner.replicas) {
            pools.extend(replica.source.pools().into_iter().map(|pool| PoolStatus {
                name: format!("replica{number}-{}", pool.name),
                ..pool
            }));
        }
        pools
    }

    /// Replicas are copies of the primary: the same types.
    fn param_kind(&self, type_name: &str) -> ParamKind {
        self.inner.primary.param_kind(type_name)
    }

    fn replicas(&self) -> Vec<ReplicaStatus> {
        let max_lag = self.inner.max_lag;
        self.inner
            .replicas
            .iter()
            .map(|replica| replica.status(max_lag))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_used_when_it_answered_within_max_lag() {
        let limit = Duration::from_secs(30);
        let behind = |seconds| Health::Answered(Lag::Behind(Duration::from_secs(seconds)));
        assert_eq!(problem(&behind(0), limit), None);
        assert_eq!(problem(&behind(30), limit), None);
        assert_eq!(
            problem(&behind(31), limit).as_deref(),
            Some("replay is 31.0s behind (max_lag 30s)")
        );
        assert!(problem(&Health::Answered(Lag::Unknown), limit).is_some());
        assert!(problem(&Health::Unchecked, limit).is_some());
        assert!(problem(&Health::Down("refused".into()), limit).is_some());
        // "0s": no limit.
        assert_eq!(problem(&behind(3600), Duration::ZERO), None);
        assert_eq!(
            problem(&Health::Answered(Lag::Unknown), Duration::ZERO),
            None
        );
    }
}
