//! Every error a request can end in, and the one place where errors become HTTP answers:
//! a status and a JSON body `{"error": {"code": ..., "message": ...}}`.
//!
//! Errors from the database include the SQLSTATE and the server's message, which help an
//! operator and reveal no secret (passwords never reach these messages). The response
//! carries the message in an extension so the logging middleware can log it once.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::Busy;
use crate::export::OutputError;
use crate::format::Format;
use crate::pipeline::OpenError;
use crate::request::RequestError;
use crate::source::SourceError;
use crate::source::error::pg_error_details;
use crate::source::postgres::typed::Rejected;
use crate::stage::StreamError;

/// A request that cannot be answered with data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no route for {path}; see /datasets")]
    NotFound { path: String },
    #[error("method {method} is not allowed here; use GET")]
    MethodNotAllowed { method: String },
    #[error("no dataset named {name:?}; see /datasets for the list")]
    UnknownDataset { name: String },
    #[error(
        "unsupported format {}; supported: {}",
        given.as_deref().map_or_else(|| "(none given)".to_owned(), |f| format!("{f:?}")),
        Format::supported_list()
    )]
    UnknownFormat { given: Option<String> },
    #[error("bad request: {message}")]
    BadRequest { message: String },
    #[error(
        "downloads need HTTP/1.1 or later, and this request is {version}: HTTP/1.0 cannot tell \
         a download that broke off from a complete one. Behind a reverse proxy, have it speak \
         HTTP/1.1 to rowpipe (nginx: proxy_http_version 1.1)"
    )]
    HttpVersion { version: String },
    #[error(
        "downloads cannot be resumed by byte range: every request runs the query anew, so \
         bytes of a new export need not continue an old one. Keep the complete rows you have \
         and ask for the rest with after=<the last key> (datasets with a key; see /datasets)"
    )]
    RangeNotSupported,
    #[error(
        "this request's Accept-Encoding refuses identity, gzip and zstd, the only encodings \
         rowpipe sends; accept one of them, or download the compressed file itself \
         (/datasets/NAME.csv.gz or .csv.zst)"
    )]
    NotAcceptable,
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    BadOutput(#[from] OutputError),
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The server sent data rowpipe could not decode: a bug, or a server it does not know.
    #[error("{}{error}", dataset.as_deref().map(|d| format!("dataset {d:?}: ")).unwrap_or_default())]
    Encode {
        dataset: Option<String>,
        #[source]
        error: StreamError,
    },
    #[error("{}{error}", dataset.as_deref().map(|d| format!("dataset {d:?}: ")).unwrap_or_default())]
    Source {
        dataset: Option<String>,
        #[source]
        error: SourceError,
    },
}

impl ApiError {
    /// A database failure, for `dataset` when the request was for one.
    pub fn database(dataset: Option<&str>, error: SourceError) -> Self {
        ApiError::Source {
            dataset: dataset.map(str::to_owned),
            error,
        }
    }

    /// A failure to start a download of `dataset`.
    pub fn open(dataset: &str, error: OpenError) -> Self {
        match error {
            OpenError::Output(error) => ApiError::BadOutput(error),
            OpenError::Source(error) => ApiError::database(Some(dataset), error),
            OpenError::Compress(error) => ApiError::Encode {
                dataset: Some(dataset.to_owned()),
                error: StreamError::Compress(error),
            },
        }
    }

    /// A failure before the first chunk of a download of `dataset`.
    pub fn stream(dataset: &str, error: StreamError) -> Self {
        match error {
            StreamError::Source(error) => ApiError::database(Some(dataset), error),
            error => ApiError::Encode {
                dataset: Some(dataset.to_owned()),
                error,
            },
        }
    }

