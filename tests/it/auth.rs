//! Bearer tokens against the real server: no token or a wrong one is a 401 with
//! `WWW-Authenticate: Bearer`, a token without access to a dataset a 403, the listing and
//! the API description show only what the token may read, `/livez` and `/readyz` stay
//! open, `/metrics` does not; tokens in odd places do not count, and no token reaches the
//! log. The tokens come from `rowpipe token new`, as an operator makes them.

use crate::harness::http;
use crate::harness::{ServeProcess, TestDb, cluster, rowpipe, run_ok};

/// A token from `rowpipe token new --name NAME`, and the config entry it printed.
fn new_token(name: &str) -> (String, String) {
    let output = run_ok(rowpipe().args(["token", "new", "--name", name]));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("rp_") && token.len() == 67, "{token}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let entry = stderr[stderr.find("[[token]]").expect("a [[token]] entry")..].to_owned();
    assert!(
        !entry.contains(&token),
        "the entry holds the hash, not the token"
    );
    (token, entry)
}

fn database() -> TestDb {
    let db = cluster().create_database("auth");
    db.execute(
        "CREATE TABLE orders (id int8 PRIMARY KEY, item text);
         INSERT INTO orders VALUES (1, 'tea'), (2, 'cake');
         CREATE TABLE salaries (id int8 PRIMARY KEY, amount numeric);
         INSERT INTO salaries VALUES (1, 1000);",
    );
    db
}

fn get(server: &ServeProcess, path: &str, headers: &[(&str, &str)]) -> http::Response {
    http::request(server.addr(), "GET", path, headers)
}

#[test]
fn tokens_decide_who_reads_what() {
    let db = database();
    let (all, all_entry) = new_token("reporting");
    let (orders_only, orders_entry) = new_token("shop front");
    let orders_entry = orders_entry.replace("datasets = [\"*\"]", "datasets = [\"orders\"]");
    let config = format!(
        "{all_entry}\n{orders_entry}\n\
         [[dataset]]\nname = \"orders\"\ntable = \"orders\"\n\
         [[dataset]]\nname = \"salaries\"\ntable = \"salaries\"\n"
    );
    let server = ServeProcess::start_with_config(db.url(), &config);
    let bearer = |token: &str| format!("Bearer {token}");

    // No token, a wrong one, odd places and forms: 401 with the challenge.
    let wrong = format!("Bearer {}x", &all[..all.len() - 1]);
    let in_query = format!("/datasets/orders.csv?access_token={all}");
    let twice = bearer(&all);
    for (path, headers) in [
        ("/datasets/orders.csv", vec![]),
        (
            "/datasets/orders.csv",
            vec![("Authorization", wrong.as_str())],
        ),
        (in_query.as_str(), vec![]),
        (
            "/datasets/orders.csv",
            vec![("Authorization", all.as_str())],
        ),
        (
            "/datasets/orders.csv",
            vec![
                ("Authorization", twice.as_str()),
                ("Authorization", twice.as_str()),
            ],
        ),
        ("/datasets", vec![]),
        ("/metrics", vec![]),
        ("/openapi.json", vec![]),
        ("/", vec![]),
        ("/view/orders", vec![]),
    ] {
        let response = get(&server, path, &headers);
        assert_eq!(
            response.status,
            401,
            "{path} {headers:?}: {}",
            response.text()
        );
        assert_eq!(response.json()["error"]["code"], "unauthorized");
        assert!(
            response
                .header("www-authenticate")
                .is_some_and(|value| value.starts_with("Bearer")),
            "{:?}",
            response.headers
        );
    }

    // The scheme is case-insensitive; a token reads what it may.
    let lower = format!("bearer {orders_only}");
    let orders = get(
        &server,
        "/datasets/orders.csv",
        &[("Authorization", &lower)],
    );
    assert_eq!(orders.status, 200);
    assert_eq!(orders.text(), "id,item\n1,tea\n2,cake\n");
    let forbidden = get(
        &server,
        "/datasets/salaries.csv",
        &[("Authorization", &bearer(&orders_only))],
    );
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.json()["error"]["code"], "forbidden");
    let salaries = get(
        &server,
        "/datasets/salaries.csv",
        &[("Authorization", &bearer(&all))],
    );
    assert_eq!(salaries.status, 200);

    // Listings and the description show only what the token may read.
    let names = |response: http::Response| -> Vec<String> {
        response
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(get(
            &server,
            "/datasets",
            &[("Authorization", &bearer(&orders_only))]
        )),
        ["orders"]
    );
    assert_eq!(
        names(get(
            &server,
            "/datasets",
            &[("Authorization", &bearer(&all))]
        )),
        ["orders", "salaries"]
    );
    let description = get(
        &server,
        "/openapi.json",
        &[("Authorization", &bearer(&orders_only))],
    );
    let paths = description.json()["paths"].clone();
    assert!(paths.get("/datasets/orders.{format}").is_some(), "{paths}");
    assert!(
        paths.get("/datasets/salaries.{format}").is_none(),
        "{paths}"
    );

    // The pages show only what the token may read; their stylesheet needs no token.
    let page = get(&server, "/", &[("Authorization", &bearer(&orders_only))]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("href=\"/view/orders\""),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("salaries"), "{}", page.text());
    let page = get(
        &server,
        "/view/salaries",
        &[("Authorization", &bearer(&orders_only))],
    );
    assert_eq!(page.status, 403, "{}", page.text());
    assert_eq!(get(&server, "/assets/rowpipe.css", &[]).status, 200);

    // Health stays open; metrics take a token.
    assert_eq!(get(&server, "/livez", &[]).status, 200);
    assert_eq!(get(&server, "/readyz", &[]).status, 200);
    assert_eq!(
        get(&server, "/metrics", &[("Authorization", &bearer(&all))]).status,
        200
    );

    // The log names the token, never shows it.
    let log = server.settled_log_lines("download", std::time::Duration::from_secs(5));
    assert!(
        log.iter().any(|line| line.contains("shop front")),
        "the download's line names its token: {log:#?}"
    );
    let whole = server.log();
    for token in [&all, &orders_only] {
        assert!(!whole.contains(token.as_str()), "a token reached the log");
    }
}

