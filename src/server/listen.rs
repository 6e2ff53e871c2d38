//! The accept loop: every client connection served over HTTP/1.1 by hyper, within the
//! bounds of `[server]`.
//!
//! * a request's headers must arrive within `header_read_timeout` (also the limit for an
//!   idle keep-alive connection), so half-sent requests cannot pile up;
//! * a response whose client accepts no bytes for `send_timeout` fails its connection
//!   ([`StallGuard`]), which frees the download's database connection;
//! * at most `max_connections` connections are open; more wait in the listen queue;
//! * on shutdown the listener closes, idle connections close, and downloads still running
//!   get `shutdown_grace` to finish before they are cut off (and fail visibly);
//! * with `tls_cert` and `tls_key`, every connection is HTTPS; its handshake must finish
//!   within `header_read_timeout` too.

use std::future::Future;
use std::sync::Arc;

use axum::Extension;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower_layer::Layer;

use super::stall::StallGuard;
use super::{AppState, app};

/// Serves `state` on `listener` until `shutdown` resolves, then lets in-flight downloads
/// run for at most the configured `shutdown_grace`. Downloads cut off then make it an
/// error, so that the process's exit says so.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.server().clone();
    let tls = super::tls::acceptor(&limits).map_err(std::io::Error::other)?;
    let router = app(state);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap the connections that ended, so the set does not grow.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %error, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let stream = StallGuard::new(stream, limits.send_timeout);
        // Each request of the connection carries its client's address (a wrapper around
        // the shared router: nothing of the router is rebuilt per connection).
        let service = TowerToHyperService::new(Extension(ClientAddr(peer)).layer(router.clone()));
        let (http, watcher, tls) = (http.clone(), graceful.watcher(), tls.clone());
        let handshake_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            let served = match tls {
                None => {
                    let io = TokioIo::new(stream);
                    watcher.watch(http.serve_connection(io, service)).await
                }
                Some(tls) => {
                    let stream =
                        match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, error = %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let io = TokioIo::new(stream);
                    watcher.watch(http.serve_connection(io, service)).await
                }
            };
            if let Err(error) = served {
                let stalled = std::error::Error::source(&error)
                    .and_then(|source| source.downcast_ref::<std::io::Error>())
                    .is_some_and(|error| error.kind() == std::io::ErrorKind::TimedOut);
                if stalled {
                    tracing::warn!(%peer, error = %error, "client stalled; connection closed");
                } else {
                    tracing::debug!(%peer, error = %error, "connection ended with an error");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => Ok(()),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            let running = connections.len();
            connections.abort_all();
            Err(std::io::Error::other(format!(
                "shutdown grace period ({:?}) over: {running} connection(s) with downloads \
                 still running cut off",
                limits.shutdown_grace
            )))
        }
    }
}

/// The address a request's connection came from, in its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);
