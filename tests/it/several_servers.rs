//! Two `rowpipe serve` processes with one config, behind a real nginx with the README's
//! settings for several servers: downloads are spread over both and come out whole; a
//! server killed mid-download breaks its clients' downloads visibly (curl exits 18, a
//! chunked body lacks its last chunk), and the next downloads go to the one left.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::http::{self, Download};
use crate::harness::nginx::Nginx;
use crate::harness::{ServeProcess, assert_bytes_eq, curl, numbers_db, poll_until, wait_for_exit};

/// The config both servers run with: room for 12 downloads each (20 at once need more
/// than the default 8 of one, which answers the rest 503); `long` is large enough (about
/// 60 MB) that a download is still running on the server while its client has stopped
/// reading.
const SHARED_CONFIG: &str = r#"
    [database]
    pool_size = 12

    [[dataset]]
    name = "numbers"
    table = "numbers"

    [[dataset]]
    name = "long"
    sql = "SELECT i, repeat('x', 200) AS filler FROM generate_series(1, 300000) AS i"
"#;

const ALL_NUMBERS: &str = "SELECT * FROM numbers";
const LONG: &str = "SELECT i, repeat('x', 200) AS filler FROM generate_series(1, 300000) AS i";

/// The server's `rowpipe_active_downloads`, asked of it directly (not through nginx).
fn active_downloads(server: SocketAddr) -> u64 {
    let metrics = http::get(server, "/metrics");
    metrics
        .text()
        .lines()
        .find_map(|line| line.strip_prefix("rowpipe_active_downloads "))
        .and_then(|value| value.trim().parse().ok())
        .expect("rowpipe_active_downloads in /metrics")
}

/// The server's count of downloads that ended as `outcome`, summed over datasets and
/// formats.
fn ended_downloads(server: SocketAddr, outcome: &str) -> u64 {
    let label = format!("outcome=\"{outcome}\"");
    http::get(server, "/metrics")
        .text()
        .lines()
        .filter(|line| line.starts_with("rowpipe_downloads_total{") && line.contains(&label))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn two_servers_behind_nginx_share_downloads_and_survive_one_dying() {
    let db = numbers_db("several_servers", 60_000);
    let first = ServeProcess::start_with_config(db.url(), SHARED_CONFIG);
    let second = ServeProcess::start_with_config(db.url(), SHARED_CONFIG);
    let nginx = Nginx::balancing(&[first.addr(), second.addr()]);
    let numbers = format!("http://{}/datasets/numbers.csv", nginx.addr());
    let whole = db.copy_csv(ALL_NUMBERS);

    // 20 at once, through nginx: every one whole, and both servers took a share.
    let downloads: Vec<_> = (0..20)
        .map(|_| {
            let numbers = numbers.clone();
            std::thread::spawn(move || curl(&["--fail", &numbers]))
        })
        .collect();
    for download in downloads {
        assert_whole(&download.join().expect("a download thread"), &whole, &nginx);
    }
    for server in [&first, &second] {
        let served = ended_downloads(server.addr(), "ok");
        assert!(served > 0, "{} served none of the 20", server.addr());
    }

    // Clients that stopped reading hold downloads open on the servers; open them until
    // the first server holds at least one (round robin puts every other one there).
    let mut held = Vec::new();
    let mut on_first = 0;
    let reached = poll_until(Duration::from_secs(20), || {
        held.push(Download::start(nginx.addr(), "/datasets/long.csv"));
        on_first = active_downloads(first.addr());
        on_first > 0
    });
    assert!(reached.is_some(), "no download reached the first server");
    // And a slow curl there: curls until one's download is on the first server.
    let dir = tempfile::tempdir().unwrap();
    let long_url = format!("http://{}/datasets/long.csv", nginx.addr());
    let mut curls = Vec::new();
    loop {
        let (on_first_before, total_before) =
            (on_first, on_first + active_downloads(second.addr()));
        let saved = dir.path().join(format!("long{}.csv", curls.len()));
        let child = Command::new("curl")
            .args(["--silent", "--limit-rate", "1M", "-o"])
            .arg(&saved)
            .arg(&long_url)
            .stdin(Stdio::null())
            .spawn()
            .expect("run curl (Debian's curl package)");
        curls.push((child, saved));
        let started = poll_until(Duration::from_secs(10), || {
            on_first = active_downloads(first.addr());
            on_first + active_downloads(second.addr()) > total_before
        });
        assert!(started.is_some(), "curl's download did not start");
        if on_first > on_first_before {
            break;
        }
        assert!(curls.len() < 4, "no curl download reached the first server");
    }

    first.signal("KILL");

    // The last curl's download was on the first server: broken off, exit status 18, its
    // file the export's beginning. The others' are on the second server, and stopped.
    let (mut slow, saved) = curls.pop().expect("a curl on the first server");
    let status = wait_for_exit(&mut slow, Duration::from_secs(30), "curl");
    assert_eq!(status.code(), Some(18), "{}", nginx.error_log());
    let partial = std::fs::read(&saved).unwrap();
    let long = db.copy_csv(LONG);
    assert!(partial.len() < long.len());
    assert_bytes_eq(&partial, &long[..partial.len()]);
    for (mut other, _) in curls {
        let _ = other.kill();
        let _ = other.wait();
    }

    // The held clients of the first server see the download broken off (no terminating
    // chunk); the others' go on to the end. Either way what arrived is the export's
    // beginning. The first server's downloads, the curl's counted.
    let mut broken = 1;
    for download in held {
        assert_eq!(download.status(), 200);
        let response = download.finish();
        if response.complete {
            assert_bytes_eq(&response.body, &long);
        } else {
            broken += 1;
            assert!(response.body.len() < long.len());
            assert_bytes_eq(&response.body, &long[..response.body.len()]);
        }
    }
    let log = nginx.error_log();
    assert_eq!(broken, on_first, "{log}");
    assert!(
        log.contains("upstream prematurely closed connection"),
        "{log}"
    );

    // New downloads go to the server that is left, whole.
    for _ in 0..4 {
        assert_whole(&curl(&["--fail", &numbers]), &whole, &nginx);
    }
}

/// A curl download through `nginx` that succeeded with the `whole` export.
#[track_caller]
fn assert_whole(output: &std::process::Output, whole: &[u8], nginx: &Nginx) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        nginx.error_log()
    );
    assert_bytes_eq(&output.stdout, whole);
}
