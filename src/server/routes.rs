//! The routes: `GET /datasets`, `GET /datasets/{name}.{format}` (and
//! `{name}.{format}.{gz|zst}`, the compressed file itself), `GET /livez`, `GET /readyz` (and
//! `/healthz`, its old name), `GET /metrics` and `GET /openapi.json`, each a [`Route`]; the
//! web pages' routes are [`page`]'s.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use futures_util::{StreamExt, stream};
use percent_encoding::utf8_percent_encode;
use serde_json::{Value, json};

use super::accept_encoding::{self, NotAcceptable};
use super::auth::{Caller, Refusal};
use super::error::ErrorReport;
use super::listen::ClientAddr;
use super::listing::{Listed, find_readable, listing, readable_datasets};
use super::openapi;
use super::page;
use super::request_id::{self, RequestId};
use super::route::{NOT_UNRESERVED, Route, download_path};
use super::{ApiError, AppState};
use crate::catalog::Dataset;
use crate::encode::EXCEL_MAX_ROWS;
use crate::escape::OneLine;
use crate::format::{Compression, Format};
use crate::pipeline;
use crate::progress::Progress;
use crate::request::ExportRequest;
use crate::sink::http::TRAILERS;
use crate::sink::{DownloadLog, http_body};

/// How long `/healthz` waits for the database before calling it down.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The application's router.
pub fn app(state: AppState) -> Router {
    Route::ALL
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path(), handler(route))
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), log_errors))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// The handler of each route; `/openapi.json` describes the same [`Route::ALL`].
fn handler(route: Route) -> MethodRouter<AppState> {
    match route {
        Route::Datasets => get(list_datasets),
        Route::Download => get(download),
        Route::Livez => get(livez),
        Route::Readyz | Route::Healthz => get(readyz),
        Route::Metrics => get(metrics),
        Route::OpenApi => get(openapi_json),
        Route::Home => get(page::home),
        Route::DatasetPage => get(page::dataset_page),
        Route::Asset => get(page::asset),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

/// Lets a request in when no tokens are configured, when it carries a known one (whose
/// [`Caller`] the handlers then find in its extensions), or when its route is open:
/// `/livez` always, `/readyz` and `/healthz` unless `server.protect_readyz`.
async fn authorize(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(tokens) = state.tokens() else {
        return next.run(request).await;
    };
    let open = match request.uri().path() {
        // The pages' stylesheet and icon hold no data.
        path if path.starts_with("/assets/") => true,
        "/livez" => true,
        "/readyz" | "/healthz" => !state.server().protect_readyz,
        _ => false,
    };
    if open {
        return next.run(request).await;
    }
    match tokens.authenticate(request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(Refusal::Missing) => ApiError::Unauthorized.into_response(),
        Err(Refusal::Unknown) => ApiError::UnknownToken.into_response(),
    }
}

/// Logs every error response once, with the whole message (the client's body may leave
/// details out) and the request's id, which it also adds to the body.
async fn log_errors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let id = request.extensions().get::<RequestId>().cloned();
    let response = next.run(request).await;
    let Some(ErrorReport { logged, body }) = response.extensions().get::<ErrorReport>() else {
        return response;
    };
    let status = response.status();
    if let Some(code) = body.get("code").and_then(Value::as_str) {
        state.metrics().rejected(code);
    }
    let (path, error, request_id) = (
        OneLine(&path),
        OneLine(logged),
        id.as_ref().map(RequestId::as_str),
    );
    if status.is_server_error() {
        tracing::error!(%method, %path, status = status.as_u16(), request_id, %error, "request failed");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), request_id, %error, "request rejected");
    }
    let mut body = body.clone();
    if let Some(id) = &id {
        body.insert("request_id".into(), json!(id.as_str()));
    }
    let (mut parts, _) = response.into_parts();
    // The new body has another length; the old one's header would be wrong.
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = Json(json!({ "error": body })).into_response();
    Response::from_parts(parts, json.into_body())
}

