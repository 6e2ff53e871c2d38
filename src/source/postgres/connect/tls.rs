//! TLS to PostgreSQL with rustls (the `ring` provider), in libpq's `sslmode` meanings.
//!
//! [`Tls::new`] turns a connection string's TLS settings into one rustls configuration,
//! read once at start-up: roots from `sslrootcert` or the system's store, a client
//! certificate from `sslcert` and `sslkey`, and what is checked of the server's
//! certificate:
//!
//! | `sslmode` | TLS | chain to a trusted root | host name |
//! |---|---|---|---|
//! | `disable` | never | | |
//! | `prefer` (default) | if offered; else, or if it fails, plain text | only with `sslrootcert` | no |
//! | `require` | always | only with `sslrootcert` | no |
//! | `verify-ca` | always | yes (`sslrootcert`, else the system's roots) | no |
//! | `verify-full` | always | yes (`sslrootcert`, else the system's roots) | yes |
//!
//! [`Tls`] is tokio-postgres's `MakeTlsConnect`, for the pool's connections and for cancel
//! requests alike. A refused handshake becomes a [`HandshakeError`] that says which check
//! failed and against which roots. The stream offers `tls-server-end-point` channel binding,
//! so SCRAM can use `SCRAM-SHA-256-PLUS`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::conninfo::{SslMode, SslSettings};

/// What is checked of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing but the handshake's own signatures: encrypted, not authenticated.
    Nothing,
    /// A chain to a trusted root, for any host name.
    Chain,
    /// A chain to a trusted root, issued for the host connected to.
    ChainAndHost,
}

/// The TLS side of every connection of one pool, and of its cancel requests.
#[derive(Clone)]
pub struct Tls {
    shared: Arc<Shared>,
    /// Set when a handshake starts on this copy: [`super::connect`] asks whether a failed
    /// `prefer` connection got as far as TLS, to retry it in plain text as libpq does.
    started: Option<Arc<AtomicBool>>,
}

struct Shared {
    config: Arc<ClientConfig>,
    mode: SslMode,
    check: Check,
    /// Where the roots came from, for messages: `sslrootcert /path` or `the system's root
    /// certificates`.
    roots: String,
}

impl Tls {
    /// Reads the certificate files `settings` name. The mode is `settings`' own, else
    /// `verify-full` with `sslrootcert=system` (as libpq 16 does), else `prefer`.
    pub fn new(settings: &SslSettings) -> Result<Tls, String> {
        let system = settings.rootcert.as_deref() == Some("system");
        let mode = match (settings.mode, system) {
            (Some(mode), true) if mode != SslMode::VerifyFull => {
                return Err(format!(
                    "weak sslmode \"{}\" may not be used with sslrootcert=system (use \
                     \"verify-full\")",
                    mode.name()
                ));
            }
            (Some(mode), _) => mode,
            (None, true) => SslMode::VerifyFull,
            (None, false) => SslMode::Prefer,
        };
        let check = match mode {
            SslMode::VerifyFull => Check::ChainAndHost,
            SslMode::VerifyCa => Check::Chain,
            // libpq checks the chain whenever it has a root file, whatever the mode.
            SslMode::Disable | SslMode::Prefer | SslMode::Require => match settings.rootcert {
                Some(_) => Check::Chain,
                None => Check::Nothing,
            },
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (roots, described) = match (check, settings.rootcert.as_deref()) {
            (Check::Nothing, _) => (RootCertStore::empty(), String::new()),
            (_, Some(path)) if path != "system" => {
                (read_roots(path)?, format!("sslrootcert {path}"))
            }
            (_, _) => (system_roots()?, "the system's root certificates".to_owned()),
        };
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(AnyCertificate(provider.signature_verification_algorithms)),
            Check::Chain | Check::ChainAndHost => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|error| format!("cannot use the root certificates: {error}"))?;
                match check {
                    Check::Chain => Arc::new(AnyHostName(webpki)),
                    _ => webpki,
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("cannot set up TLS: {error}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&settings.cert, &settings.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certificates(cert, "sslcert")?, read_key(key)?)
                .map_err(|error| format!("cannot use sslcert {cert} with sslkey {key}: {error}"))?,
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) | (None, Some(_)) => {
                return Err("sslcert and sslkey must be given together".to_owned());
            }
        };
        config.enable_sni = settings.sni.unwrap_or(true);
        // PostgreSQL 17 takes a direct TLS handshake (`sslnegotiation=direct`) only with
        // this ALPN protocol; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Tls {
            shared: Arc::new(Shared {
                config: Arc::new(config),
                mode,
                check,
                roots: described,
            }),
            started: None,
        })
    }

    /// The `sslmode` in force.
    pub fn mode(&self) -> SslMode {
        self.shared.mode
    }

    /// A copy that notes in `started` whether a handshake began.
    pub fn noting_start(&self, started: Arc<AtomicBool>) -> Tls {
        Tls {
            shared: self.shared.clone(),
            started: Some(started),
        }
    }
}

