//! The pool of connections: deadpool's, with a manager of rowpipe's own, so that every
//! pooled connection carries its protocol [`Driver`] (which an export borrows) and every
//! pool the [`Tls`] its cancel requests need.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tokio_postgres::config::SslMode as Negotiate;

use super::driver::{Driver, Lent};
use super::tls::Tls;

/// A pool of connections to one database.
pub type Pool = managed::Pool<Manager>;
/// A connection taken from a [`Pool`]; it goes back when dropped.
pub type Object = managed::Object<Manager>;
/// Why a [`Pool`] gave no connection.
pub type PoolError = managed::PoolError<tokio_postgres::Error>;
pub use managed::TimeoutType;

/// Opens a pool's connections and checks idle ones before they are handed out again.
pub struct Manager {
    config: tokio_postgres::Config,
    tls: Tls,
}

impl Manager {
    pub(super) fn new(config: tokio_postgres::Config, tls: Tls) -> Self {
        Self { config, tls }
    }

    /// How the connections are encrypted; a cancel request must go the same way.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// Opens one connection: with TLS as [`Tls`] says, and, for `prefer`, once more in
    /// plain text when a TLS attempt failed (a refused handshake, or a server that turned
    /// the encrypted login away), as libpq does.
    async fn open(&self) -> Result<(Client, super::driver::Connection), tokio_postgres::Error> {
        let started = Arc::new(AtomicBool::new(false));
        let tls = self.tls.noting_start(started.clone());
        match self.config.connect(tls).await {
            Ok((client, connection)) => Ok((client, Box::pin(connection))),
            Err(error)
                if self.config.get_ssl_mode() == Negotiate::Prefer
                    && started.load(Ordering::SeqCst) =>
            {
                tracing::warn!(
                    error = %crate::source::error::describe_pg_error(&error),
                    "TLS to the database failed under sslmode=prefer; connecting in plain \
                     text instead (set sslmode=require or verify-full to refuse)"
                );
                let mut plain = self.config.clone();
                plain.ssl_mode(Negotiate::Disable);
                let (client, connection) = plain.connect(self.tls.clone()).await?;
                Ok((client, Box::pin(connection)))
            }
            Err(error) => Err(error),
        }
    }
}

/// Shows nothing of the connection settings: they hold the password.
impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

impl managed::Manager for Manager {
    type Type = PooledClient;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<PooledClient, tokio_postgres::Error> {
        let (client, connection) = self.open().await?;
        let (driver, task) = Driver::spawn(connection);
        Ok(PooledClient {
            client,
            driver,
            task,
        })
    }

    /// One empty statement (a round trip) finds connections the server dropped (a
    /// restart, an idle timeout) before a download starts on one; a socket known to be
    /// closed is not even tried.
    async fn recycle(
        &self,
        client: &mut PooledClient,
        _: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        if client.is_closed() {
            return Err(RecycleError::message("the connection is closed"));
        }
        client.simple_query("").await?;
        Ok(())
    }
}

/// A pooled connection: its client, and the driver that runs it.
pub struct PooledClient {
    client: Client,
    driver: Arc<Driver>,
    /// Runs the connection while it is not lent; aborted with the connection.
    task: JoinHandle<()>,
}

impl PooledClient {
    /// Takes the connection's driver into the caller's task; see [`Driver::lend`].
    pub fn lend_driver(&self) -> Option<Lent> {
        self.driver.lend()
    }
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient").finish_non_exhaustive()
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}
