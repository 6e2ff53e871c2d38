//! What every request handler shares: the source, the catalog, the export settings and
//! the limits on downloads running at once.
//!
//! Downloads and everything else use separate pools. Listing, describing, estimating and
//! health checks take a connection of a small pool of their own, so they are answered
//! while every download connection is busy (a load balancer's health check must not queue
//! behind downloads), and a download takes one connection of the download pool, once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::Tokens;
use super::metrics::SharedMetrics;
use crate::catalog::Catalog;
use crate::config::{Config, ServerConfig};
use crate::pipeline::ExportOptions;
use crate::source::{DatabaseUrl, OpenSourceError, Source};

/// Shared, cheaply cloned server state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    source: Arc<dyn Source>,
    /// `None`: no tokens configured, every request is let in.
    tokens: Option<Tokens>,
    catalog: Catalog,
    export: ExportOptions,
    server: ServerConfig,
    downloads: Limit,
    per_dataset: HashMap<String, Limit>,
    /// `[server] max_downloads_per_client`, and the slots of the clients downloading now.
    per_client: Option<(usize, Mutex<ClientSlots>)>,
    metrics: SharedMetrics,
}

/// The download slots of each client address with downloads running.
type ClientSlots = HashMap<IpAddr, Arc<Semaphore>>;

/// A bound on downloads running at once.
struct Limit {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Limit {
    fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

/// Downloads are at a limit: answered at once, never queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{running} downloads {scope} are running, the most allowed at once; retry shortly")]
pub struct Busy {
    /// `"on this server"`, `"of dataset \"name\""` or `"from 192.0.2.7"`.
    pub scope: String,
    pub running: usize,
}

/// The slots a running download holds; they are free again when it is dropped.
#[derive(Debug)]
pub struct Admission {
    _permits: Vec<OwnedSemaphorePermit>,
}

impl AppState {
    /// The state for `catalog` of `source`, with every bound at its default.
    pub fn new(source: Arc<dyn Source>, catalog: Catalog, export: ExportOptions) -> Self {
        Self::assemble(source, catalog, export, &Config::default())
    }

    fn assemble(
        source: Arc<dyn Source>,
        catalog: Catalog,
        export: ExportOptions,
        config: &Config,
    ) -> Self {
        Self {
            inner: Arc::new(Shared {
                source,
                tokens: Tokens::from_config(&config.tokens),
                catalog,
                export,
                server: config.server.clone(),
                downloads: Limit::new(config.max_downloads()),
                per_dataset: config
                    .dataset_limits()
                    .map(|(name, max)| (name.to_owned(), Limit::new(max)))
                    .collect(),
                per_client: config
                    .server
                    .max_downloads_per_client
                    .map(|max| (max, Mutex::new(HashMap::new()))),
                metrics: SharedMetrics::default(),
            }),
        }
    }

    /// The state a configuration file describes, connected to `database_url` (see
    /// [`DatabaseUrl`]: PostgreSQL or a SQLite file).
    ///
    /// No PostgreSQL connection is opened yet; a SQLite file must exist.
    pub fn from_config(config: &Config, database_url: &str) -> Result<Self, OpenSourceError> {
        let settings = config.database.pool_settings();
        let url = DatabaseUrl::parse(database_url);
        if let DatabaseUrl::Sqlite(_) = url
            && let Some(token) = config.tokens.iter().find(|token| token.role.is_some())
        {
            return Err(OpenSourceError::RoleWithoutRoles {
                token: token.name.clone(),
                role: token.role.clone().unwrap_or_default(),
            });
        }
        let replicas = config.database.replica_settings();
        let source = url.open_for_server(&settings, replicas.as_ref())?;
        let catalog = if config.datasets.is_empty() {
            Catalog::Discovered(config.discovery.clone())
        } else {
            Catalog::Configured(config.datasets())
        };
        let export = ExportOptions::from_config(config);
        Ok(Self::assemble(source, catalog, export, config))
    }

    /// The tokens requests must carry, if any are configured.
    pub(super) fn tokens(&self) -> Option<&Tokens> {
        self.inner.tokens.as_ref()
    }

    /// Where the rows come from.
    pub fn source(&self) -> &dyn Source {
        &*self.inner.source
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn export(&self) -> &ExportOptions {
        &self.inner.export
    }

    /// What `/metrics` reports.
    pub fn metrics(&self) -> &SharedMetrics {
        &self.inner.metrics
    }

    /// The `[server]` bounds: timeouts, connection cap, shutdown grace.
    pub fn server(&self) -> &ServerConfig {
        &self.inner.server
    }

    /// Takes a slot for a download of `dataset` by `client`, server-wide, the dataset's
    /// own and the client's, or says which limit is reached.
    pub fn admit(&self, dataset: &str, client: Option<IpAddr>) -> Result<Admission, Busy> {
        let take = |limit: &Limit, scope: String| {
            limit.slots.clone().try_acquire_owned().map_err(|_| Busy {
                scope,
                running: limit.max,
            })
        };
        let mut permits = vec![take(&self.inner.downloads, "on this server".to_owned())?];
        if let Some(limit) = self.inner.per_dataset.get(dataset) {
            permits.push(take(limit, format!("of dataset {dataset:?}"))?);
        }
        if let (Some((max, clients)), Some(client)) = (&self.inner.per_client, client) {
            // Under the lock, so that forgetting an idle client cannot race a new download.
            let mut clients = clients.lock().unwrap_or_else(PoisonError::into_inner);
            // Forget the clients with nothing running, so the map stays small.
            clients.retain(|_, slots| slots.available_permits() < *max);
            let slots = clients
                .entry(client)
                .or_insert_with(|| Arc::new(Semaphore::new(*max)))
                .clone();
            permits.push(take(&Limit { slots, max: *max }, format!("from {client}"))?);
        }
        Ok(Admission { _permits: permits })
    }
}
