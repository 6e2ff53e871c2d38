//! The `rowpipe` command line: help and version, `rowpipe export` to stdout and to files
//! (atomically), the summary line, and how an export ends when its reader goes away or it
//! is interrupted: exit status, files left behind, and queries left running on the server.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rowpipe::sink::file::part_path;

use crate::harness::{
    TestDb, assert_bytes_eq, cluster, poll_until, psql_copy_csv, rowpipe, run, run_ok,
    wait_for_exit,
};

/// A password planted in `DATABASE_URL`; it must never be printed.
const SECRET: &str = "s3cretpw";

/// A query that would stream for minutes (50M rows, about 5 GB) if nothing stopped it, and
/// starts at once (one 50M-row `generate_series` in FROM would be materialized first).
const ENDLESS_SQL: &str = "SELECT a * 100000 + b AS g, repeat('x', 100) \
                           FROM generate_series(0, 499) a, generate_series(1, 100000) b";

/// How long a query may stay active on the server after rowpipe exited.
const QUERY_GONE_WITHIN: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn stderr_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `rowpipe export --database URL` plus `args`.
fn export_cmd(url: &str, args: &[&str]) -> Command {
    let mut cmd = rowpipe();
    cmd.args(["export", "--database", url]).args(args);
    cmd
}

/// Fails the test unless no query of `db` is active within [`QUERY_GONE_WITHIN`].
#[track_caller]
fn assert_no_query_left(db: &TestDb) {
    let gone = poll_until(QUERY_GONE_WITHIN, || db.active_queries() == 0).is_some();
    if !gone {
        let running = db.query_scalar(&format!(
            "SELECT string_agg(state || ': ' || query, ' | ') FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name()
        ));
        panic!("queries still active {QUERY_GONE_WITHIN:?} after rowpipe exited: {running}");
    }
}

/// Reads a pipe to its end on a thread of its own.
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A small table with values CSV has to quote.
fn small_table_db(prefix: &str) -> TestDb {
    let db = cluster().create_database(prefix);
    db.execute(
        "CREATE TABLE items (id int PRIMARY KEY, label text, amount numeric, tags text[]);
         INSERT INTO items VALUES
           (1, 'plain', 1.50, '{a,b}'),
           (2, 'comma, and \"quotes\"', -0.001, '{}'),
           (3, E'two\\nlines', NULL, '{\"x y\",NULL}'),
           (4, '', 0, NULL),
           (5, NULL, 1e20, '{grüße}');",
    );
    db
}

// ---------------------------------------------------------------------------------------
// Help and version
// ---------------------------------------------------------------------------------------

/// `--help` works for the command and both subcommands and lists their flags.
#[test]
fn help_lists_the_commands_and_flags() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--help"], &["export", "serve", "--version"]),
        (
            &["export", "--help"],
            &[
                "--database",
                "--sql",
                "--table",
                "--output",
                "--format",
                "--quiet",
                "--statement-timeout",
                "--chunk-size",
                "--prefetch-depth",
                "DATABASE_URL",
            ],
        ),
        (
            &["serve", "--help"],
            &["--database", "--config", "--listen", "DATABASE_URL"],
        ),
    ];
    for (args, flags) in cases {
        let output = run_ok(rowpipe().args(*args));
        let help = String::from_utf8_lossy(&output.stdout);
        for flag in *flags {
            assert!(
                help.contains(flag),
                "`rowpipe {args:?}` lacks {flag}:\n{help}"
            );
        }
    }
}

/// `--version` prints the crate's version, also after a subcommand.
#[test]
fn version_prints_the_version() {
    let version = env!("CARGO_PKG_VERSION");
    let output = run_ok(rowpipe().arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("rowpipe {version}\n")
    );
    let output = run_ok(rowpipe().args(["export", "--version"]));
    assert!(String::from_utf8_lossy(&output.stdout).contains(version));
}

