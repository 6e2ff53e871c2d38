//! The HTTP server: lists datasets and streams each one as a download.
//!
//! [`app`] builds the router from an [`AppState`], so tests (and other programs) can drive
//! it in-process or behind their own listener; [`serve`] runs it until a shutdown signal.

mod error;
mod request_id;
mod routes;
mod state;

pub use error::ApiError;
pub use request_id::RequestId;
pub use routes::app;
pub use state::AppState;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

/// How long in-flight downloads may go on after a shutdown signal before they are cut off
/// (and so end as failed transfers for their clients).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `state` on `listener` until `shutdown` resolves, then lets in-flight downloads run
/// for at most [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = signalled_tx.send(());
    });
    let grace = async {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result,
        () = grace => {
            tracing::warn!("shutdown grace period over; cutting off downloads still running");
            Ok(())
        }
    }
}
