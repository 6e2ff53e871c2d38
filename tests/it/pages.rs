//! The web pages over plain HTTP: their headers (a strict CSP, no caching), escaping of
//! every name and value, the row estimate on PostgreSQL, answers to bad input, the assets,
//! and links that download what the CLI exports. What a person sees in a real browser is
//! `browser.rs`'s.

use crate::harness::{ServeProcess, TestDb, assert_bytes_eq, cluster, http, rowpipe, run_ok};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// A database with an ordinary table and one whose name, column and values hold markup.
fn database() -> TestDb {
    let db = cluster().create_database("pages");
    db.execute(
        r#"CREATE TABLE orders (id int8 PRIMARY KEY, item text, total numeric(10,2));
           INSERT INTO orders SELECT i, 'item ' || i, i * 1.5 FROM generate_series(1, 5000) AS i;
           CREATE TABLE "<b>bold</b>" (id int8 PRIMARY KEY, "<i>col</i>" text);
           INSERT INTO "<b>bold</b>" VALUES (1, '<script>alert(1)</script>'), (2, 'a & b "c" ''d''');
           ANALYZE;"#,
    );
    db
}

#[track_caller]
fn assert_page_headers(response: &http::Response) {
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.header("content-security-policy"), Some(CSP));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn pages_escape_every_name_and_value_and_forbid_scripts() {
    let db = database();
    let server = ServeProcess::start(db.url(), &[]);
    let home = http::get(server.addr(), "/");
    assert_eq!(home.status, 200, "{}", home.text());
    assert_page_headers(&home);
    let text = home.text();
    assert!(
        !text.contains("<b>bold</b>") && !text.contains("<i>col</i>"),
        "{text}"
    );
    assert!(text.contains("&lt;b&gt;bold&lt;/b&gt;"), "{text}");
    assert!(text.contains("&lt;i&gt;col&lt;/i&gt;"), "{text}");
    assert!(
        text.contains("href=\"/view/%3Cb%3Ebold%3C%2Fb%3E\""),
        "{text}"
    );
    assert!(!text.contains("<script"), "no page has a script: {text}");
    // PostgreSQL's planner estimate, after ANALYZE.
    assert!(text.contains("about 5,000"), "{text}");

    let page = http::get(server.addr(), "/view/%3Cb%3Ebold%3C%2Fb%3E");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_page_headers(&page);
    let text = page.text();
    assert!(
        text.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"),
        "{text}"
    );
    assert!(
        text.contains("<td>a &amp; b &quot;c&quot; &#39;d&#39;</td>"),
        "{text}"
    );
    assert!(!text.contains("<script") && !text.contains("<i>"), "{text}");
}

#[test]
fn pages_preview_the_first_rows_as_psql_writes_them() {
    let db = database();
    let server = ServeProcess::start(db.url(), &[]);
    let page = http::get(server.addr(), "/view/orders?limit=3");
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    assert!(text.contains("All 3 rows"), "{text}");
    for row in [
        "<td>1</td><td>item 1</td><td>1.50</td>",
        "<td>3</td><td>item 3</td><td>4.50</td>",
    ] {
        assert!(text.contains(row), "{row} in {text}");
    }
    let full = http::get(server.addr(), "/view/orders");
    assert!(full.text().contains("The first 20 rows"), "{}", full.text());
    let rows = &full.text()[full
        .text()
        .find("<table class=\"rows\">")
        .expect("a preview")..];
    assert_eq!(rows.matches("<tr><td>").count(), 20);
}

#[test]
fn pages_answer_bad_input_clearly() {
    let db = database();
    let server = ServeProcess::start(db.url(), &[]);
    // A mistake in the query string: the page, saying what is wrong, with a 400.
    let bad = http::get(server.addr(), "/view/orders?limit=many");
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_page_headers(&bad);
    assert!(bad.text().contains("role=\"alert\""), "{}", bad.text());
    assert!(bad.text().contains("limit"), "{}", bad.text());
    let unknown = http::get(server.addr(), "/view/orders?colour=%3Cred%3E");
    assert_eq!(unknown.status, 400);
    assert!(unknown.text().contains("colour"), "{}", unknown.text());
    assert!(!unknown.text().contains("<red>"), "{}", unknown.text());
    // No such dataset or file: the API's JSON error.
    let missing = http::get(server.addr(), "/view/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.is_json() && missing.text().contains("unknown_dataset"));
    let asset = http::get(server.addr(), "/assets/../../etc/passwd");
    assert_eq!(asset.status, 404, "{}", asset.text());
    let css = http::get(server.addr(), "/assets/rowpipe.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let icon = http::get(server.addr(), "/assets/icon.svg");
    assert_eq!(icon.header("content-type"), Some("image/svg+xml"));
    assert!(icon.text().starts_with("<svg"));
}

#[test]
fn pages_links_download_what_the_cli_exports() {
    let db = database();
    let server = ServeProcess::start(db.url(), &[]);
    let text = http::get(server.addr(), "/").text().to_owned();
    for (link, args) in [
        ("/datasets/orders.csv", &["--format", "csv"][..]),
        ("/datasets/orders.tsv", &["--format", "tsv"]),
        ("/datasets/orders.jsonl", &["--format", "jsonl"]),
        ("/datasets/orders.json", &["--format", "json"]),
        (
            "/datasets/orders.csv?excel=true",
            &["--format", "csv", "--excel"],
        ),
    ] {
        assert!(
            text.contains(&format!("href=\"{link}\"")),
            "{link} in {text}"
        );
        let downloaded = http::get(server.addr(), link);
        assert_eq!(downloaded.status, 200, "{link}");
        let exported = run_ok(
            rowpipe()
                .args([
                    "export",
                    "--database",
                    db.url(),
                    "--table",
                    "orders",
                    "--key",
                    "id",
                ])
                .args(args),
        );
        assert_bytes_eq(&downloaded.body, &exported.stdout);
    }
}
