//! TLS to PostgreSQL: every `sslmode` against a cluster with `ssl = on` and certificates
//! made for the test, and against one without TLS. Whether a connection is encrypted is
//! read from `pg_stat_ssl` by the export itself, for its own backend.

use std::process::Output;
use std::time::Duration;

use crate::harness::certs::CERT_USER;
use crate::harness::cluster::SCRAM_PASSWORD;
use crate::harness::http::{self, Unanswered};
use crate::harness::{Cluster, TestServer, poll_until, rowpipe, run, tcp_cluster, tls_cluster};

/// What the export's own backend says of its connection.
const SSL_QUERY: &str = "SELECT ssl, coalesce(client_dn, '') AS client_dn \
                         FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

const ENCRYPTED: &str = "ssl,client_dn\nt,\"\"\n";
const PLAIN: &str = "ssl,client_dn\nf,\"\"\n";

/// `rowpipe export --database URL --sql SSL_QUERY`.
fn export_ssl(url: &str) -> Output {
    run(rowpipe().args(["export", "--quiet", "--database", url, "--sql", SSL_QUERY]))
}

/// What [`export_ssl`] printed; fails the test unless it succeeded.
#[track_caller]
fn connection_of(url: &str) -> String {
    let output = export_ssl(url);
    assert!(
        output.status.success(),
        "export over {url} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 CSV")
}

/// The export's message; fails the test unless it failed with status 1 and said
/// `expected`.
#[track_caller]
fn refusal_of(url: &str, expected: &str) -> String {
    let output = export_ssl(url);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "export over {url} should fail; stdout {:?}, stderr {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.contains(expected),
        "export over {url}: expected {expected:?} in: {stderr}"
    );
    stderr
}

