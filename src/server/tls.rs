//! HTTPS for `rowpipe serve` itself (`[server] tls_cert`, `tls_key`), so that a small
//! deployment needs no proxy in front: rustls with the ring provider (as the database
//! connections use), TLS 1.2 and 1.3, HTTP/1.1 by ALPN.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::ServerConfig;

/// The acceptor `[server]` asks for, or `None` for plain HTTP; an error names the file and
/// what is wrong with it.
pub fn acceptor(server: &ServerConfig) -> Result<Option<TlsAcceptor>, String> {
    let (Some(cert), Some(key)) = (&server.tls_cert, &server.tls_key) else {
        return Ok(None);
    };
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| format!("server.tls_key {}: {error}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot set up TLS: {error}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| {
            format!(
                "server.tls_cert {} and its key do not make a server certificate: {error}",
                cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("server.tls_cert {}: {error}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "server.tls_cert {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(chain)
}
