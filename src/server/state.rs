//! What every request handler shares: the pool, the catalog and the export settings.

use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::catalog::Catalog;
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
}

impl AppState {
    pub fn new(pool: Pool, catalog: Catalog, export: ExportOptions) -> Self {
        Self {
            inner: Arc::new(Shared {
                pool,
                catalog,
                export,
            }),
        }
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
}
