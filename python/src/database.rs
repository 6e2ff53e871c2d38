//! `Database`: PostgreSQL or a SQLite file, opened once and exported from many times.

use futures_util::TryStreamExt;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::chunks::Chunks;
use crate::errors::{Failure, IntoPy};
use crate::options;
use crate::runtime::{self, runtime};

/// A database to export from: a PostgreSQL URL (a pool of up to `pool_size` connections,
/// opened as needed) or a SQLite file (`sqlite:PATH`, or a path ending in `.db`,
/// `.sqlite` or `.sqlite3`; opened read-only, checked now). Share one per process.
#[pyclass(frozen, subclass, module = "rowpipe")]
pub struct Database {
    inner: rowpipe::Database,
}

#[pymethods]
impl Database {
    #[new]
    #[pyo3(signature = (dsn, pool_size = 8))]
    fn new(py: Python<'_>, dsn: &str, pool_size: usize) -> PyResult<Self> {
        if pool_size == 0 {
            return Err(Failure::Invalid("pool_size must be at least 1".into()).into_pyerr(py));
        }
        let inner = py
            .detach(|| {
                let runtime = runtime().map_err(|error| {
                    Failure::Config(format!("cannot start rowpipe's runtime: {error}"))
                })?;
                // A pool is made inside the runtime that will drive its connections.
                let _entered = runtime.enter();
                rowpipe::Database::open_with(dsn, pool_size).map_err(Failure::from)
            })
            .or_raise(py)?;
        Ok(Self { inner })
    }

    /// Starts an export of `sql` and returns its chunks, once the database has accepted
    /// the query: a query that cannot run (bad SQL, a bad parameter, an unknown column,
    /// no database) raises here; a later failure raises from the iterator.
    #[pyo3(signature = (sql, **options))]
    fn export(
        &self,
        py: Python<'_>,
        sql: String,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Chunks> {
        let export = options::apply(self.inner.export(sql), options).or_raise(py)?;
        let content_type = export.content_type();
        let suffix = export.file_name("");
        let runtime = runtime()
            .map_err(|error| Failure::Config(format!("cannot start rowpipe's runtime: {error}")))
            .or_raise(py)?;
        let stream = runtime::wait(py, &runtime, export.chunks())?.or_raise(py)?;
        Ok(Chunks::new(
            Box::new(stream.into_stream()),
            runtime,
            content_type,
            suffix,
        ))
    }
}
