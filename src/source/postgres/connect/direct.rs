//! Opening a download connection's TCP socket here rather than in tokio-postgres, so that
//! it can be a [`BatchedStream`] (tokio-postgres keeps its own sockets out of reach).
//!
//! Only a connection string with one TCP host (and at most one `hostaddr` and port) is
//! opened this way, with tokio-postgres's own socket settings (`TCP_NODELAY`, keepalives,
//! `tcp_user_timeout`); several hosts, `load_balance_hosts` or `target_session_attrs`,
//! and Unix sockets (where the mark does not spare the backend its wake-ups: a Unix
//! socket wakes its reader on every send) stay with tokio-postgres. When the socket
//! cannot be opened here, tokio-postgres tries in its turn, so a failure is reported in
//! its words.
//!
//! tokio-postgres cannot send the cancel request of a connection it did not open itself,
//! so [`cancel`] opens the socket for it the same way.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;
use tokio_postgres::config::{Host, LoadBalanceHosts, TargetSessionAttrs};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{CancelToken, Client, Config, Connection};

use super::Tls;
use super::batched::BatchedStream;

/// Where a connection string's one TCP server is, and how to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name TLS checks the certificate against.
    host: String,
    /// Where to connect: `hostaddr`, else `host`.
    address: String,
    port: u16,
    connect_timeout: Option<Duration>,
    keepalive: Option<TcpKeepalive>,
    user_timeout: Option<Duration>,
}

impl Target {
    /// The one TCP server of `config`, or `None` when tokio-postgres should connect.
    pub fn of(config: &Config) -> Option<Target> {
        let [Host::Tcp(host)] = config.get_hosts() else {
            return None;
        };
        let address = match config.get_hostaddrs() {
            [] => host.clone(),
            [address] => address.to_string(),
            _ => return None,
        };
        let port = match config.get_ports() {
            [] => 5432,
            [port] => *port,
            _ => return None,
        };
        let plain = config.get_load_balance_hosts() == LoadBalanceHosts::Disable
            && config.get_target_session_attrs() == TargetSessionAttrs::Any;
        let keepalive = config.get_keepalives().then(|| {
            let mut keepalive = TcpKeepalive::new().with_time(config.get_keepalives_idle());
            if let Some(interval) = config.get_keepalives_interval() {
                keepalive = keepalive.with_interval(interval);
            }
            if let Some(retries) = config.get_keepalives_retries() {
                keepalive = keepalive.with_retries(retries);
            }
            keepalive
        });
        plain.then(|| Target {
            host: host.clone(),
            address,
            port,
            connect_timeout: config.get_connect_timeout().copied(),
            keepalive,
            user_timeout: config.get_tcp_user_timeout().copied(),
        })
    }

    /// A TCP connection to the server, set up as tokio-postgres sets up its own.
    async fn open(&self) -> io::Result<TcpStream> {
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((self.address.as_str(), self.port))
                .await?
                .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for address in addresses {
            let connecting = TcpStream::connect(address);
            let connected = match self.connect_timeout {
                Some(limit) => tokio::time::timeout(limit, connecting)
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
                None => connecting.await,
            };
            match connected.and_then(|stream| self.configure(stream)) {
                Ok(stream) => return Ok(stream),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    fn configure(&self, stream: TcpStream) -> io::Result<TcpStream> {
        stream.set_nodelay(true)?;
        let socket = SockRef::from(&stream);
        if let Some(timeout) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(timeout))?;
        }
        if let Some(keepalive) = &self.keepalive {
            socket.set_tcp_keepalive(keepalive)?;
        }
        Ok(stream)
    }
}

/// A connection over a [`BatchedStream`] of our own, or `None` when the socket could not
/// be opened (the caller then lets tokio-postgres connect).
pub async fn connect(
    config: &Config,
    target: &Target,
    mut tls: Tls,
) -> Option<
    Result<
        (
            Client,
            Connection<BatchedStream, <Tls as MakeTlsConnect<BatchedStream>>::Stream>,
        ),
        tokio_postgres::Error,
    >,
> {
    let stream = target.open().await.ok()?;
    let handshake = match MakeTlsConnect::<BatchedStream>::make_tls_connect(&mut tls, &target.host)
    {
        Ok(handshake) => handshake,
        // Not a name TLS can check: tokio-postgres refuses it in its words.
        Err(_) => return None,
    };
    Some(
        config
            .connect_raw(BatchedStream::new(stream), handshake)
            .await,
    )
}

/// Sends `token`'s cancel request over a socket opened to `target`, through `tls` as the
/// connection negotiated it.
pub async fn cancel(token: &CancelToken, target: &Target, mut tls: Tls) -> io::Result<()> {
    let stream = target.open().await?;
    let handshake = MakeTlsConnect::<TcpStream>::make_tls_connect(&mut tls, &target.host)
        .map_err(io::Error::other)?;
    token
        .cancel_query_raw(stream, handshake)
        .await
        .map_err(io::Error::other)
}
