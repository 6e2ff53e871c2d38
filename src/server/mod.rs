//! The HTTP server: lists datasets and streams each one as a download.
//!
//! [`app`] builds the router from an [`AppState`], so tests (and other programs) can drive
//! it in-process or behind their own listener; [`serve`] runs it until a shutdown signal.

mod accept_encoding;
mod auth;
mod error;
mod listen;
mod listing;
mod metrics;
mod openapi;
mod page;
mod request_id;
mod route;
mod routes;
mod stall;
mod state;
mod tls;

pub use error::ApiError;
pub use listen::serve;
pub use request_id::RequestId;
pub use route::Route;
pub use routes::app;
pub(crate) use routes::content_disposition;
pub use state::AppState;
pub use tls::acceptor as tls_acceptor;
