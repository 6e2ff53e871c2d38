//! The web pages in a real browser (headless Chromium): what a person sees on the demo,
//! previews and the parameter form, downloads that equal the CLI's export byte for byte,
//! markup in names and values shown as text with no script run, and use by keyboard.
//! Screenshots are kept in `target/test-artifacts/`.

use std::path::Path;
use std::time::Duration;

use crate::demo::{DEMO_DATASETS, demo_path, make_demo, serve_nothing};
use crate::harness::browser::Browser;
use crate::harness::{ServeProcess, assert_bytes_eq, rowpipe, run_ok};

const DOWNLOAD_TIME: Duration = Duration::from_secs(60);

/// The CLI's CSV export of `sql` from the SQLite file at `db`, in `key` order.
fn cli_export(db: &Path, sql: &str, key: &str) -> Vec<u8> {
    run_ok(
        rowpipe()
            .args(["export", "--sql", sql, "--key", key, "--database"])
            .arg(db),
    )
    .stdout
}

/// The rendered texts of the preview's column `name`.
fn preview_column(browser: &Browser, name: &str) -> Vec<String> {
    let headers = browser.texts("table.rows thead th");
    let at = headers
        .iter()
        .position(|header| header == name)
        .unwrap_or_else(|| panic!("no column {name} in the preview: {headers:?}"));
    browser.texts(&format!("table.rows tbody td:nth-child({})", at + 1))
}

#[test]
fn browser_the_demo_shows_datasets_previews_and_a_form_and_downloads_what_the_cli_exports() {
    let data = tempfile::tempdir().unwrap();
    let db = demo_path(data.path());
    make_demo(&db, 3000);
    let server = serve_nothing(data.path());
    let base = format!("http://{}", server.addr());
    let browser = Browser::start();

    browser.goto(&format!("{base}/"));
    assert_eq!(browser.title(), "Datasets · rowpipe");
    assert_eq!(browser.texts("section.dataset h2"), DEMO_DATASETS);
    let columns = browser.text(&browser.find("section.dataset p.columns"));
    assert!(
        columns.contains("amount real") && columns.contains("created_at text"),
        "{columns}"
    );
    browser.screenshot("demo-home");

    // A link of the listing downloads the dataset, as the CLI exports it.
    browser.click(&browser.find("a[href='/datasets/products.csv']"));
    assert_bytes_eq(
        browser.downloaded("products.csv", DOWNLOAD_TIME),
        cli_export(&db, "SELECT * FROM products", "id"),
    );

    // A dataset's page: its first rows, with the parameter's default.
    browser.click(&browser.find("a[href='/view/orders_by_status']"));
    browser.wait_for_url("/view/orders_by_status");
    assert_eq!(browser.title(), "orders_by_status · rowpipe");
    let status = browser.find("input[name='status']");
    assert_eq!(browser.property(&status, "value"), "refunded");
    let ids = preview_column(&browser, "id");
    assert_eq!(ids.len(), 20);
    let expected = String::from_utf8(cli_export(
        &db,
        "SELECT id FROM orders WHERE status = 'refunded' LIMIT 20",
        "id",
    ))
    .unwrap();
    assert_eq!(ids, expected.lines().skip(1).collect::<Vec<_>>());
    assert!(
        preview_column(&browser, "status")
            .iter()
            .all(|s| s == "refunded")
    );
    browser.screenshot("demo-dataset");

    // The form: another value previews other rows, and downloads them.
    browser.type_into(&status, "cancelled");
    browser.click(&browser.find("form button:not([formaction])"));
    browser.wait_for_url("/view/orders_by_status?status=cancelled");
    let statuses = preview_column(&browser, "status");
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| s == "cancelled"),
        "{statuses:?}"
    );
    browser.click(&browser.find("button[formaction='/datasets/orders_by_status.csv']:not([name])"));
    assert_bytes_eq(
        browser.downloaded("orders_by_status.csv", DOWNLOAD_TIME),
        cli_export(&db, "SELECT * FROM orders WHERE status = 'cancelled'", "id"),
    );

    // A required parameter: no preview until it is given.
    browser.goto(&format!("{base}/view/customer_orders"));
    let preview = browser.text(&browser.find("section[aria-labelledby='preview']"));
    assert!(preview.contains("Give customer_id"), "{preview}");
    browser.type_into(&browser.find("input[name='customer_id']"), "7");
    browser.click(&browser.find("form button:not([formaction])"));
    browser.wait_for_url("?customer_id=7");
    let products = preview_column(&browser, "product");
    assert!(!products.is_empty(), "customer 7's orders");
}

