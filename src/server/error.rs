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
use crate::source::error::pg_error_details;
use crate::source::{Rejected, SourceError};
use crate::stage::StreamError;

/// A request that cannot be answered with data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no route for {path}; see /datasets")]
    NotFound { path: String },
    #[error(
        "this server needs a token: send Authorization: Bearer <token> (a token in the URL \
         is not read)"
    )]
    Unauthorized,
    #[error("the token is not one this server knows")]
    UnknownToken,
    #[error("token {token:?} may not read dataset {dataset:?}")]
    Forbidden { token: String, dataset: String },
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
        error: StreamError,
    },
    #[error("{}{error}", dataset.as_deref().map(|d| format!("dataset {d:?}: ")).unwrap_or_default())]
    Source {
        dataset: Option<String>,
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
        let code = self.code();
        (code.status(), code.as_str())
    }

    /// The machine-readable code, which decides the status.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::NotFound { .. } => ErrorCode::NotFound,
            ApiError::Unauthorized | ApiError::UnknownToken => ErrorCode::Unauthorized,
            ApiError::Forbidden { .. } => ErrorCode::Forbidden,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::UnknownDataset { .. } => ErrorCode::UnknownDataset,
            ApiError::UnknownFormat { .. } => ErrorCode::UnknownFormat,
            ApiError::BadRequest { .. } => ErrorCode::BadRequest,
            ApiError::HttpVersion { .. } => ErrorCode::HttpVersionNotSupported,
            ApiError::RangeNotSupported => ErrorCode::RangeNotSupported,
            ApiError::NotAcceptable => ErrorCode::NotAcceptable,
            ApiError::Request(error) => request_code(error),
            ApiError::BadOutput(_) => ErrorCode::InvalidOption,
            ApiError::Busy(_) => ErrorCode::TooManyDownloads,
            ApiError::Source {
                error: SourceError::Rejected(rejected),
                ..
            } => rejected_code(rejected),
            ApiError::Encode {
                error: StreamError::Limit(_),
                ..
            } => ErrorCode::LimitExceeded,
            ApiError::Encode {
                error: StreamError::KeyOrder(_),
                ..
            } => ErrorCode::InvalidKey,
            ApiError::Encode { .. } => ErrorCode::EncodeFailed,
            ApiError::Source { error, .. } if error.is_recovery_conflict() => {
                ErrorCode::RecoveryConflict
            }
            ApiError::Source { error, .. } if error.is_timeout() => ErrorCode::StatementTimeout,
            ApiError::Source { error, .. } if error.is_unavailable() => {
                ErrorCode::DatabaseUnavailable
            }
            ApiError::Source { .. } => ErrorCode::QueryFailed,
        }
    }
}

