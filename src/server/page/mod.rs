//! The web pages: `GET /` (the datasets), `GET /view/{name}` (one dataset, with a preview
//! of its first rows and a form for its parameters) and `GET /assets/{file}` (their
//! stylesheet and icon).
//!
//! Written on the server, for any database rowpipe serves: no JavaScript (every link and
//! form works as plain HTML), no external assets, and a `Content-Security-Policy` that
//! allows nothing else, so even text that slipped past [`html::Escaped`] could not run.
//! The pages use the JSON API's own parts: the same listing, the same request parser, and
//! the preview is an export through the same pipeline.

mod dataset;
mod facts;
mod html;
mod index;
mod preview;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::listing::{describe, find_readable, listing};
use super::{ApiError, AppState};
use crate::catalog::Dataset;
use crate::format::Format;
use crate::request::ExportRequest;
use dataset::PreviewState;
use facts::Sizes;

/// Scripts, frames, plugins, fonts and connections: none; styles and images: the server's
/// own; forms submit only to it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /`: every dataset the caller may read.
pub(super) async fn home(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> Result<Response, ApiError> {
    let listing = listing(&state, caller.as_deref()).await?;
    let mut datasets = Vec::with_capacity(listing.len());
    for listed in listing {
        let sizes = sizes(&state, &listed.dataset).await;
        datasets.push((listed, sizes));
    }
    Ok(html(StatusCode::OK, index::render(&datasets)))
}

/// `GET /view/{name}`: one dataset, its parameters taken from the query string.
pub(super) async fn dataset_page(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let dataset = find_readable(&state, caller.as_deref(), &name).await?;
    let listed = describe(&state, dataset).await?;
    let dataset = &listed.dataset;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    // Each parameter's value: the query string's, else its default.
    let values: Vec<(&str, &str)> = dataset
        .params
        .iter()
        .filter_map(|param| {
            let given = pairs
                .iter()
                .find(|(name, _)| *name == param.name)
                .map(|(_, value)| value.as_str());
            given
                .or(param.default.as_deref())
                .map(|value| (param.name.as_str(), value))
        })
        .collect();
    let options: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(name, _)| !dataset.params.iter().any(|param| param.name == *name))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let missing: Vec<String> = dataset
        .params
        .iter()
        .filter(|param| !values.iter().any(|(name, _)| *name == param.name))
        .map(|param| param.name.clone())
        .collect();
    let (status, preview) = if !missing.is_empty() {
        (StatusCode::OK, PreviewState::NeedsValues(missing))
    } else {
        match ExportRequest::build(dataset, Format::Tsv, pairs.iter().map(|(k, v)| (k, v))) {
            Err(error) => refused(ApiError::from(error))?,
            Ok(mut request) => {
                request.query.role = caller.as_ref().and_then(|caller| caller.role.clone());
                match preview::run(&state, &dataset.name, request).await {
                    Ok(preview) => (StatusCode::OK, PreviewState::Shown(preview)),
                    Err(error) => refused(error)?,
                }
            }
        }
    };
    let sizes = sizes(&state, dataset).await;
    Ok(html(
        status,
        dataset::render(&listed, sizes, &values, &options, &preview),
    ))
}

/// A client's mistake is shown on the page, with its status; the server's (or the
/// database's) failure is the JSON error every other route answers, logged as such.
fn refused(error: ApiError) -> Result<(StatusCode, PreviewState), ApiError> {
    let (status, _) = error.status_and_code();
    match status.is_client_error() {
        true => Ok((status, PreviewState::Refused(error.public_message()))),
        false => Err(error),
    }
}

/// The estimate (for a query without parameters, where the source has one) and limits.
async fn sizes(state: &AppState, dataset: &Dataset) -> Sizes {
    let estimate = match dataset.params.is_empty() {
        true => state.source().estimate_rows(&dataset.query.to_sql()).await,
        false => None,
    };
    Sizes {
        estimate,
        max_bytes: state.export().limits.max_bytes,
    }
}

/// `GET /assets/{file}`: the pages' stylesheet and icon, compiled into the binary.
pub(super) async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (content_type, body): (&str, &'static str) = match file.as_str() {
        "rowpipe.css" => (
            "text/css; charset=utf-8",
            include_str!("assets/rowpipe.css"),
        ),
        "icon.svg" => ("image/svg+xml", include_str!("assets/icon.svg")),
        _ => {
            return Err(ApiError::NotFound {
                path: format!("/assets/{file}"),
            });
        }
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// An HTML page with the headers every page has.
fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        // Pages show the data as it is now.
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
