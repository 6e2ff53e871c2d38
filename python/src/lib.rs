//! rowpipe as a Python extension module, `rowpipe._rowpipe`: a [`Database`] and the
//! [`Chunks`] of an export, over rowpipe's public library API. The Python package
//! around it (`rowpipe/`) adds the module-level `export`, the async face, the
//! exceptions and the framework helpers.

mod chunks;
mod database;
mod errors;
mod options;
mod runtime;

use pyo3::prelude::*;

pub use chunks::Chunks;
pub use database::Database;

#[pymodule]
fn _rowpipe(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Database>()?;
    module.add_class::<Chunks>()?;
    Ok(())
}
