//! HTTPS served by rowpipe itself (`[server] tls_cert`, `tls_key`), fetched with curl
//! against a test CA: the same bytes as over HTTP, a client that does not trust the
//! certificate refused, a broken download still visibly broken, and certificates that
//! cannot be used refused at start-up.

use crate::harness::certs::Certs;
use crate::harness::{ServeProcess, TestDb, assert_bytes_eq, cluster, curl, rowpipe, run};

/// A query that fails on row 150,000, long after the first bytes went out.
const FAILING_LATE: &str = "SELECT n, 1 / (150000 - n) AS x, repeat('y', 50) AS filler FROM generate_series(1, 200000) AS n";

fn database() -> TestDb {
    let db = cluster().create_database("https");
    db.execute(
        "CREATE TABLE orders (id int8 PRIMARY KEY, item text);
         INSERT INTO orders SELECT n, 'item ' || n FROM generate_series(1, 20000) AS n;",
    );
    db
}

fn config(certs: &Certs) -> String {
    format!(
        "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n\
         [[dataset]]\nname = \"orders\"\ntable = \"orders\"\n\n\
         [[dataset]]\nname = \"late\"\nsql = \"{FAILING_LATE}\"\n",
        certs.server_cert.display(),
        certs.server_key.display()
    )
}

/// curl `path` over HTTPS from the server, trusting `ca` (the certificate is for
/// `localhost`, so the name is resolved to the server's address).
fn fetch(server: &ServeProcess, path: &str, ca: Option<&std::path::Path>) -> std::process::Output {
    let port = server.addr().port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}{path}");
    let mut args = vec!["--resolve", &resolve];
    let ca = ca.map(|ca| ca.to_str().expect("a UTF-8 path").to_owned());
    if let Some(ca) = &ca {
        args.extend(["--cacert", ca.as_str()]);
    }
    args.push(&url);
    curl(&args)
}

#[test]
fn downloads_over_https_are_the_same_bytes_and_failures_stay_visible() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path()).expect("test certificates");
    let db = database();
    let server = ServeProcess::start_with_config(db.url(), &config(&certs));

    let output = fetch(&server, "/datasets/orders.csv", Some(&certs.ca_cert));
    assert!(output.status.success(), "{output:?}");
    assert_bytes_eq(
        &output.stdout,
        db.copy_csv("SELECT * FROM orders ORDER BY id"),
    );
    assert!(
        server.log().contains("serving on https://"),
        "{}",
        server.log()
    );

    // A client that does not trust the certificate: curl's "peer certificate cannot be
    // authenticated" (60), and no data.
    let untrusted = fetch(&server, "/datasets/orders.csv", Some(&certs.other_ca_cert));
    assert_eq!(untrusted.status.code(), Some(60), "{untrusted:?}");
    assert!(untrusted.stdout.is_empty());

    // Plain HTTP to the HTTPS port gets no answer that could pass for data.
    let plain = curl(&[&format!("http://{}/datasets/orders.csv", server.addr())]);
    assert!(!plain.status.success(), "{plain:?}");
    assert!(plain.stdout.is_empty());

    // A download that breaks after its first bytes: curl sees a broken transfer, never a
    // clean end (18: partial file; 56: the TLS stream ended without its close).
    let late = fetch(&server, "/datasets/late.csv", Some(&certs.ca_cert));
    assert!(
        matches!(late.status.code(), Some(18 | 56)),
        "a broken HTTPS download must fail: {late:?}"
    );
    assert!(!late.stdout.is_empty(), "the first rows were sent");
}

#[test]
fn unusable_certificates_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path()).expect("test certificates");
    let db = database();
    let config_with = |name: &str, cert: &str, key: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!("[server]\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n"),
        )
        .unwrap();
        path
    };
    let cert = certs.server_cert.display().to_string();
    let key = certs.server_key.display().to_string();
    let other_key = certs.client_key.display().to_string();
    for (config, expected) in [
        (
            config_with("no-cert", "/nonexistent/cert.pem", &key),
            "server.tls_cert",
        ),
        (
            config_with("no-key", &cert, "/nonexistent/key.pem"),
            "server.tls_key",
        ),
        (
            config_with("wrong-key", &cert, &other_key),
            "do not make a server certificate",
        ),
        (
            config_with("key-as-cert", &key, &key),
            "holds no PEM certificate",
        ),
    ] {
        let output = run(rowpipe().args([
            "serve",
            "--database",
            db.url(),
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{expected}: {stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    let half = dir.path().join("half.toml");
    std::fs::write(&half, format!("[server]\ntls_cert = \"{cert}\"\n")).unwrap();
    let output = run(rowpipe().args([
        "serve",
        "--database",
        db.url(),
        "--config",
        half.to_str().unwrap(),
    ]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("server.tls_key"));
}
