//! `[database] replicas`: downloads spread over healthy read replicas in turn; a replica
//! that stops is skipped (the primary takes over, or with `fallback = "fail"` nobody
//! does) and used again once it is back; one whose replay falls further behind than
//! `max_lag` is skipped until it catches up; `/readyz` reports each one's lag.
//!
//! These tests stop, start and pause standbys, so they use a primary and two standbys of
//! their own (see `harness::standby`) rather than the shared ones.

use std::time::Duration;

use serde_json::Value;

use crate::harness::cluster::ClusterOptions;
use crate::harness::http::get;
use crate::harness::standby::Standby;
use crate::harness::{Cluster, TestDb, TestServer, poll_until};

/// How long a test waits for the server to notice a replica's change.
const NOTICE: Duration = Duration::from_secs(20);

/// Which cluster answered: its socket directory.
const WHERE: &str = "[[dataset]]\nname = \"where\"\n\
    sql = \"SELECT pg_catalog.current_setting('unix_socket_directories') AS socket\"\n";

/// A server for `primary`'s database `db` with `replicas` (their copies of `db`) and
/// `settings` (more `[database]` keys).
fn server(primary: &TestDb, replicas: &[&Standby], settings: &str) -> TestServer {
    let urls: Vec<String> = replicas
        .iter()
        .map(|standby| format!("{:?}", standby.database(primary.name()).url()))
        .collect();
    let config = format!(
        "[database]\nreplicas = [{}]\nreplica_check_interval = \"100ms\"\n{settings}\n{WHERE}",
        urls.join(", ")
    );
    TestServer::start(primary.url(), &config)
}

/// The socket directory of the cluster that served one download of `where`, or the
/// error body.
fn served_by(server: &TestServer) -> Result<String, String> {
    let response = get(server.addr(), "/datasets/where.csv?header=false");
    match response.status {
        200 => Ok(response.text().trim_end().to_owned()),
        _ => Err(response.text().to_owned()),
    }
}

/// Which clusters served `count` downloads in a row.
fn served(server: &TestServer, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| served_by(server).unwrap_or_else(|error| panic!("{error}")))
        .collect()
}

fn socket(cluster: &Cluster) -> String {
    cluster.socket_dir().display().to_string()
}

/// `/readyz`'s `replicas`, once it answers 200.
fn replicas(server: &TestServer) -> Vec<Value> {
    let ready = get(server.addr(), "/readyz");
    assert_eq!(ready.status, 200, "{}", ready.text());
    ready.json()["replicas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until downloads come from `cluster` (`count` in a row).
#[track_caller]
fn wait_for(server: &TestServer, cluster: &Cluster, count: usize, what: &str) {
    let wanted = socket(cluster);
    let found = poll_until(NOTICE, || {
        (0..count).all(|_| served_by(server).as_ref() == Ok(&wanted))
    });
    assert!(
        found.is_some(),
        "downloads never came from {what} ({wanted})"
    );
}

#[test]
fn downloads_follow_the_healthy_replicas() {
    // No autovacuum: nothing but the test writes on the primary, so the standbys never
    // look behind unless the test makes them.
    let primary = Cluster::start_with(&ClusterOptions {
        setup_sql: Some("ALTER SYSTEM SET autovacuum = off; SELECT pg_reload_conf();".into()),
        ..ClusterOptions::default()
    });
    let steady = Standby::of(&primary).unwrap_or_else(|problem| panic!("{problem}"));
    let moody = Standby::of(&primary).unwrap_or_else(|problem| panic!("{problem}"));
    let db = primary.create_database("replicas_turns");
    steady.catch_up_with(&primary);
    moody.catch_up_with(&primary);

    // Both healthy: downloads take turns, never the primary.
    let both = server(&db, &[&steady, &moody], "");
    let turns = served(&both, 4);
    for standby in [&steady, &moody] {
        assert!(turns.contains(&socket(standby.cluster())), "{turns:?}");
    }
    let states = replicas(&both);
    assert_eq!(states.len(), 2);
    for state in &states {
        assert_eq!(state["healthy"], true, "{state}");
        assert_eq!(state["lag_seconds"], 0.0, "{state}");
        assert!(
            state["name"].as_str().unwrap().starts_with("postgres://"),
            "{state}"
        );
    }

    // One stops: skipped. The other takes every download.
    let alone = server(&db, &[&moody], "");
    let failing = server(&db, &[&moody], "fallback = \"fail\"");
    moody.stop();
    wait_for(&both, steady.cluster(), 6, "the replica still up");
    let states = replicas(&both);
    assert_eq!(states[1]["healthy"], false, "{states:?}");
    assert!(states[1]["problem"].is_string(), "{states:?}");
    // With no replica left: the primary, or nobody.
    wait_for(&alone, &primary, 3, "the primary");
    let refused = poll_until(NOTICE, || {
        served_by(&failing).is_err_and(|error| error.contains("fallback"))
    });
    assert!(refused.is_some(), "fallback = \"fail\" still served");
    let refused = get(failing.addr(), "/datasets/where.csv");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "database_unavailable");
    assert_eq!(get(failing.addr(), "/readyz").status, 503);

    // Back: used again.
    moody.start().unwrap_or_else(|problem| panic!("{problem}"));
    wait_for(&alone, moody.cluster(), 3, "the replica back");
    wait_for(&failing, moody.cluster(), 3, "the replica back");
    // Each server finds it back on its own next check: wait for this one's too.
    wait_for(&both, moody.cluster(), 1, "the replica back");

    // Behind: its replay paused while the primary writes, it falls behind max_lag and is
    // skipped; resumed, it catches up and is used again.
    let strict = server(&db, &[&moody], "max_lag = \"1s\"");
    wait_for(&strict, moody.cluster(), 1, "the caught-up replica");
    let standby = moody.database("postgres");
    standby.query_scalar("SELECT pg_wal_replay_pause()");
    db.execute("CREATE TABLE written (id int); INSERT INTO written VALUES (1);");
    wait_for(
        &strict,
        &primary,
        3,
        "the primary, while the replica is behind",
    );
    let states = replicas(&strict);
    assert!(
        states[0]["lag_seconds"].as_f64().unwrap() > 1.0,
        "{states:?}"
    );
    assert!(
        states[0]["problem"].as_str().unwrap().contains("behind"),
        "{states:?}"
    );
    standby.query_scalar("SELECT pg_wal_replay_resume()");
    wait_for(&strict, moody.cluster(), 3, "the replica caught up again");
}