/// `GET /datasets`: every dataset with its columns and download links.
async fn list_datasets(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let listing = listing(&state, caller.as_deref()).await?;
    let entries = listing
        .iter()
        .map(|Listed { dataset, columns }| {
            let mut entry = json!({
                "name": dataset.name,
                "description": dataset.description,
                "downloads": download_links(dataset),
            });
            if !dataset.params.is_empty() {
                let params: Vec<Value> = dataset
                    .params
                    .iter()
                    .map(|param| {
                        json!({
                            "name": param.name,
                            "type": param.type_name,
                            "required": param.default.is_none(),
                            "default": param.default,
                        })
                    })
                    .collect();
                entry["params"] = json!(params);
            }
            if let Some(key) = &dataset.key {
                entry["key"] = json!(key);
            }
            if let Some(max_rows) = dataset.max_rows {
                entry["max_rows"] = json!(max_rows);
            }
            match columns {
                Ok(columns) => {
                    let columns: Vec<Value> = columns
                        .iter()
                        .map(|column| json!({ "name": column.name, "type": column.type_name }))
                        .collect();
                    entry["columns"] = json!(columns);
                }
                Err(error) => {
                    let (_, code) = error.status_and_code();
                    entry["columns"] = Value::Null;
                    entry["error"] = json!({ "code": code, "message": error.public_message() });
                }
            }
            entry
        })
        .collect();
    Ok(Json(entries))
}

fn download_links(dataset: &Dataset) -> Value {
    let links: serde_json::Map<String, Value> = Format::ALL
        .iter()
        .map(|&format| {
            (
                format.extension().to_owned(),
                json!(download_path(&dataset.name, format)),
            )
        })
        .collect();
    Value::Object(links)
}

/// `GET /datasets/{name}.{format}`: the dataset as a streamed download. `HEAD` answers
/// the same status and headers without running the export.
async fn download(
    State(state): State<AppState>,
    parts: Parts,
    file: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let Parts {
        method,
        version,
        headers,
        extensions,
        ..
    } = parts;
    let request_id = extensions.get::<RequestId>();
    let caller = extensions.get::<Caller>();
    let client = extensions
        .get::<ClientAddr>()
        .map(|ClientAddr(addr)| addr.ip());
    // Cheap refusals first: neither needs the database.
    if version < Version::HTTP_11 {
        return Err(ApiError::HttpVersion {
            version: format!("{version:?}"),
        });
    }
    if let Some(range) = headers.get(header::RANGE) {
        if !is_whole_range(range) {
            return Err(ApiError::RangeNotSupported);
        }
    }
    let Path(file) = file.map_err(|rejection| ApiError::BadRequest {
        message: rejection.body_text(),
    })?;
    let (name, format, file_compression) = parse_file_name(&file)?;
    let delivery = match file_compression {
        // The compressed file itself: what the client asked for by name, whatever it accepts.
        Some(compression) => Delivery::File(compression),
        None => match accept_encoding::negotiate(headers.get_all(header::ACCEPT_ENCODING)) {
            Ok(None) => Delivery::Plain,
            Ok(Some(compression)) => Delivery::Encoded(compression),
            Err(NotAcceptable) => return Err(ApiError::NotAcceptable),
        },
    };
    let dataset = find_readable(&state, caller, name).await?;

    let pairs = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes());
    let mut request = ExportRequest::build(&dataset, format, pairs)?;
    request.query.role = caller.and_then(|caller| caller.role.clone());
    request.output.compression = delivery.compression();
    if method == Method::HEAD {
        // A body of unknown length, as a download's: an empty one would be announced as
        // `Content-Length: 0`, and a client would take the file for empty.
        let unknown_length = stream::empty::<Result<bytes::Bytes, std::convert::Infallible>>();
        let mut response = Body::from_stream(unknown_length).into_response();
        set_download_headers(response.headers_mut(), &dataset, format, delivery);
        return Ok(response);
    }
    // Past a limit on downloads at once the answer is an immediate 503, never a wait. The
    // slots are held by the body, so they are free again however the download ends.
    let admission = state.admit(&dataset.name, client)?;
    let mut options = state.export().clone();
    options.limits.max_rows = dataset.max_rows;
    // Before the export takes its connection: with every connection busy, the estimate
    // would otherwise wait for the one this very download holds.
    let excel_warning = match request.output.csv.excel && request.query.params.is_empty() {
        true => excel_row_warning(&state, &request).await,
        false => None,
    };

    let progress = Arc::new(Progress::new());
    let mut chunks = pipeline::open(
        state.source(),
        &request.query,
        &request.output,
        &options,
        progress.clone(),
    )
    .await
    .map_err(|error| ApiError::open(&dataset.name, error))?;

    // Wait for the first chunk before answering: a query that fails before producing it
    // (a timeout during a long sort, an error in the first rows) still gets a proper
    // status and JSON body instead of a broken 200.
    let first = match chunks.next().await {
        Some(Ok(chunk)) => Some(chunk),
        Some(Err(error)) => return Err(ApiError::stream(&dataset.name, error)),
        None => None,
    };
    let first_byte = progress.elapsed();
    let body = stream::iter(first.map(Ok)).chain(chunks).map(move |chunk| {
        let _held = &admission;
        chunk
    });
    let metrics = state.metrics().clone();
    metrics.download_started();
    let (dataset_name, format_name) = (dataset.name.clone(), format.extension());
    let log = DownloadLog {
        on_end: Some(Box::new(move |end| {
            metrics.download_ended(&dataset_name, format_name, end);
        })),
        request_id: request_id.map(RequestId::to_string).unwrap_or_default(),
        dataset: dataset.name.clone(),
        format,
        compression: delivery.compression(),
        // The names only: values can be anyone's data.
        params: request
            .query
            .params
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        first_byte,
        progress,
        token: caller.map(|caller| caller.name.clone()),
        client,
    };
    let with_trailers = wants_trailers(&headers);
    let mut response = http_body(body, log, with_trailers).into_response();
    let headers = response.headers_mut();
    set_download_headers(headers, &dataset, format, delivery);
    if with_trailers {
        headers.insert(
            header::TRAILER,
            HeaderValue::from_str(&TRAILERS.join(", ")).expect("header names"),
        );
    }
    if let Some(warning) = excel_warning {
        headers.insert("x-rowpipe-warning", warning);
    }
    Ok(response)
}