    /// The status and the machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::UnknownDataset { .. } => (StatusCode::NOT_FOUND, "unknown_dataset"),
            ApiError::UnknownFormat { .. } => (StatusCode::NOT_FOUND, "unknown_format"),
            ApiError::BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::HttpVersion { .. } => (
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "http_version_not_supported",
            ),
            ApiError::RangeNotSupported => (StatusCode::BAD_REQUEST, "range_not_supported"),
            ApiError::NotAcceptable => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            ApiError::Request(error) => (StatusCode::BAD_REQUEST, request_code(error)),
            ApiError::BadOutput(_) => (StatusCode::BAD_REQUEST, "invalid_option"),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "too_many_downloads"),
            ApiError::Source {
                error: SourceError::Rejected(rejected),
                ..
            } => rejected_status(rejected),
            ApiError::Encode {
                error: StreamError::Limit(_),
                ..
            } => (StatusCode::INTERNAL_SERVER_ERROR, "limit_exceeded"),
            ApiError::Encode {
                error: StreamError::KeyOrder(_),
                ..
            } => (StatusCode::INTERNAL_SERVER_ERROR, "invalid_key"),
            ApiError::Encode { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "encode_failed"),
            ApiError::Source { error, .. } if error.is_timeout() => {
                (StatusCode::SERVICE_UNAVAILABLE, "statement_timeout")
            }
            ApiError::Source { error, .. } if error.is_unavailable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            }
            ApiError::Source { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "query_failed"),
        }
    }
}

fn request_code(error: &RequestError) -> &'static str {
    match error {
        RequestError::Option(_) => "invalid_option",
        RequestError::UnknownKey { .. } => "unknown_parameter",
        RequestError::Repeated { .. } => "repeated_parameter",
        RequestError::MissingParam { .. } => "missing_parameter",
        RequestError::BadLimit { .. } => "invalid_limit",
        RequestError::EmptyColumns | RequestError::TooManyColumns { .. } => "invalid_columns",
        RequestError::NoKey { .. } => "not_resumable",
    }
}

fn rejected_status(rejected: &Rejected) -> (StatusCode, &'static str) {
    match rejected {
        Rejected::InvalidParam { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
        Rejected::UnknownColumn { .. } => (StatusCode::BAD_REQUEST, "unknown_column"),
        Rejected::AmbiguousColumn { .. } => (StatusCode::BAD_REQUEST, "ambiguous_column"),
        Rejected::InvalidAfter { .. } => (StatusCode::BAD_REQUEST, "invalid_after"),
        Rejected::AfterWithoutKey => (StatusCode::BAD_REQUEST, "not_resumable"),
        // The dataset's key is not one of its columns: the operator's to fix.
        Rejected::UnknownKey { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "invalid_dataset"),
        // The dataset's own declaration is wrong: the operator's to fix.
        Rejected::UnknownParamType { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "invalid_dataset"),
    }
}

/// What a 503 asks a client to wait before it retries, in seconds.
const RETRY_AFTER_SECONDS: &str = "5";

/// What the logging middleware needs of an error response: the whole message for the log
/// (the client's body leaves out the database's DETAIL and HINT), and the body, to which
/// it adds the request's id.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub logged: String,
    pub body: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// The message for the client: [`Display`](std::fmt::Display)'s, without the server's
    /// DETAIL and HINT, which can quote row values.
    pub fn public_message(&self) -> String {
        let message = self.to_string();
        let details = match self {
            ApiError::Source { error, .. } => error.pg_error().and_then(pg_error_details),
            ApiError::Encode {
                error: StreamError::Source(error),
                ..
            } => error.pg_error().and_then(pg_error_details),
            _ => None,
        };
        match details {
            Some(details) => message.replacen(&details, "", 1),
            None => message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let logged = self.to_string();
        let message = self.public_message();
        let mut extra = serde_json::Map::new();
        if let ApiError::Source { error, .. } = &self {
            if let Some(state) = error.sqlstate() {
                extra.insert("sqlstate".into(), json!(state.code()));
            }
        }
        if let ApiError::Request(RequestError::UnknownKey { accepted, .. }) = &self {
            extra.insert("accepted".into(), json!(accepted));
        }
        if let ApiError::Source {
            error: SourceError::Rejected(Rejected::UnknownColumn { valid, .. }),
            ..
        } = &self
        {
            extra.insert("columns".into(), json!(valid));
        }
        if let ApiError::UnknownFormat { .. } = &self {
            let supported: Vec<&str> = Format::ALL.iter().map(|f| f.extension()).collect();
            extra.insert("supported".into(), json!(supported));
        }
        let mut body = serde_json::Map::new();
        body.insert("code".into(), json!(code));
        body.insert("message".into(), json!(message));
        body.extend(extra);
        let mut response = (status, Json(json!({ "error": body.clone() }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Busy, or the database is: worth a retry, after a moment.
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
            .extensions_mut()
            .insert(ErrorReport { logged, body });
        response
    }
}