/// Help and usage errors never print the value of `DATABASE_URL` (it holds a password).
#[test]
fn help_and_usage_errors_hide_database_url() {
    let url = format!("postgres://u:{SECRET}@h/db");
    let cases: &[&[&str]] = &[
        &["--help"],
        &["export", "--help"],
        &["serve", "--help"],
        &["export", "-h"],
        &["export"],
        &["export", "--sql", ""],
        &["export", "--sql", "SELECT 1", "--chunk-size", "0"],
    ];
    for args in cases {
        let output = run(rowpipe().args(*args).env("DATABASE_URL", &url));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr_text(&output)
        );
        assert!(
            !text.contains(SECRET),
            "`rowpipe {args:?}` shows the password:\n{text}"
        );
        assert!(
            !text.contains("u:***@h"),
            "`rowpipe {args:?}` shows the URL:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Export to stdout
// ---------------------------------------------------------------------------------------

/// `--table` and `--sql` to stdout print exactly what psql's `\copy ... csv header` prints.
#[test]
fn export_to_stdout_matches_psql() {
    let db = small_table_db("cli_stdout");
    let output = run_ok(&mut export_cmd(db.url(), &["--table", "items"]));
    assert_bytes_eq(
        &output.stdout,
        psql_copy_csv(db.url(), "SELECT * FROM items"),
    );

    let sql = "SELECT id, label, tags FROM items WHERE id > 1 ORDER BY id DESC;";
    let output = run_ok(&mut export_cmd(db.url(), &["--sql", sql]));
    assert_bytes_eq(
        &output.stdout,
        psql_copy_csv(
            db.url(),
            "SELECT id, label, tags FROM items WHERE id > 1 ORDER BY id DESC",
        ),
    );
}

/// Table names: `schema.name` picks the schema, a quoted part may hold a dot, and names
/// are taken as written (no case folding).
#[test]
fn export_table_names_schema_quoted_and_mixed_case() {
    let db = cluster().create_database("cli_table_names");
    db.execute(
        r#"CREATE SCHEMA sales;
           CREATE TABLE public.orders (origin text); INSERT INTO public.orders VALUES ('public');
           CREATE TABLE sales.orders (origin text); INSERT INTO sales.orders VALUES ('sales');
           CREATE TABLE "Mixed.Case" (origin text); INSERT INTO "Mixed.Case" VALUES ('dotted');
           CREATE TABLE "Upper" (origin text); INSERT INTO "Upper" VALUES ('upper');
           CREATE SCHEMA "My.Schema";
           CREATE TABLE "My.Schema"."t" (origin text); INSERT INTO "My.Schema"."t" VALUES ('both');"#,
    );
    let cases = [
        ("orders", "public"),
        ("public.orders", "public"),
        ("sales.orders", "sales"),
        (r#""sales"."orders""#, "sales"),
        (r#""Mixed.Case""#, "dotted"),
        (r#"public."Mixed.Case""#, "dotted"),
        ("Upper", "upper"),
        (r#""My.Schema".t"#, "both"),
    ];
    for (table, origin) in cases {
        let output = run_ok(&mut export_cmd(db.url(), &["--table", table, "--quiet"]));
        assert_bytes_eq(&output.stdout, format!("origin\n{origin}\n"));
    }
    // Taken as written: `upper` is not `Upper`.
    let output = run(&mut export_cmd(db.url(), &["--table", "upper"]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr_text(&output));
    assert!(stderr_text(&output).contains("42P01"));
}

/// `DATABASE_URL` is used without `--database`; with both, the flag wins.
#[test]
fn database_url_env_and_flag_precedence() {
    let from_env = cluster().create_database("cli_env_db");
    let from_flag = cluster().create_database("cli_flag_db");
    from_env.execute("CREATE TABLE t (origin text); INSERT INTO t VALUES ('env');");
    from_flag.execute("CREATE TABLE t (origin text); INSERT INTO t VALUES ('flag');");

    let output = run_ok(
        rowpipe()
            .args(["export", "--table", "t"])
            .env("DATABASE_URL", from_env.url()),
    );
    assert_bytes_eq(&output.stdout, "origin\nenv\n");

    let output = run_ok(
        rowpipe()
            .args(["export", "--table", "t", "--database", from_flag.url()])
            .env("DATABASE_URL", from_env.url()),
    );
    assert_bytes_eq(&output.stdout, "origin\nflag\n");
}

// ---------------------------------------------------------------------------------------
// Export to a file
// ---------------------------------------------------------------------------------------

/// `-o FILE` writes the same bytes as psql and leaves no `FILE.part`.
#[test]
fn export_to_file_writes_it_whole() {
    let db = small_table_db("cli_file");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("items.csv");
    let output = run_ok(&mut export_cmd(
        db.url(),
        &["--table", "items", "-o", target.to_str().unwrap()],
    ));
    assert!(output.stdout.is_empty(), "stdout is not empty with -o");
    assert_bytes_eq(
        std::fs::read(&target).unwrap(),
        psql_copy_csv(db.url(), "SELECT * FROM items"),
    );
    assert!(!part_path(&target).exists(), "FILE.part left behind");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["items.csv"], "unexpected files beside the output");
}

/// An existing FILE is replaced by a rename, not rewritten in place: a reader that had
/// the old file open still reads the old, complete content.
#[test]
fn export_replaces_an_existing_file_atomically() {
    let db = cluster().create_database("cli_replace");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    std::fs::write(&target, b"old,complete\nexport,1\n").unwrap();
    let old_inode = std::fs::metadata(&target).unwrap().ino();
    let mut old_reader = std::fs::File::open(&target).unwrap();

    let sql = "SELECT g FROM generate_series(1, 100000) g";
    run_ok(&mut export_cmd(
        db.url(),
        &["--sql", sql, "-o", target.to_str().unwrap()],
    ));
    assert_bytes_eq(
        std::fs::read(&target).unwrap(),
        psql_copy_csv(db.url(), sql),
    );
    assert_ne!(
        std::fs::metadata(&target).unwrap().ino(),
        old_inode,
        "rewritten in place"
    );
    let mut old = Vec::new();
    old_reader.read_to_end(&mut old).unwrap();
    assert_bytes_eq(&old, "old,complete\nexport,1\n");
    assert!(!part_path(&target).exists(), "FILE.part left behind");
}

/// A query that fails after streaming many rows exits 1 and leaves the previous FILE as it
/// was (or no FILE if there was none), and no `.part`.
#[test]
fn failing_export_keeps_the_previous_file() {
    let db = cluster().create_database("cli_fail_file");
    let dir = tempfile::tempdir().unwrap();
    let sql = "SELECT g, 1/(g-150000) FROM generate_series(1,200000) g";

    let fresh = dir.path().join("fresh.csv");
    let existing = dir.path().join("existing.csv");
    std::fs::write(&existing, b"previous,complete\n1,2\n").unwrap();
    for target in [&fresh, &existing] {
        let output = run(&mut export_cmd(
            db.url(),
            &["--sql", sql, "-o", target.to_str().unwrap()],
        ));
        let stderr = stderr_text(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("22012"), "{stderr}");
        assert!(stderr.contains("division by zero"), "{stderr}");
        assert!(
            !stderr.contains("exported"),
            "reported as a success: {stderr}"
        );
        assert!(!part_path(target).exists(), "FILE.part left behind");
    }
    assert!(!fresh.exists(), "a file from a failed export");
    assert_bytes_eq(
        std::fs::read(&existing).unwrap(),
        "previous,complete\n1,2\n",
    );
}

// ---------------------------------------------------------------------------------------
// The summary line
// ---------------------------------------------------------------------------------------

/// A successful export ends with `exported N rows` on stderr; there is no progress line
/// (no `\r`, no escape codes) when stderr is not a terminal; `--quiet` prints nothing.
#[test]
fn summary_line_and_quiet() {
    let db = cluster().create_database("cli_summary");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    // Big enough to take longer than a progress redraw (250 ms) on a busy machine.
    let sql = "SELECT g, md5(g::text) FROM generate_series(1, 400000) g";

    let to_stdout = run_ok(&mut export_cmd(db.url(), &["--sql", sql]));
    let to_file = run_ok(&mut export_cmd(
        db.url(),
        &["--sql", sql, "-o", target.to_str().unwrap()],
    ));
    for output in [&to_stdout, &to_file] {
        let stderr = stderr_text(output);
        assert!(stderr.contains("exported 400000 rows"), "{stderr:?}");
        assert!(
            !stderr.contains('\r'),
            "a progress line on a pipe: {stderr:?}"
        );
        assert!(
            !stderr.contains('\x1b'),
            "escape codes on a pipe: {stderr:?}"
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "more than the summary: {stderr:?}"
        );
    }

    let small = "SELECT 1 AS one";
    let output = run_ok(&mut export_cmd(db.url(), &["--sql", small]));
    assert!(
        stderr_text(&output).contains("exported 1 rows"),
        "{}",
        stderr_text(&output)
    );
    let output = run_ok(&mut export_cmd(
        db.url(),
        &["--sql", "SELECT 1 WHERE false"],
    ));
    assert!(
        stderr_text(&output).contains("exported 0 rows"),
        "{}",
        stderr_text(&output)
    );

    for args in [
        vec!["--sql", sql, "--quiet"],
        vec!["--sql", sql, "-q", "-o", target.to_str().unwrap()],
    ] {
        let output = run_ok(&mut export_cmd(db.url(), &args));
        assert_eq!(stderr_text(&output), "", "--quiet printed something");
    }

    // --quiet drops the summary, not the error.
    let output = run(&mut export_cmd(
        db.url(),
        &["--sql", "SELECT 1/0", "--quiet"],
    ));
    let stderr = stderr_text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("22012"), "{stderr}");
    assert!(!stderr.contains("stopped after"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Ending early
// ---------------------------------------------------------------------------------------

/// A reader that closes the pipe early (`rowpipe export ... | head`) is not an error:
/// rowpipe exits 0 at once, and its query does not go on running on the server.
#[test]
fn a_closed_pipe_is_success_and_stops_the_query() {
    let db = cluster().create_database("cli_closed_pipe");
    let mut child = export_cmd(db.url(), &["--sql", ENDLESS_SQL])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rowpipe export");
    let stderr = collect(child.stderr.take().unwrap());
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0; 8192];
    stdout.read_exact(&mut head).expect("read the first 8 KB");
    assert!(
        head.starts_with(b"g,repeat\n1,xxx"),
        "{:?}",
        String::from_utf8_lossy(&head[..40])
    );
    drop(stdout);

    let closed = Instant::now();
    let status = wait_for_exit(&mut child, Duration::from_secs(10), "its reader went away");
    let took = closed.elapsed();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?} to notice");
    assert!(stderr.contains("closed by its reader"), "{stderr}");
    assert_no_query_left(&db);
}

/// Starts `rowpipe export --sql SQL -o TARGET`, waits until its query is running on the
/// server, sends SIGINT, and returns the exit status and stderr.
fn interrupt_export(db: &TestDb, sql: &str, target: &Path) -> (ExitStatus, String) {
    let mut child = export_cmd(db.url(), &["--sql", sql, "-o", target.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rowpipe export");
    let stderr = collect(child.stderr.take().unwrap());
    let running = poll_until(Duration::from_secs(30), || db.active_queries() > 0).is_some();
    if !running {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the export's query never showed up as active; stderr:\n{}",
            stderr.join().unwrap()
        );
    }
    // Let it get going: rows flowing into FILE.part, or the query deep in its work.
    thread::sleep(Duration::from_millis(300));
    assert!(!target.exists(), "FILE exists before the export finished");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -INT failed");
    let status = wait_for_exit(&mut child, Duration::from_secs(10), "SIGINT");
    (status, stderr.join().unwrap())
}

/// Ctrl-C during a streaming export: exit 130, neither FILE nor FILE.part, and the query is
/// gone from the server within a second.
#[test]
fn ctrl_c_stops_a_streaming_export_cleanly() {
    let db = cluster().create_database("cli_ctrl_c_stream");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("big.csv");
    let (status, stderr) = interrupt_export(&db, ENDLESS_SQL, &target);
    assert_eq!(status.code(), Some(130), "{status}: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!target.exists(), "FILE left after Ctrl-C");
    assert!(!part_path(&target).exists(), "FILE.part left after Ctrl-C");
    assert_no_query_left(&db);
}

/// Ctrl-C while the query is still working before its first row (here: sleeping) must
/// cancel it on the server. The backend notices a closed connection only when it next
/// writes, so without the cancel request the query would go on for its full 30 seconds.
#[test]
fn ctrl_c_cancels_a_query_that_has_not_sent_rows_yet() {
    let db = cluster().create_database("cli_ctrl_c_silent");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("slow.csv");
    let (status, stderr) = interrupt_export(&db, "SELECT pg_sleep(30) AS slept", &target);
    assert_eq!(status.code(), Some(130), "{status}: {stderr}");
    assert!(!target.exists(), "FILE left after Ctrl-C");
    assert!(!part_path(&target).exists(), "FILE.part left after Ctrl-C");
    assert_no_query_left(&db);
}

/// `rowpipe export --config FILE` runs its export within the bounds the server would: the
/// file's `statement_timeout`, `[stream]` and `max_bytes`, each overridable by its flag.
/// Without a config file the query keeps the server's own `statement_timeout`.
#[test]
fn export_honours_the_config_files_bounds() {
    let db = cluster().create_database("cli_config_bounds");
    db.execute(
        "CREATE TABLE t AS SELECT g AS id, repeat('x', 50) AS pad FROM generate_series(1, 1000) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rowpipe.toml");
    std::fs::write(
        &config,
        r#"
        [database]
        statement_timeout = "300ms"

        [server]
        max_bytes = 10000

        [stream]
        chunk_size = 4096
        engine = "copy"

        [[dataset]]
        name = "all"
        table = "t"

        [[dataset]]
        name = "slow"
        sql = "SELECT pg_sleep(2)::text AS slept"
        "#,
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let export = |args: &[&str]| run(export_cmd(db.url(), &["--config", config, "-q"]).args(args));

    // max_bytes from the file; the flag overrides it.
    let fails_with = |output: Output, code: i32, needle: &str| {
        let stderr = stderr_text(&output);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(needle), "{needle} not in {stderr}");
    };
    fails_with(export(&["--dataset", "all"]), 1, "10000");
    let output = export(&["--dataset", "all", "--max-bytes", "1000000"]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    assert_bytes_eq(&output.stdout, db.copy_csv("SELECT * FROM t ORDER BY id"));

    // The file's engine is the copy engine, which takes default options only.
    let no_header = [
        "--dataset",
        "all",
        "--max-bytes",
        "1000000",
        "--header",
        "false",
    ];
    fails_with(export(&no_header), 2, "copy engine");
    let output = export(&[&no_header[..], &["--engine", "typed"]].concat());
    assert!(output.status.success(), "{}", stderr_text(&output));

    // The file's statement_timeout; the flag overrides it; no file, no timeout of rowpipe's.
    fails_with(export(&["--dataset", "slow"]), 1, "57014");
    let output = export(&["--dataset", "slow", "--statement-timeout", "10s"]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    let output = run(&mut export_cmd(
        db.url(),
        &["-q", "--sql", "SELECT pg_sleep(1)::text AS slept"],
    ));
    assert!(output.status.success(), "{}", stderr_text(&output));
}