fn read_roots(path: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) =
        roots.add_parsable_certificates(read_certificates(path, "sslrootcert")?);
    if added == 0 {
        return Err(format!(
            "sslrootcert {path} holds no certificate rustls can use"
        ));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map(|error| format!(": {error}"))
            .unwrap_or_default();
        return Err(format!(
            "no system root certificates found{why}; give sslrootcert=FILE"
        ));
    }
    Ok(roots)
}

fn read_certificates(path: &str, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("cannot read {key} {path}: {error}"))?;
    if certificates.is_empty() {
        return Err(format!("{key} {path} holds no PEM certificate"));
    }
    Ok(certificates)
}

fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|error| format!("cannot read sslkey {path}: {error}"))
}

/// `require` and `prefer` without `sslrootcert`: any certificate, as long as the server
/// holds its key (the handshake's signatures are still checked).
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: webpki's checks, less the host name. webpki checks the chain before the
/// name, so a name mismatch means the chain was good.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = Handshake;
    type Error = HandshakeError;

    fn make_tls_connect(&mut self, host: &str) -> Result<Handshake, HandshakeError> {
        Ok(Handshake {
            tls: self.clone(),
            host: host.to_owned(),
        })
    }
}

/// One handshake with the server at `host`.
pub struct Handshake {
    tls: Tls,
    host: String,
}

impl<S> TlsConnect<S> for Handshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = HandshakeError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsStream<S>, HandshakeError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            if let Some(started) = &self.tls.started {
                started.store(true, Ordering::SeqCst);
            }
            let shared = &self.tls.shared;
            let name = match ServerName::try_from(self.host.clone()) {
                Ok(name) => name,
                // Only verify-full needs the name itself; the others send no SNI for it.
                Err(_) if shared.check != Check::ChainAndHost => {
                    ServerName::try_from("unnamed.invalid").expect("a valid DNS name")
                }
                Err(_) => {
                    return Err(HandshakeError(format!(
                        "host {:?} is neither a DNS name nor an IP address, so \
                         sslmode=verify-full cannot check the certificate against it",
                        self.host
                    )));
                }
            };
            tokio_rustls::TlsConnector::from(shared.config.clone())
                .connect(name, stream)
                .await
                .map(TlsStream)
                .map_err(|error| HandshakeError::new(&error, shared, &self.host))
        })
    }
}

/// A refused TLS handshake, saying which check failed.
#[derive(Debug)]
pub struct HandshakeError(String);

impl HandshakeError {
    fn new(error: &io::Error, shared: &Shared, host: &str) -> Self {
        let rustls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let mode = shared.mode.name();
        let roots = &shared.roots;
        let text = match rustls {
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => format!(
                "the server's certificate is not issued for host name \"{host}\" \
                 (sslmode={mode} checks the host name): {error}"
            ),
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => format!(
                "the server's certificate is not signed by a trusted root (sslmode={mode}, \
                 roots: {roots}): {error}"
            ),
            Some(rustls::Error::InvalidCertificate(_)) => format!(
                "the server's certificate is not accepted (sslmode={mode}, roots: {roots}): \
                 {error}"
            ),
            _ => format!("TLS handshake failed (sslmode={mode}): {error}"),
        };
        HandshakeError(text)
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandshakeError {}

/// An established TLS connection to the server.
pub struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, connection) = self.0.get_ref();
        connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|certificate| server_end_point(certificate))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// RFC 5929's `tls-server-end-point`: the hash of the server's certificate, with the hash
