//! `GET /openapi.json`: an OpenAPI 3.1 description of the HTTP API, generated from the
//! tables the server itself runs on (routes, formats, compressions, query-string keys,
//! error codes), so that it cannot describe a server other than the one answering.

mod document;
mod schemas;

pub use document::document;