/// Declares [`ErrorCode`]: each code with its status and its name in error bodies.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $status:ident, $name:literal;)*) => {
        /// The machine-readable `code` of an error body, and the status it is answered
        /// with. `/openapi.json` lists them from [`ErrorCode::ALL`], by status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order they are listed to users.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as error bodies give it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The status it is answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    /// No such route.
    NotFound => NOT_FOUND, "not_found";
    /// No token, or not a known one (`WWW-Authenticate: Bearer`).
    Unauthorized => UNAUTHORIZED, "unauthorized";
    /// The token may not read that dataset.
    Forbidden => FORBIDDEN, "forbidden";
    /// A method other than GET (or HEAD).
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed";
    /// No dataset of that name.
    UnknownDataset => NOT_FOUND, "unknown_dataset";
    /// A file name whose format is not one rowpipe writes.
    UnknownFormat => NOT_FOUND, "unknown_format";
    /// A path that cannot be read (not UTF-8 once percent-decoded).
    BadRequest => BAD_REQUEST, "bad_request";
    /// A download over HTTP/1.0.
    HttpVersionNotSupported => HTTP_VERSION_NOT_SUPPORTED, "http_version_not_supported";
    /// A `Range` other than the whole body.
    RangeNotSupported => BAD_REQUEST, "range_not_supported";
    /// An `Accept-Encoding` that refuses every encoding rowpipe sends.
    NotAcceptable => NOT_ACCEPTABLE, "not_acceptable";
    /// A bad option value, or options the engine cannot write.
    InvalidOption => BAD_REQUEST, "invalid_option";
    /// A query-string key that means nothing here.
    UnknownParameter => BAD_REQUEST, "unknown_parameter";
    /// A query-string key given twice.
    RepeatedParameter => BAD_REQUEST, "repeated_parameter";
    /// A required dataset parameter not given.
    MissingParameter => BAD_REQUEST, "missing_parameter";
    /// A parameter value that does not parse as its declared type.
    InvalidParameter => BAD_REQUEST, "invalid_parameter";
    /// `limit=` that is not a row count.
    InvalidLimit => BAD_REQUEST, "invalid_limit";
    /// `columns=` empty or too long.
    InvalidColumns => BAD_REQUEST, "invalid_columns";
    /// `columns=` naming a column the result lacks.
    UnknownColumn => BAD_REQUEST, "unknown_column";
    /// `columns=` naming a column the result has twice.
    AmbiguousColumn => BAD_REQUEST, "ambiguous_column";
    /// `after=` that is not a value of the key's type.
    InvalidAfter => BAD_REQUEST, "invalid_after";
    /// `after=` for a dataset without a key.
    NotResumable => BAD_REQUEST, "not_resumable";
    /// Downloads at a limit; retry shortly.
    TooManyDownloads => SERVICE_UNAVAILABLE, "too_many_downloads";
    /// The query hit `statement_timeout` before its first chunk.
    StatementTimeout => SERVICE_UNAVAILABLE, "statement_timeout";
    /// The database is down, unreachable, or every connection busy.
    DatabaseUnavailable => SERVICE_UNAVAILABLE, "database_unavailable";
    /// A standby cancelled the query before its first chunk: replaying the primary's
    /// changes conflicted with it (SQLSTATE 40001, 57P04). A retry takes a new snapshot.
    RecoveryConflict => SERVICE_UNAVAILABLE, "recovery_conflict";
    /// The dataset's query failed.
    QueryFailed => INTERNAL_SERVER_ERROR, "query_failed";
    /// The dataset's declaration is wrong (its key, its parameters' types).
    InvalidDataset => INTERNAL_SERVER_ERROR, "invalid_dataset";
    /// The dataset's key repeats, or is NULL.
    InvalidKey => INTERNAL_SERVER_ERROR, "invalid_key";
    /// `max_rows` or `max_bytes` passed before the first chunk.
    LimitExceeded => INTERNAL_SERVER_ERROR, "limit_exceeded";
    /// The server sent data rowpipe could not write.
    EncodeFailed => INTERNAL_SERVER_ERROR, "encode_failed";
}

fn request_code(error: &RequestError) -> ErrorCode {
    match error {
        RequestError::Option(_) => ErrorCode::InvalidOption,
        RequestError::UnknownKey { .. } => ErrorCode::UnknownParameter,
        RequestError::Repeated { .. } => ErrorCode::RepeatedParameter,
        RequestError::MissingParam { .. } => ErrorCode::MissingParameter,
        RequestError::BadLimit { .. } => ErrorCode::InvalidLimit,
        RequestError::EmptyColumns | RequestError::TooManyColumns { .. } => {
            ErrorCode::InvalidColumns
        }
        RequestError::NoKey { .. } => ErrorCode::NotResumable,
    }
}

fn rejected_code(rejected: &Rejected) -> ErrorCode {
    match rejected {
        Rejected::InvalidParam { .. } => ErrorCode::InvalidParameter,
        Rejected::UnknownColumn { .. } => ErrorCode::UnknownColumn,
        Rejected::AmbiguousColumn { .. } => ErrorCode::AmbiguousColumn,
        Rejected::InvalidAfter { .. } => ErrorCode::InvalidAfter,
        Rejected::AfterWithoutKey => ErrorCode::NotResumable,
        // The dataset's key is not one of its columns: the operator's to fix.
        Rejected::UnknownKey { .. } | Rejected::AmbiguousKey { .. } => ErrorCode::InvalidDataset,
        // The dataset's own declaration is wrong: the operator's to fix.
        Rejected::UnknownParamType { .. } => ErrorCode::InvalidDataset,
        // The dataset's query writes: the operator's to fix.
        Rejected::NotReadOnly { .. } => ErrorCode::InvalidDataset,
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
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rowpipe\""),
            );
        }
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