#[test]
fn readyz_can_be_protected_and_bad_entries_are_refused() {
    let db = database();
    let (token, entry) = new_token("monitor");
    let server = ServeProcess::start_with_config(
        db.url(),
        &format!("[server]\nprotect_readyz = true\n\n{entry}"),
    );
    assert_eq!(get(&server, "/readyz", &[]).status, 401);
    assert_eq!(get(&server, "/livez", &[]).status, 200);
    let auth = format!("Bearer {token}");
    assert_eq!(
        get(&server, "/readyz", &[("Authorization", &auth)]).status,
        200
    );

    let dir = tempfile::tempdir().unwrap();
    for (config, key) in [
        (
            "[[token]]\nname = \"a\"\nsha256 = \"not hex\"\n",
            "token[1].sha256",
        ),
        (&*format!("{entry}\n{entry}"), "token[2].name"),
    ] {
        let path = dir.path().join("rowpipe.toml");
        std::fs::write(&path, config).unwrap();
        let output = crate::harness::run(rowpipe().args([
            "serve",
            "--database",
            db.url(),
            "--config",
            path.to_str().unwrap(),
        ]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
}

/// A token's `role`: its exports run under `SET LOCAL ROLE`, so row-level security gives
/// two tokens different rows of the same dataset, as the database decides.
#[test]
fn a_tokens_role_lets_row_level_security_decide() {
    let db = database();
    let (alice_role, bob_role) = (format!("{}_alice", db.name()), format!("{}_bob", db.name()));
    db.execute(&format!(
        "CREATE ROLE \"{alice_role}\" NOLOGIN; CREATE ROLE \"{bob_role}\" NOLOGIN;
         CREATE TABLE notes (id int8 PRIMARY KEY, owner text, body text);
         INSERT INTO notes VALUES (1, '{alice_role}', 'a1'), (2, '{bob_role}', 'b1'),
                                  (3, '{alice_role}', 'a2');
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own_notes ON notes USING (owner = current_user);
         GRANT SELECT ON notes TO \"{alice_role}\", \"{bob_role}\";"
    ));
    let (alice, alice_entry) = new_token("alice");
    let (bob, bob_entry) = new_token("bob");
    let (admin, admin_entry) = new_token("admin");
    let with_role = |entry: &str, role: &str| format!("{entry}role = \"{role}\"\n");
    let config = format!(
        "{}\n{}\n{admin_entry}\n[[dataset]]\nname = \"notes\"\ntable = \"notes\"\n",
        with_role(&alice_entry, &alice_role),
        with_role(&bob_entry, &bob_role),
    );
    let server = ServeProcess::start_with_config(db.url(), &config);
    let notes = |token: &str| {
        let response = get(
            &server,
            "/datasets/notes.csv?columns=id,body",
            &[("Authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(response.status, 200, "{}", response.text());
        response.text().to_owned()
    };
    assert_eq!(notes(&alice), "id,body\n1,a1\n3,a2\n");
    assert_eq!(notes(&bob), "id,body\n2,b1\n");
    // No role: the connection's own, which owns the table and sees every row.
    assert_eq!(notes(&admin), "id,body\n1,a1\n2,b1\n3,a2\n");
}

/// Listening beyond this machine: without tokens, a warning that anyone may download;
/// with tokens over plain HTTP, a warning that they cross the network in clear text.
#[test]
fn listening_beyond_loopback_warns_as_the_setup_deserves() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let db = database();
    let (_, entry) = new_token("anyone");
    let dir = tempfile::tempdir().unwrap();
    for (config, warning) in [
        ("", "without authentication"),
        (entry.as_str(), "clear text"),
    ] {
        let path = dir.path().join("rowpipe.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = rowpipe()
            .args(["serve", "--database", db.url(), "--listen", "0.0.0.0:0"])
            .arg("--config")
            .arg(&path)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the log on a thread of its own, so that a missing warning fails the test
        // instead of waiting for a line that never comes.
        let (lines, received) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = String::new();
        while let Ok(line) = received.recv_timeout(std::time::Duration::from_secs(10)) {
            log.push_str(&line);
            log.push('\n');
            if line.contains(warning) {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(log.contains(warning), "{warning}: {log}");
    }
}
