//! What every request handler shares: the pool, the catalog and the export settings.

use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::catalog::Catalog;
use crate::config::{Config, ServerConfig};
use crate::database::{self, InvalidUrl, PoolSettings};
use crate::pipeline::ExportOptions;

/// Shared, cheaply cloned server state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    catalog: Catalog,
    export: ExportOptions,
    server: ServerConfig,
}

impl AppState {
    /// The state for `catalog` on `pool`, with every `[server]` bound at its default.
    pub fn new(pool: Pool, catalog: Catalog, export: ExportOptions) -> Self {
        Self::with_server(pool, catalog, export, ServerConfig::default())
    }

    fn with_server(
        pool: Pool,
        catalog: Catalog,
        export: ExportOptions,
        server: ServerConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Shared {
                pool,
                catalog,
                export,
                server,
            }),
        }
    }

    /// The state a configuration file describes, connected to `database_url`.
    ///
    /// No connection is opened yet; see [`database::connect`].
    pub fn from_config(config: &Config, database_url: &str) -> Result<Self, InvalidUrl> {
        let settings = PoolSettings {
            pool_size: config.database.pool_size,
            connect_timeout: config.database.connect_timeout,
            ..PoolSettings::default()
        };
        let pool = database::connect(database_url, &settings)?;
        let catalog = if config.datasets.is_empty() {
            Catalog::PublicSchema
        } else {
            Catalog::Configured(config.datasets())
        };
        Ok(Self::with_server(
            pool,
            catalog,
            ExportOptions::from_config(config),
            config.server.clone(),
        ))
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn export(&self) -> &ExportOptions {
        &self.inner.export
    }

    /// The `[server]` bounds: timeouts, connection cap, shutdown grace.
    pub fn server(&self) -> &ServerConfig {
        &self.inner.server
    }
}
