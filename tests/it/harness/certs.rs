//! Certificates for the TLS tests, made with the `openssl` command (Debian's `openssl`
//! package; `.ci/run` installs it).
//!
//! [`Certs::make`] writes, into a directory of its own:
//! * a test CA (`ca.crt`), which signs a server certificate for `localhost` (DNS name only,
//!   so `127.0.0.1` is the wrong host name) and a client certificate for role `certuser`;
//! * an unrelated CA (`other-ca.crt`) that signed nothing the server shows: the wrong CA.
//!
//! ECDSA P-256 keys, so making them takes milliseconds. A failing `openssl` is a hard
//! failure with its output, never a skipped test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files [`Certs::make`] wrote.
#[derive(Debug, Clone)]
pub struct Certs {
    pub ca_cert: PathBuf,
    pub other_ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// For role `certuser` (`CN=certuser`), signed by the test CA.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// The role the client certificate is for.
pub const CERT_USER: &str = "certuser";

impl Certs {
    /// Makes the CAs and certificates in `dir` (created if missing).
    pub fn make(dir: &Path) -> Result<Certs, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = |name: &str| dir.join(name);
        let certs = Certs {
            ca_cert: path("ca.crt"),
            other_ca_cert: path("other-ca.crt"),
            server_cert: path("server.crt"),
            server_key: path("server.key"),
            client_cert: path("client.crt"),
            client_key: path("client.key"),
        };
        make_ca(dir, "ca", "rowpipe test CA")?;
        make_ca(dir, "other-ca", "some other CA")?;
        make_signed(
            dir,
            "server",
            "localhost",
            "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )?;
        make_signed(dir, "client", CERT_USER, "extendedKeyUsage=clientAuth\n")?;
        Ok(certs)
    }
}

fn make_ca(dir: &Path, name: &str, subject: &str) -> Result<(), String> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "30",
            "-subj",
            &format!("/CN={subject}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
}

/// A key and a certificate for `common_name` signed by `ca`, with `extensions`.
fn make_signed(dir: &Path, name: &str, common_name: &str, extensions: &str) -> Result<(), String> {
    let extensions_file = dir.join(format!("{name}.ext"));
    fs::write(
        &extensions_file,
        format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}"),
    )
    .map_err(|e| format!("cannot write {}: {e}", extensions_file.display()))?;
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={common_name}"),
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
    )
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir);
    let output = cmd.output().map_err(|e| {
        format!("cannot run {cmd:?}: {e} (the TLS tests need the openssl command: apt-get install openssl)")
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