/// Whether the client said it takes trailers (`TE: trailers`): only then does a download
/// end with its proof of completeness (see [`crate::sink::http`]).
fn wants_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            coding
                .split(';')
                .next()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case("trailers"))
        })
}

/// `orders.csv` -> (`orders`, csv, none); `orders.csv.gz` -> (`orders`, csv, gzip). A
/// dataset's name may hold dots itself, so the suffixes are taken from the end.
fn parse_file_name(file: &str) -> Result<(&str, Format, Option<Compression>), ApiError> {
    let (rest, compression) = match file.rsplit_once('.') {
        Some((rest, extension)) => match Compression::from_extension(extension) {
            Some(compression) => (rest, Some(compression)),
            None => (file, None),
        },
        None => (file, None),
    };
    match rest.rsplit_once('.') {
        Some((name, extension)) => {
            let format = extension
                .parse::<Format>()
                .map_err(|_| ApiError::UnknownFormat {
                    given: Some(extension.to_owned()),
                })?;
            Ok((name, format, compression))
        }
        None => Err(ApiError::UnknownFormat { given: None }),
    }
}

/// How a download's bytes are compressed, and how its headers say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// As they are: the request accepted identity (or said nothing).
    Plain,
    /// Compressed for the transfer, as the request's `Accept-Encoding` allowed: the client
    /// undoes it, and keeps the file as uncompressed (`Content-Encoding`).
    Encoded(Compression),
    /// The compressed file itself, asked for by name (`orders.csv.gz`).
    File(Compression),
}

impl Delivery {
    fn compression(self) -> Option<Compression> {
        match self {
            Delivery::Plain => None,
            Delivery::Encoded(compression) | Delivery::File(compression) => Some(compression),
        }
    }
}