#[test]
fn browser_markup_in_names_and_values_is_shown_as_text_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.db");
    let name = "<script>document.title='pwned'</script>";
    let values = [
        "<img src=x onerror=\"document.title='pwned'\">",
        "</td></tr></table><script>document.title='pwned'</script>",
        "\" autofocus onfocus=\"document.title='pwned'",
    ];
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(&format!(
        "CREATE TABLE \"{name}\" (id INTEGER PRIMARY KEY, \"<i>col</i>\" TEXT);"
    ))
    .unwrap();
    for value in values {
        db.execute(
            &format!("INSERT INTO \"{name}\" (\"<i>col</i>\") VALUES (?1)"),
            [value],
        )
        .unwrap();
    }
    drop(db);
    let server = ServeProcess::start(path.to_str().unwrap(), &[]);
    let browser = Browser::start();
    let markup_count = "return document.querySelectorAll('script, img, i').length";

    browser.goto(&format!("http://{}/", server.addr()));
    assert_eq!(browser.texts("section.dataset h2"), [name]);
    assert_eq!(browser.title(), "Datasets · rowpipe");
    assert_eq!(browser.execute(markup_count), 0);

    browser.click(&browser.find("section.dataset h2 a"));
    browser.wait_for_url("/view/%3Cscript%3Edocument.title%3D%27pwned%27%3C%2Fscript%3E");
    assert_eq!(browser.title(), format!("{name} · rowpipe"));
    assert_eq!(preview_column(&browser, "<i>col</i>"), values);
    assert_eq!(browser.execute(markup_count), 0);
    browser.screenshot("hostile-names");
}

#[test]
fn browser_the_pages_can_be_used_by_keyboard_and_name_their_controls() {
    let data = tempfile::tempdir().unwrap();
    make_demo(&demo_path(data.path()), 500);
    let server = serve_nothing(data.path());
    let browser = Browser::start();
    browser.goto(&format!("http://{}/view/orders_by_status", server.addr()));

    assert_eq!(
        browser.execute("return document.documentElement.lang"),
        "en"
    );
    let labelled = "return [...document.querySelectorAll('input:not([type=hidden])')]\
                    .every(input => input.labels.length === 1 && input.labels[0].textContent)";
    assert_eq!(browser.execute(labelled), true);
    let headed = "return [...document.querySelectorAll('th')].every(th => th.scope === 'col')";
    assert_eq!(browser.execute(headed), true);

    // The first Tab reaches the skip link; Tabs go on to the parameter, and Enter sends it.
    const TAB: &str = "\u{E004}";
    const ENTER: &str = "\u{E007}";
    browser.press(TAB);
    assert_eq!(
        browser.execute("return document.activeElement.className"),
        "skip"
    );
    let mut tabs = 1;
    while browser.execute("return document.activeElement.name") != "status" {
        browser.press(TAB);
        tabs += 1;
        assert!(tabs < 20, "Tab never reached the status field");
    }
    browser.press("\u{E003}".repeat(10).as_str()); // Backspace
    browser.press("paid");
    browser.press(ENTER);
    browser.wait_for_url("/view/orders_by_status?status=paid");
    let statuses = preview_column(&browser, "status");
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| s == "paid"),
        "{statuses:?}"
    );
    // The wide preview can be scrolled from the keyboard: its region takes the focus.
    assert_eq!(
        browser.execute("return document.querySelector('.scroll').tabIndex"),
        0
    );
}
