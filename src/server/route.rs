//! Every route the server answers, by name.
//!
//! The router ([`super::app`]) and the API's description ([`super::openapi`]) are both
//! built by going through [`Route::ALL`] and matching on each route exhaustively, so a
//! route cannot be served without being described, or described without being served.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::format::Format;

/// Everything but RFC 3986's unreserved characters, which stay as they are in a URL path
/// segment (and in an RFC 5987 `filename*`).
pub(crate) const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `name` as one path segment of a URL: plain ASCII, safe in an HTML attribute too.
pub(crate) fn path_segment(name: &str) -> String {
    utf8_percent_encode(name, NOT_UNRESERVED).to_string()
}

/// Where the dataset `name` downloads as `format`: `/datasets/{name}.{extension}`.
pub(crate) fn download_path(name: &str, format: Format) -> String {
    format!("/datasets/{}.{}", path_segment(name), format.extension())
}

/// Where the dataset `name`'s web page is: `/view/{name}`.
pub(crate) fn page_path(name: &str) -> String {
    format!("/view/{}", path_segment(name))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_encoded_path_segment() {
        assert_eq!(path_segment("a b/<c>.d"), "a%20b%2F%3Cc%3E.d");
        assert_eq!(download_path("a b", Format::Jsonl), "/datasets/a%20b.jsonl");
        assert_eq!(page_path("<x>"), "/view/%3Cx%3E");
    }
}
