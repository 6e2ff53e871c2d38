//! The OpenAPI 3.1 document: one path item per [`Route`], matched exhaustively, plus one
//! download path per dataset with its declared parameters.
//!
//! Nothing here is a list of its own: routes come from [`Route::ALL`], formats and
//! compressions from [`Format::ALL`] and [`Compression::ALL`], query-string keys from
//! [`OptionKey::ALL`] and [`QueryKey::ALL`] (the parser's own tables, with the values each
//! one's parser takes), error codes and their statuses from
//! [`ErrorCode`](crate::server::error::ErrorCode). What is written by hand is prose, and
//! which statuses each route can answer, which the schemathesis test checks against the
//! running server.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::schemas;
use crate::catalog::Dataset;
use crate::format::{Compression, Format};
use crate::options::{OptionKey, Values};
use crate::request::QueryKey;
use crate::server::route::{Route, path_segment};
use crate::source::Source;

/// The OpenAPI document for a server offering `datasets` from `source` (which says what
/// their parameters' types take).
pub fn document(datasets: &[Dataset], source: &dyn Source) -> Value {
    let mut paths = Map::new();
    for route in Route::ALL {
        match route {
            Route::Datasets => {
                let ok = ok_json(
                    "Every dataset, with its columns, parameters and download links.",
                    json!({ "type": "array", "items": { "$ref": "#/components/schemas/Dataset" } }),
                );
                let op = operation(
                    "listDatasets",
                    "datasets",
                    "The datasets",
                    "Each dataset's columns are those of its query, described by the database now.",
                    Vec::new(),
                    responses(ok, &[401, 500, 503]),
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
            Route::Download => {
                paths.insert(
                    "/datasets/{name}.{format}".into(),
                    download_item(None, source),
                );
                for dataset in datasets {
                    let name = path_segment(&dataset.name);
                    paths.insert(
                        format!("/datasets/{name}.{{format}}"),
                        download_item(Some(dataset), source),
                    );
                }
            }
            Route::Livez => {
                let op = operation(
                    "livez",
                    "health",
                    "Liveness",
                    "200 while the process serves requests at all; never asks the database.",
                    Vec::new(),
                    responses(status_ok(), &[]),
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
            Route::Readyz | Route::Healthz => {
                let (id, summary) = match route {
                    Route::Readyz => ("readyz", "Readiness"),
                    _ => ("healthz", "Readiness (the old name of /readyz)"),
                };
                let op = operation(
                    id,
                    "health",
                    summary,
                    "200 when the database answers a trivial query within 5 seconds, else 503. \
                     With `[database] replicas`, the database a download would go to now (a \
                     healthy replica, else the fallback) answers, and `replicas` lists each \
                     replica's lag and why it is skipped, if it is. Needs a token only with \
                     `server.protect_readyz`.",
                    Vec::new(),
                    responses(
                        ok_json("ready", json!({ "$ref": "#/components/schemas/Readiness" })),
                        &[401, 500, 503],
                    ),
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
            Route::Metrics => {
                let ok = json!({
                    "description": "The Prometheus/OpenMetrics text exposition.",
                    "headers": request_id_header(),
                    "content": { "application/openmetrics-text": { "schema": { "type": "string" } } },
                });
                let op = operation(
                    "metrics",
                    "operations",
                    "Metrics",
                    "Downloads by dataset, format and outcome; rejections by error code; rows, \
                     bytes, durations, pools, query cancellations and compression.",
                    Vec::new(),
                    responses(ok, &[401]),
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
            Route::OpenApi => {
                let ok = ok_json("This document.", json!({ "type": "object" }));
                let op = operation(
                    "openapi",
                    "operations",
                    "This API's description",
                    "With one download path per dataset, listing its parameters. Discovered \
                     datasets are looked up in the database, so this can answer 503.",
                    Vec::new(),
                    responses(ok, &[401, 500, 503]),
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
            Route::Home => {
                let op = operation(
                    "home",
                    "pages",
                    "The web page",
                    "The datasets for people: descriptions, columns, download links.",
                    Vec::new(),
                    responses(html_response("The page."), &[401, 500, 503]),
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
            Route::DatasetPage => {
                let name = json!({
                    "name": "name", "in": "path", "required": true,
                    "description": "The dataset's name.",
                    "schema": { "type": "string" },
                });
                let mut responses =
                    responses(html_response("The page."), &[401, 403, 404, 500, 503]);
                // A request the preview refuses is shown on the page, with its status.
                responses.insert(
                    "400".into(),
                    html_response("The page, saying what the query string got wrong."),
                );
                let op = operation(
                    "datasetPage",
                    "pages",
                    "One dataset's web page",
                    "Its columns, a preview of its first rows and a form for its parameters; \
                     the query string takes the download's keys (parameters, `columns`, \
                     `limit`, ...), for the preview and the download links.",
                    vec![name],
                    responses,
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
            Route::Asset => {
                let file = json!({
                    "name": "file", "in": "path", "required": true,
                    "schema": { "type": "string" },
                });
                let ok = json!({
                    "description": "The file.",
                    "headers": request_id_header(),
                    "content": {
                        "text/css": { "schema": { "type": "string" } },
                        "image/svg+xml": { "schema": { "type": "string" } },
                    },
                });
                let op = operation(
                    "asset",
                    "pages",
                    "The pages' stylesheet and icon",
                    "`rowpipe.css` and `icon.svg`; open without a token.",
                    vec![file],
                    responses(ok, &[404]),
                );
                paths.insert(route.path().into(), json!({ "get": op }));
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "rowpipe",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Query results streamed out of PostgreSQL as CSV, TSV, JSON Lines \
                or JSON. Every error before the first byte is a status with a JSON body \
                {\"error\": {\"code\", \"message\", \"request_id\"}}; a download that fails \
                after it breaks off without its terminating chunk. Any other path answers \
                404 not_found, any method but GET and HEAD 405 method_not_allowed.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas::components(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "When the server has `[[token]]`s: every route but \
                        /livez (and /readyz unless `server.protect_readyz`).",
                },
            },
            "headers": {
                "X-Request-Id": {
                    "description": "The request's id: a sane incoming X-Request-Id (1 to 64 \
                        letters, digits and -_.:), else a fresh one.",
                    "required": true,
                    "schema": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$" },
                },
            },
        },
    })
}

/// A download's path item: `GET`, and `HEAD`, which answers the same status and headers
/// without running the export (and, as every answer to `HEAD`, without a body).
fn download_item(dataset: Option<&Dataset>, source: &dyn Source) -> Value {
    json!({
        "get": download(dataset, Method::GET, source),
        "head": download(dataset, Method::HEAD, source),
    })
}

/// A download operation (`GET`, or `HEAD`): of any dataset by name (`None`), or of
/// `dataset` with its own parameters.
///
/// `HEAD` makes only the checks that need no database, so it takes any text for a
/// parameter of the dataset (whose type only the database checks).
fn download(dataset: Option<&Dataset>, method: Method, source: &dyn Source) -> Value {
    let head = method == Method::HEAD;
    let mut parameters = Vec::new();
    let (id, summary) = match dataset {
        None => {
            parameters.push(json!({
                "name": "name",
                "in": "path",
                "required": true,
                "description": "The dataset's name (see /datasets).",
                "schema": { "type": "string", "minLength": 1 },
            }));
            ("download".to_owned(), "Download a dataset".to_owned())
        }
        Some(dataset) => (
            format!("download:{}", dataset.name),
            match &dataset.description {
                Some(description) => format!("{}: {description}", dataset.name),
                None => format!("Download {}", dataset.name),
            },
        ),
    };
    parameters.push(json!({
        "name": "format",
        "in": "path",
        "required": true,
        "description": "The format, and a compression for the compressed file itself.",
        "schema": { "type": "string", "enum": file_suffixes() },
    }));
    for key in OptionKey::ALL {
        parameters.push(query_parameter(
            key.name(),
            key.description(),
            &key.values(),
        ));
    }
    for key in QueryKey::ALL {
        if dataset.is_none_or(|dataset| key.applies_to(dataset)) {
            parameters.push(query_parameter(
                key.name(),
                key.description(),
                &key.values(),
            ));
        }
    }
    for param in dataset.map_or(&[][..], |dataset| &dataset.params) {
        parameters.push(json!({
            "name": param.name,
            "in": "query",
            "required": param.default.is_none(),
            "description": format!(
                "Bound as a value of PostgreSQL type {}, parsed by the database (in the \
                 session's time zone).",
                param.type_name
            ),
            "schema": match head {
                true => schemas::param_as_text(param),
                false => schemas::param(param, source.param_kind(&param.type_name)),
            },
            "x-rowpipe-type": param.type_name,
        }));
    }
    parameters.extend([
        header_parameter(
            "Accept-Encoding",
            "zstd, gzip or identity, by q-value; a header refusing all three is answered 406.",
            json!({ "type": "string" }),
        ),
        header_parameter(
            "Range",
            "Only the whole body is served; a download is resumed with after= instead, and \
             any other range is answered 400.",
            json!({ "type": "string", "enum": ["bytes=0-"] }),
        ),
        header_parameter(
            "TE",
            "trailers: a download that ends cleanly ends with the trailers X-Rowpipe-Rows, \
             X-Rowpipe-Bytes and X-Rowpipe-Sha256.",
            json!({ "type": "string" }),
        ),
        header_parameter(
            "X-Request-Id",
            "Kept as the request's id when it is 1 to 64 letters, digits and -_.:",
            json!({ "type": "string" }),
        ),
    ]);

    let content: Map<String, Value> = Format::ALL
        .iter()
        .map(|format| {
            let schema = match format {
                Format::Json => json!({ "type": "array", "items": { "type": "object" } }),
                _ => json!({ "type": "string" }),
            };
            (
                media_type(format.content_type()),
                json!({ "schema": schema }),
            )
        })
        .chain(Compression::ALL.iter().map(|compression| {
            let schema =
                json!({ "type": "string", "contentMediaType": compression.content_type() });
            (
                compression.content_type().to_owned(),
                json!({ "schema": schema }),
            )
        }))
        .collect();
    let mut headers = request_id_header();
    headers.extend([
        header(
            "Content-Disposition",
            "attachment; filename=\"NAME.FORMAT\"",
            true,
        ),
        header("Accept-Ranges", "none", true),
        header(
            "Content-Encoding",
            "gzip or zstd, when negotiated by Accept-Encoding.",
            false,
        ),
        header("Vary", "Accept-Encoding, on negotiated downloads.", false),
        header(
            "Trailer",
            "The trailers announced, with TE: trailers.",
            false,
        ),
        header(
            "X-Rowpipe-Warning",
            "An Excel download with more rows than a sheet holds.",
            false,
        ),
    ]);
    let ok = json!({
        "description": "The rows, streamed. A failure after the first byte breaks the transfer off.",
        "headers": headers,
        "content": content,
    });
    let (id, summary) = match head {
        true => (
            format!("head:{id}"),
            "The download's headers, without running its query".to_owned(),
        ),
        false => (id, summary),
    };
    let mut responses = responses(ok, &[400, 401, 403, 404, 406, 500, 503, 505]);
    // hyper's own answer, before rowpipe sees the request: it keeps a URI's offsets in 16
    // bits.
    responses.insert(
        StatusCode::URI_TOO_LONG.as_str().into(),
        json!({ "description": "A request line over 64 KiB, refused by the HTTP layer itself: no body." }),
    );
    if head {
        for response in responses.values_mut() {
            if let Some(response) = response.as_object_mut() {
                response.remove("content");
            }
        }
    }
    operation(
        &id,
        "datasets",
        &summary,
        "The dataset's query, run anew in one REPEATABLE READ READ ONLY snapshot, streamed in \
         the format asked for.",
        parameters,
        responses,
    )
}

/// Every download suffix: each format, alone and with each compression (`csv`, `csv.gz`).
fn file_suffixes() -> Vec<String> {
    Format::ALL
        .iter()
        .flat_map(|format| {
            std::iter::once(format.extension().to_owned()).chain(
                Compression::ALL
                    .iter()
                    .map(move |c| format!("{}.{}", format.extension(), c.extension())),
            )
        })
        .collect()
}

fn query_parameter(name: &str, description: &str, values: &Values) -> Value {
    let mut parameter = json!({
        "name": name,
        "in": "query",
        "required": false,
        "description": description,
        "schema": schemas::values(values),
    });
    if matches!(values, Values::List { .. }) {
        parameter["style"] = json!("form");
        parameter["explode"] = json!(false);
    }
    parameter
}

fn header_parameter(name: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "header",
        "required": false,
        "description": description,
        "schema": schema,
    })
}

fn header(name: &str, description: &str, required: bool) -> (String, Value) {
    (
        name.to_owned(),
        json!({ "description": description, "required": required, "schema": { "type": "string" } }),
    )
}

/// `text/csv; charset=utf-8` -> `text/csv`.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim()
        .to_owned()
}

fn operation(
    id: &str,
    tag: &str,
    summary: &str,
    description: &str,
    parameters: Vec<Value>,
    responses: Map<String, Value>,
) -> Value {
    json!({
        "operationId": id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": parameters,
        "responses": responses,
    })
}

fn request_id_header() -> Map<String, Value> {
    let mut headers = Map::new();
    headers.insert(
        "X-Request-Id".into(),
        json!({ "$ref": "#/components/headers/X-Request-Id" }),
    );
    headers
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "headers": request_id_header(),
        "content": { "application/json": { "schema": schema } },
    })
}

fn html_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": request_id_header(),
        "content": { "text/html": { "schema": { "type": "string" } } },
    })
}

fn status_ok() -> Value {
    ok_json("ok", json!({ "$ref": "#/components/schemas/Status" }))
}

/// `200` as `ok`, and an error body for each of `errors`.
fn responses(ok: Value, errors: &[u16]) -> Map<String, Value> {
    let mut responses = Map::new();
    responses.insert("200".into(), ok);
    for &status in errors {
        let status = StatusCode::from_u16(status).expect("a status code");
        debug_assert!(schemas::error_statuses().contains(&status), "{status}");
        let mut headers = request_id_header();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                "Retry-After".into(),
                json!({
                    "description": "Seconds to wait before retrying.",
                    "required": true,
                    "schema": { "type": "string", "pattern": "^[0-9]+$" },
                }),
            );
        }
        let schema = format!(
            "#/components/schemas/{}",
            schemas::error_schema_name(status)
        );
        responses.insert(
            status.as_str().into(),
            json!({
                "description": status.canonical_reason().unwrap_or("error"),
                "headers": headers,
                "content": { "application/json": { "schema": { "$ref": schema } } },
            }),
        );
    }
    responses
}