/// The headers of a download, for `GET` and `HEAD` alike.
fn set_download_headers(
    headers: &mut HeaderMap,
    dataset: &Dataset,
    format: Format,
    delivery: Delivery,
) {
    let file_name = format!("{}.{}", dataset.name, format.extension());
    let (content_type, file_name) = match delivery {
        Delivery::File(compression) => (
            compression.content_type(),
            format!("{file_name}.{}", compression.extension()),
        ),
        Delivery::Plain | Delivery::Encoded(_) => (format.content_type(), file_name),
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(&file_name));
    match delivery {
        Delivery::Encoded(compression) => {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(compression.name()),
            );
            headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        // The answer would differ with another Accept-Encoding: say so to caches.
        Delivery::Plain => {
            headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        Delivery::File(_) => {}
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Every request runs the query anew, so byte N of one answer need not be byte N of
    // another: a byte range of a new export would splice two different files together.
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
}

/// Whether a `Range` header asks for the whole body (`bytes=0-`), which a full answer
/// serves; any other range cannot be served (see [`set_download_headers`]).
fn is_whole_range(range: &HeaderValue) -> bool {
    range
        .to_str()
        .is_ok_and(|range| range.trim().eq_ignore_ascii_case("bytes=0-"))
}

/// A warning header for an Excel download whose estimated row count already passes the
/// sheet limit (the header line takes one of its rows).
async fn excel_row_warning(state: &AppState, request: &ExportRequest) -> Option<HeaderValue> {
    let estimate = state.source().estimate_rows(&request.query.sql).await?;
    let rows = request
        .query
        .limit
        .map_or(estimate, |limit| estimate.min(limit as f64));
    let sheet_rows = EXCEL_MAX_ROWS - u64::from(request.output.csv.header);
    (rows > sheet_rows as f64).then(|| {
        HeaderValue::from_str(&format!(
            "an estimated {rows:.0} rows; Excel shows at most {EXCEL_MAX_ROWS} rows per sheet"
        ))
        .expect("ASCII")
    })
}

/// `attachment; filename="..."`, with an RFC 6266 `filename*` when the name is not plain
/// ASCII (discovered table names can be anything).
pub(crate) fn content_disposition(filename: &str) -> HeaderValue {
    let plain = filename
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let value = if plain {
        format!("attachment; filename=\"{filename}\"")
    } else {
        let fallback: String = filename
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let encoded = utf8_percent_encode(filename, NOT_UNRESERVED);
        format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
    };
    HeaderValue::from_str(&value).expect("only ASCII goes into the header")
}

/// `GET /metrics`: the Prometheus/OpenMetrics exposition (see [`super::metrics`]).
async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics().render(&state.source().pools());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /openapi.json`: the API's description (see [`super::openapi`]), with a download
/// path for each dataset and its parameters. Discovered datasets are looked up, as for
/// `/datasets`: without the database the description would be incomplete, so it is a 503.
async fn openapi_json(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> Result<Json<Value>, ApiError> {
    let datasets = readable_datasets(&state, caller.as_deref()).await?;
    Ok(Json(openapi::document(&datasets, state.source())))
}

/// `GET /livez`: 200 while the process serves requests at all. It never asks the database,
/// so a liveness probe does not restart rowpipe because the database is down (which a
/// restart would not mend).
async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz` (and its old name `/healthz`): 200 when the database answers a trivial
/// query within a few seconds, 503 otherwise: whether downloads can be served now.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .source()
        .ping(HEALTH_TIMEOUT)
        .await
        .map_err(|error| ApiError::database(None, error))?;
    let mut ready = json!({ "status": "ok" });
    let replicas = state.source().replicas();
    if !replicas.is_empty() {
        let replicas: Vec<Value> = replicas
            .iter()
            .map(|replica| {
                json!({
                    "name": replica.name,
                    "healthy": replica.problem.is_none(),
                    "lag_seconds": replica.lag.map(|lag| lag.as_secs_f64()),
                    "problem": replica.problem,
                })
            })
            .collect();
        ready["replicas"] = json!(replicas);
    }
    Ok(Json(ready))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_dataset_format_and_compression() {
        let parse = |file| parse_file_name(file).map_err(|error| error.to_string());
        assert_eq!(parse("orders.csv").unwrap(), ("orders", Format::Csv, None));
        assert_eq!(
            parse("orders.csv.gz").unwrap(),
            ("orders", Format::Csv, Some(Compression::Gzip))
        );
        assert_eq!(
            parse("a.b.JSONL.ZST").unwrap(),
            ("a.b", Format::Jsonl, Some(Compression::Zstd))
        );
        assert_eq!(
            parse("orders.gz.tsv").unwrap(),
            ("orders.gz", Format::Tsv, None)
        );
        assert!(parse("orders.gz").unwrap_err().contains("(none given)"));
        assert!(parse("orders.xlsx.gz").unwrap_err().contains("\"xlsx\""));
        assert!(parse("orders.csv.bz2").unwrap_err().contains("\"bz2\""));
    }

    #[test]
    fn plain_file_names_are_quoted_as_they_are() {
        assert_eq!(
            content_disposition("orders.csv"),
            "attachment; filename=\"orders.csv\""
        );
    }

    #[test]
    fn other_file_names_get_an_ascii_fallback_and_an_encoded_form() {
        assert_eq!(
            content_disposition("bestellungen \"ä\".csv"),
            "attachment; filename=\"bestellungen____.csv\"; filename*=UTF-8''bestellungen%20%22%C3%A4%22.csv"
        );
    }
}