fn root(path: &std::path::Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// `sslrootcert=` the test CA, URL-encoded.
fn right_ca(cluster: &Cluster) -> String {
    format!("sslrootcert={}", encode(&root(&cluster.certs().ca_cert)))
}

fn wrong_ca(cluster: &Cluster) -> String {
    format!(
        "sslrootcert={}",
        encode(&root(&cluster.certs().other_ca_cert))
    )
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `/readyz` of a server on `url` says not ready (the database "does not answer").
#[track_caller]
fn assert_not_ready(url: &str) {
    let server = TestServer::start(url, "");
    let response = http::get(server.addr(), "/readyz");
    assert_eq!(response.status, 503, "{}", response.text());
}

#[test]
fn verify_full_connects_with_the_right_ca_and_host_name_in_both_forms() {
    let cluster = tls_cluster();
    let url = cluster.tcp_url(
        "postgres",
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&{}", right_ca(cluster)),
    );
    assert_eq!(connection_of(&url), ENCRYPTED);
    let key_value = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full \
         sslrootcert='{}'",
        cluster.tcp_port(),
        root(&cluster.certs().ca_cert)
    );
    assert_eq!(connection_of(&key_value), ENCRYPTED);
    let server = TestServer::start(&url, "");
    assert_eq!(http::get(server.addr(), "/readyz").status, 200);
}

#[test]
fn verify_full_refuses_a_certificate_from_another_ca() {
    let cluster = tls_cluster();
    let url = cluster.tcp_url(
        "postgres",
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&{}", wrong_ca(cluster)),
    );
    let message = refusal_of(
        &url,
        "the server's certificate is not signed by a trusted root",
    );
    assert!(
        message.contains("other-ca.crt"),
        "names the roots: {message}"
    );
    assert_not_ready(&url);
    // verify-ca checks the chain just the same.
    let url = url.replace("verify-full", "verify-ca");
    refusal_of(&url, "not signed by a trusted root");
}

#[test]
fn verify_full_refuses_a_certificate_for_another_host_name_and_verify_ca_does_not() {
    let cluster = tls_cluster();
    // The certificate names `localhost` only.
    let url = cluster.tcp_url(
        "postgres",
        "127.0.0.1",
        "postgres",
        &format!("sslmode=verify-full&{}", right_ca(cluster)),
    );
    refusal_of(
        &url,
        "the server's certificate is not issued for host name \"127.0.0.1\"",
    );
    assert_not_ready(&url);
    assert_eq!(
        connection_of(&url.replace("verify-full", "verify-ca")),
        ENCRYPTED
    );
}

#[test]
fn require_encrypts_without_checking_unless_given_a_root() {
    let cluster = tls_cluster();
    // No root: any certificate, any host name.
    let url = cluster.tcp_url("postgres", "127.0.0.1", "postgres", "sslmode=require");
    assert_eq!(connection_of(&url), ENCRYPTED);
    // Only an address, no host name: TLS all the same.
    let address_only = format!(
        "postgresql://postgres@/postgres?hostaddr=127.0.0.1&port={}&sslmode=require",
        cluster.tcp_port()
    );
    assert_eq!(connection_of(&address_only), ENCRYPTED);
    // With a root, libpq checks the chain (as verify-ca).
    let with_root = format!("{url}&{}", wrong_ca(cluster));
    refusal_of(&with_root, "not signed by a trusted root");
    // A server without TLS is refused.
    let plain = tcp_cluster().tcp_url("postgres", "127.0.0.1", "postgres", "sslmode=require");
    refusal_of(&plain, "server does not support TLS");
}

#[test]
fn prefer_uses_tls_when_offered_and_falls_back_as_libpq_does() {
    let cluster = tls_cluster();
    for params in ["sslmode=prefer", ""] {
        let url = cluster.tcp_url("postgres", "localhost", "postgres", params);
        assert_eq!(connection_of(&url), ENCRYPTED, "{url}");
        // A server without TLS: plain text.
        let plain = tcp_cluster().tcp_url("postgres", "localhost", "postgres", params);
        assert_eq!(connection_of(&plain), PLAIN, "{plain}");
    }
    // A handshake that fails (here: a root that did not sign the server's certificate)
    // is retried in plain text.
    let url = cluster.tcp_url(
        "postgres",
        "localhost",
        "postgres",
        &format!("sslmode=prefer&{}", wrong_ca(cluster)),
    );
    assert_eq!(connection_of(&url), PLAIN);
}

#[test]
fn disable_is_clear_text() {
    let url = tls_cluster().tcp_url("postgres", "localhost", "postgres", "sslmode=disable");
    assert_eq!(connection_of(&url), PLAIN);
}

#[test]
fn a_client_certificate_logs_in_where_pg_hba_demands_one() {
    let cluster = tls_cluster();
    let certs = cluster.certs();
    let with_certificate = format!(
        "host=localhost port={} user={CERT_USER} dbname=postgres sslmode=verify-full \
         sslrootcert={} sslcert={} sslkey={}",
        cluster.tcp_port(),
        root(&certs.ca_cert),
        root(&certs.client_cert),
        root(&certs.client_key),
    );
    assert_eq!(
        connection_of(&with_certificate),
        format!("ssl,client_dn\nt,/CN={CERT_USER}\n")
    );
    let without = cluster.tcp_url(
        CERT_USER,
        "localhost",
        "postgres",
        &format!("sslmode=verify-full&{}", right_ca(cluster)),
    );
    refusal_of(&without, "certificate");
}

/// SCRAM over TLS binds the login to the server's certificate (`tls-server-end-point`):
/// with `channel_binding=require` the server checks the hash the stream offers.
#[test]
fn scram_binds_to_the_tls_channel() {
    let cluster = tls_cluster();
    let url = cluster
        .tcp_url(
            "scramuser",
            "localhost",
            "postgres",
            &format!(
                "sslmode=verify-full&{}&channel_binding=require",
                right_ca(cluster)
            ),
        )
        .replace("scramuser@", &format!("scramuser:{SCRAM_PASSWORD}@"));
    assert_eq!(connection_of(&url), ENCRYPTED);
}

/// The cancel request of an abandoned download goes over TLS too (under `verify-full`
/// tokio-postgres sends it only over TLS): a sleeping query, which closing the connection
/// alone would leave running, is gone at once.
#[test]
fn a_dropped_download_is_cancelled_over_tls() {
    let cluster = tls_cluster();
    let db = cluster.create_database("tls_cancel");
    let url = cluster.tcp_url(
        "postgres",
        "localhost",
        db.name(),
        &format!("sslmode=verify-full&{}", right_ca(cluster)),
    );
    let server = TestServer::start(
        &url,
        "[[dataset]]\nname = \"silent\"\nsql = \"SELECT pg_sleep(60) AS slept\"\n",
    );
    let request = Unanswered::send(server.addr(), "/datasets/silent.csv");
    let sleeping = "state = 'active' AND wait_event = 'PgSleep'";
    poll_until(Duration::from_secs(10), || db.count_backends(sleeping) == 1)
        .expect("the query sleeps");
    assert_eq!(
        db.count_backends(&format!(
            "{sleeping} AND pid IN (SELECT pid FROM pg_stat_ssl WHERE ssl)"
        )),
        1,
        "the download's connection is encrypted"
    );
    request.disconnect();
    let gone = poll_until(Duration::from_secs(2), || db.count_backends(sleeping) == 0);
    assert!(
        gone.is_some(),
        "the query still sleeps 2 s after the client left"
    );
}
