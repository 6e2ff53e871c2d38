//! A database host that vanishes without closing its connections (power loss, a network
//! partition): rowpipe's connections go through [`Proxy`], which stops answering
//! anything. TCP keepalives and `tcp_user_timeout` must fail the running download within
//! their bound, the check of an idle pooled connection must give up within
//! `recycle_timeout`, and service must come back once the host is reachable again.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use crate::failure::ENDLESS;
use crate::harness::http::{self, Download};
use crate::harness::proxy::Proxy;
use crate::harness::{TestDb, TestServer, tcp_cluster};

/// A database on the TCP cluster with a 1,000-row table `small`, a proxy in front of the
/// cluster, and the URL that goes through it.
fn database_behind_proxy(prefix: &str) -> (TestDb, Proxy, String) {
    let cluster = tcp_cluster();
    let db = cluster.create_database(prefix);
    db.execute("CREATE TABLE small AS SELECT g AS id FROM generate_series(1, 1000) g");
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], cluster.tcp_port())));
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/{}",
        proxy.addr().port(),
        db.name()
    );
    (db, proxy, url)
}

fn config(database: &str) -> String {
    format!(
        "[database]\n{database}\n\
         [[dataset]]\nname = \"endless\"\nsql = \"{ENDLESS}\"\n\
         [[dataset]]\nname = \"small\"\ntable = \"small\"\n"
    )
}

/// Fails the test unless `small.csv` downloads completely.
#[track_caller]
fn assert_small_downloads(server: &TestServer, context: &str) {
    let response = http::get(server.addr(), "/datasets/small.csv");
    assert_eq!(response.status, 200, "{context}: {}", response.text());
    assert!(response.complete, "{context}: the download is complete");
    assert_eq!(response.text().lines().count(), 1001, "{context}");
}

/// Keepalive probes after 1 s of silence, given up after 3 s unanswered: the download
/// fails a few seconds after the host vanished, not when the kernel's defaults (two hours
/// of silence) would notice. Later downloads succeed once the host is back.
#[test]
fn a_download_from_a_vanished_host_fails_within_the_keepalive_bound() {
    let (_db, proxy, url) = database_behind_proxy("dead_stream");
    let server = TestServer::start(
        &url,
        &config(
            "keepalives_idle = \"1s\"\nkeepalives_interval = \"1s\"\nkeepalives_count = 2\n\
             tcp_user_timeout = \"3s\"\nconnect_timeout = \"2s\"\nrecycle_timeout = \"1s\"",
        ),
    );
    assert_small_downloads(&server, "before");

    let mut download = Download::start(server.addr(), "/datasets/endless.csv");
    assert_eq!(download.status(), 200);
    download.read_body_bytes(1024 * 1024);
    // The client keeps reading, so that everything already sent can be acknowledged.
    let reader = thread::spawn(move || {
        let response = download.finish();
        (response, Instant::now())
    });
    proxy.blackhole();
    let vanished = Instant::now();
    let (response, ended) = reader.join().expect("the reading thread");
    let took = ended.saturating_duration_since(vanished);
    eprintln!("the download failed {took:?} after the host vanished");
    assert!(
        !response.complete,
        "the download must fail visibly, not end like a complete file"
    );
    assert!(
        took < Duration::from_secs(15),
        "the download failed only after {took:?} (bound: tcp_user_timeout 3s)"
    );
    // While the host is away, readiness says so quickly.
    let started = Instant::now();
    assert_eq!(http::get(server.addr(), "/readyz").status, 503);
    assert!(started.elapsed() < Duration::from_secs(10));

    proxy.restore();
    assert_small_downloads(&server, "after the host came back");
    assert_eq!(http::get(server.addr(), "/readyz").status, 200);
}

/// An idle pooled connection to a vanished host: its check before reuse would wait for
/// TCP to give up (with `tcp_user_timeout` off, about 15 minutes of retransmissions);
/// `recycle_timeout` gives up on it after 1 s, and the request gets a quick 503 instead of
/// hanging. Once the host is back, the pool opens new connections.
#[test]
fn an_idle_pooled_connection_to_a_vanished_host_is_given_up_within_recycle_timeout() {
    let (_db, proxy, url) = database_behind_proxy("dead_idle");
    let server = TestServer::start(
        &url,
        &config(
            "keepalives_idle = \"1h\"\ntcp_user_timeout = \"0s\"\nrecycle_timeout = \"1s\"\n\
             connect_timeout = \"2s\"",
        ),
    );
    assert_small_downloads(&server, "before");
    proxy.blackhole();
    let started = Instant::now();
    let response = http::get(server.addr(), "/datasets/small.csv");
    let took = started.elapsed();
    eprintln!("answered {} after {took:?}", response.status);
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(
        took < Duration::from_secs(10),
        "answered only after {took:?} (bound: recycle_timeout 1s + connect_timeout 2s)"
    );
    proxy.restore();
    assert_small_downloads(&server, "after the host came back");
}