/// of its signature algorithm (SHA-256 for MD5 and SHA-1). `None` for algorithms without
/// one (Ed25519, RSA-PSS), as PostgreSQL itself offers no binding for them.
fn server_end_point(certificate: &[u8]) -> Option<Vec<u8>> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE
    // { algorithm OBJECT IDENTIFIER, ... }, ... }
    let (contents, _) = der(certificate, 0x30)?;
    let (_, rest) = der(contents, 0x30)?;
    let (algorithm, _) = der(rest, 0x30)?;
    let (oid, _) = der(algorithm, 0x06)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    let hash = match oid {
        [rsa @ .., last] if rsa == RSA => match last {
            0x04 | 0x05 | 0x0b => 256, // md5, sha1, sha256 WithRSAEncryption
            0x0c => 384,
            0x0d => 512,
            _ => return None,
        },
        [ecdsa @ .., 0x01] if ecdsa == ECDSA => 256, // ecdsa-with-SHA1
        [ecdsa @ .., 0x03, last] if ecdsa == ECDSA => match last {
            0x02 => 256,
            0x03 => 384,
            0x04 => 512,
            _ => return None,
        },
        _ => return None,
    };
    Some(match hash {
        256 => sha2::Sha256::digest(certificate).to_vec(),
        384 => sha2::Sha384::digest(certificate).to_vec(),
        _ => sha2::Sha512::digest(certificate).to_vec(),
    })
}

/// One DER element with tag `tag` at the start of `input`: its contents and what follows.
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, input) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&length, mut input) = input.split_first()?;
    let length = if length < 0x80 {
        usize::from(length)
    } else {
        let bytes = usize::from(length & 0x7f);
        if bytes == 0 || bytes > 4 || input.len() < bytes {
            return None;
        }
        let (number, rest) = input.split_at(bytes);
        input = rest;
        number
            .iter()
            .fold(0usize, |total, &byte| (total << 8) | usize::from(byte))
    };
    (input.len() >= length).then(|| input.split_at(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate's outline: an empty `tbsCertificate` and the algorithm `oid`, the
    /// outer sequence with a long-form length when `long` is set.
    fn outline(oid: &[u8], long: bool) -> Vec<u8> {
        let mut algorithm = vec![0x06, oid.len() as u8];
        algorithm.extend_from_slice(oid);
        let mut inner = vec![0x30, 0x00, 0x30, algorithm.len() as u8];
        inner.extend_from_slice(&algorithm);
        let mut certificate = match long {
            true => vec![0x30, 0x81, inner.len() as u8],
            false => vec![0x30, inner.len() as u8],
        };
        certificate.extend_from_slice(&inner);
        certificate
    }

    #[test]
    fn the_end_point_hash_follows_the_signature_algorithm() {
        let cases: [(&[u8], Option<usize>); 5] = [
            // sha256WithRSAEncryption, sha384WithRSAEncryption, sha1WithRSAEncryption
            (
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
                Some(32),
            ),
            (
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
                Some(48),
            ),
            (
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
                Some(32),
            ),
            // ecdsa-with-SHA512
            (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04], Some(64)),
            // Ed25519: no hash of its own, so no binding
            (&[0x2b, 0x65, 0x70], None),
        ];
        for (oid, length) in cases {
            for long in [false, true] {
                let certificate = outline(oid, long);
                let hash = server_end_point(&certificate);
                assert_eq!(hash.as_ref().map(Vec::len), length, "{oid:02x?}");
                if let Some(hash) = hash.filter(|hash| hash.len() == 32) {
                    assert_eq!(hash, sha2::Sha256::digest(&certificate).to_vec());
                }
            }
        }
        assert_eq!(server_end_point(&[0x30, 0x05, 0x30]), None, "truncated");
    }
}
