//! Every route the server answers, by name.
//!
//! The router ([`super::app`]) and the API's description ([`super::openapi`]) are both
//! built by going through [`Route::ALL`] and matching on each route exhaustively, so a
//! route cannot be served without being described, or described without being served.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters, which stay as they are in a URL path
/// segment (and in an RFC 5987 `filename*`).
pub(crate) const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A route of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /datasets`: the datasets, with their columns, parameters and links.
    Datasets,
    /// `GET /datasets/{name}.{format}[.gz|.zst]`: one dataset as a download.
    Download,
    /// `GET /livez`: whether the process serves at all.
    Livez,
    /// `GET /readyz`: whether the database answers.
    Readyz,
    /// `GET /healthz`: `/readyz`'s old name.
    Healthz,
    /// `GET /metrics`: the Prometheus/OpenMetrics exposition.
    Metrics,
    /// `GET /openapi.json`: this API's description.
    OpenApi,
    /// `GET /`: the web page listing the datasets.
    Home,
    /// `GET /view/{name}`: one dataset's web page, with a preview and a parameter form.
    DatasetPage,
    /// `GET /assets/{file}`: the pages' stylesheet and icon.
    Asset,
}

impl Route {
    /// Every route, in the order they are described.
    pub const ALL: [Route; 10] = [
        Route::Datasets,
        Route::Download,
        Route::Livez,
        Route::Readyz,
        Route::Healthz,
        Route::Metrics,
        Route::OpenApi,
        Route::Home,
        Route::DatasetPage,
        Route::Asset,
    ];

    /// The path as the router matches it (axum's syntax: `{file}` is one path segment).
    pub fn path(self) -> &'static str {
        match self {
            Route::Datasets => "/datasets",
            Route::Download => "/datasets/{file}",
            Route::Livez => "/livez",
            Route::Readyz => "/readyz",
            Route::Healthz => "/healthz",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
            Route::Home => "/",
            Route::DatasetPage => "/view/{name}",
            Route::Asset => "/assets/{file}",
        }
    }
}
