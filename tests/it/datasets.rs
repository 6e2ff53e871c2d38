//! The HTTP surface: `GET /datasets` (configured and discovered datasets, their columns and
//! links), downloads of discovered relations, `GET /healthz`, and how failures known before
//! the first byte are answered (a status and a JSON error body, never a broken 200).

use serde_json::{Value, json};

use crate::harness::{TestDb, TestServer, assert_bytes_eq, cluster, http};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `GET /datasets` as JSON, checked to be a 200 array.
#[track_caller]
fn list(server: &TestServer) -> Vec<Value> {
    let response = http::get(server.addr(), "/datasets");
    assert_eq!(response.status, 200, "GET /datasets: {}", response.text());
    assert!(response.is_json(), "{:?}", response.headers);
    match response.json() {
        Value::Array(entries) => entries,
        other => panic!("GET /datasets is not a JSON array: {other}"),
    }
}

/// The dataset names of a listing, in order.
fn names(listing: &[Value]) -> Vec<&str> {
    listing
        .iter()
        .map(|entry| {
            entry["name"]
                .as_str()
                .expect("every entry has a string name")
        })
        .collect()
}

/// The entry called `name` of a listing.
#[track_caller]
fn entry<'a>(listing: &'a [Value], name: &str) -> &'a Value {
    listing
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no dataset {name:?} in {listing:#?}"))
}

/// A download that must fail before its first byte: checks the status, that the body is
/// a complete JSON error with `code`, and returns the `error` object.
#[track_caller]
fn expect_error(server: &TestServer, path: &str, status: u16, code: &str) -> Value {
    let response = http::get(server.addr(), path);
    assert_eq!(
        response.status,
        status,
        "GET {path}: {}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(
        response.complete,
        "the error body of GET {path} was cut off"
    );
    assert!(
        response.is_json(),
        "an error is answered as JSON, not as CSV: {:?}",
        response.headers
    );
    let body = response.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"].clone()
}

/// Creates a login role that belongs to `db`'s test alone (roles are cluster-wide and
/// tests run in parallel) and returns its name and a URL that connects as it.
#[track_caller]
fn reader_role(db: &TestDb) -> (String, String) {
    let role = format!("reader_{}", db.name());
    db.execute(&format!("CREATE ROLE \"{role}\" LOGIN"));
    let url = db.url().replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(url, db.url(), "the test URL should name the postgres user");
    (role, url)
}

/// A table `orders` of a few typed columns, as the listing tests use.
const ORDERS_SQL: &str = r#"
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    total numeric(12, 2),
    placed_at timestamptz,
    tags text[]
);
INSERT INTO orders VALUES
    (1, 'Ada', 12.50, '2024-01-02 03:04:05+00', '{new}'),
    (2, 'Bob', 99.99, '2024-02-03 04:05:06+00', '{}');
CREATE TABLE customers (id int, name varchar(40), since date, vip boolean, scores int4[]);
INSERT INTO customers VALUES (1, 'Ada', '2020-01-01', true, '{1,2}');
"#;

// ---------------------------------------------------------------------------------------
// GET /datasets with configured datasets
// ---------------------------------------------------------------------------------------

/// The listing of configured datasets: name, description, columns (name and PostgreSQL
/// type, arrays as `type[]`) and download links, in the order of the config file (not
/// alphabetical).
#[test]
fn listing_describes_configured_datasets_in_order() {
    let db = cluster().create_database("ds_list");
    db.execute(ORDERS_SQL);
    let server = TestServer::start(
        db.url(),
        r#"
        [[dataset]]
        name = "orders"
        description = "All orders, oldest first"
        sql = "SELECT id, customer, total, placed_at, tags, total * 2 AS doubled FROM orders ORDER BY id"

        [[dataset]]
        name = "customers"
        description = "Every customer"
        table = "public.customers"
        "#,
    );
    let listing = list(&server);
    assert_eq!(
        Value::Array(listing),
        json!([
            {
                "name": "orders",
                "description": "All orders, oldest first",
                "columns": [
                    {"name": "id", "type": "int8"},
                    {"name": "customer", "type": "text"},
                    {"name": "total", "type": "numeric"},
                    {"name": "placed_at", "type": "timestamptz"},
                    {"name": "tags", "type": "text[]"},
                    {"name": "doubled", "type": "numeric"}
                ],
                "downloads": {"csv": "/datasets/orders.csv", "tsv": "/datasets/orders.tsv", "jsonl": "/datasets/orders.jsonl", "json": "/datasets/orders.json"}
            },
            {
                "name": "customers",
                "description": "Every customer",
                "columns": [
                    {"name": "id", "type": "int4"},
                    {"name": "name", "type": "varchar"},
                    {"name": "since", "type": "date"},
                    {"name": "vip", "type": "bool"},
                    {"name": "scores", "type": "int4[]"}
                ],
                "downloads": {"csv": "/datasets/customers.csv", "tsv": "/datasets/customers.tsv", "jsonl": "/datasets/customers.jsonl", "json": "/datasets/customers.json"}
            }
        ])
    );
    // The links work.
    let orders = http::get_csv(server.addr(), "/datasets/orders.csv");
    assert_bytes_eq(
        &orders.body,
        db.copy_csv("SELECT id, customer, total, placed_at, tags, total * 2 AS doubled FROM orders ORDER BY id"),
    );
    let customers = http::get_csv(server.addr(), "/datasets/customers.csv");
    assert_bytes_eq(
        &customers.body,
        "id,name,since,vip,scores\n1,Ada,2020-01-01,t,\"{1,2}\"\n",
    );
}

/// A dataset without a description is listed with `"description": null`, and dataset
/// names with `_` and `-` (allowed by the config) get links that spell them as they are:
/// RFC 3986 says unreserved characters should not be percent-encoded.
#[test]
fn download_links_keep_unreserved_characters() {
    let db = cluster().create_database("ds_links");
    let server = TestServer::start(
        db.url(),
        "[[dataset]]\nname = \"sales_2024-Q1\"\nsql = \"SELECT 1 AS one\"\n",
    );
    let listing = list(&server);
    let sales = entry(&listing, "sales_2024-Q1");
    assert_eq!(sales["description"], Value::Null);
    let link = sales["downloads"]["csv"].as_str().expect("a csv link");
    // Whatever its spelling, the link must lead to the dataset.
    let response = http::get_csv(server.addr(), link);
    assert_bytes_eq(&response.body, "one\n1\n");
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"sales_2024-Q1.csv\"")
    );
    assert_eq!(link, "/datasets/sales_2024-Q1.csv");
}

// ---------------------------------------------------------------------------------------
// Discovery: no configured datasets
// ---------------------------------------------------------------------------------------

/// Without `[[dataset]]` entries, the tables, views and materialized views of schema
/// `public` that the connecting role can SELECT are listed (sorted by name) and download;
/// a table in another schema and a table the role may not read are neither listed nor
/// downloadable.
#[test]
fn discovery_lists_what_the_role_can_read_in_public() {
    let db = cluster().create_database("ds_disc");
    db.execute(
        r#"
        CREATE TABLE orders (id int, amount numeric);
        INSERT INTO orders VALUES (1, 10.5), (2, 20);
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 15;
        CREATE MATERIALIZED VIEW order_totals AS SELECT sum(amount) AS total FROM orders;
        CREATE TABLE hidden (secret text);
        INSERT INTO hidden VALUES ('do not show');
        CREATE SCHEMA private;
        CREATE TABLE private.elsewhere (x int);
        "#,
    );
    let (role, reader_url) = reader_role(&db);
    db.execute(&format!(
        "GRANT SELECT ON orders, big_orders, order_totals TO \"{role}\";\n\
         GRANT USAGE ON SCHEMA private TO \"{role}\";\n\
         GRANT SELECT ON private.elsewhere TO \"{role}\";"
    ));

    // As the owner everything of `public` shows, `hidden` included.
    let owner = TestServer::start(db.url(), "");
    assert_eq!(
        names(&list(&owner)),
        ["big_orders", "hidden", "order_totals", "orders"]
    );

    let reader = TestServer::start(&reader_url, "");
    let listing = list(&reader);
    assert_eq!(names(&listing), ["big_orders", "order_totals", "orders"]);
    let orders = entry(&listing, "orders");
    assert_eq!(orders["description"], Value::Null);
    assert_eq!(
        orders["columns"],
        json!([{"name": "id", "type": "int4"}, {"name": "amount", "type": "numeric"}])
    );
    assert_eq!(
        orders["downloads"],
        json!({"csv": "/datasets/orders.csv", "tsv": "/datasets/orders.tsv", "jsonl": "/datasets/orders.jsonl", "json": "/datasets/orders.json"})
    );

    for (name, expected) in [
        ("orders", "id,amount\n1,10.5\n2,20\n"),
        ("big_orders", "id,amount\n2,20\n"),
        ("order_totals", "total\n30.5\n"),
    ] {
        let response = http::get_csv(reader.addr(), &format!("/datasets/{name}.csv"));
        assert_bytes_eq(&response.body, expected);
        assert_eq!(
            response.header("content-disposition"),
            Some(format!("attachment; filename=\"{name}.csv\"").as_str())
        );
    }
    for name in ["hidden", "elsewhere", "private.elsewhere"] {
        let error = expect_error(
            &reader,
            &format!("/datasets/{name}.csv"),
            404,
            "unknown_dataset",
        );
        let message = error["message"].as_str().unwrap();
        assert!(!message.contains("do not show"), "{message}");
    }
}

/// Discovery looks the catalog up on each request: a table created after the server
/// started is listed and downloadable without a restart, and a dropped one disappears.
#[test]
fn discovery_sees_tables_created_after_start() {
    let db = cluster().create_database("ds_late");
    db.execute("CREATE TABLE early (id int); INSERT INTO early VALUES (1);");
    let server = TestServer::start(db.url(), "");
    assert_eq!(names(&list(&server)), ["early"]);
    expect_error(&server, "/datasets/late.csv", 404, "unknown_dataset");

    db.execute("CREATE TABLE late (label text); INSERT INTO late VALUES ('new, \"here\"');");
    assert_eq!(names(&list(&server)), ["early", "late"]);
    let response = http::get_csv(server.addr(), "/datasets/late.csv");
    assert_bytes_eq(&response.body, "label\n\"new, \"\"here\"\"\"\n");

    db.execute("DROP TABLE early;");
    assert_eq!(names(&list(&server)), ["late"]);
    expect_error(&server, "/datasets/early.csv", 404, "unknown_dataset");
}

/// Discovered tables whose names have spaces, quotes, non-ASCII letters or characters
/// that mean something in a URL (`%`, `?`, `#`, `/`, `.`) are listed with a
/// percent-encoded link that downloads them, and their Content-Disposition has an
/// ASCII-only `filename` that cannot break out of its quotes or name a path, plus an
/// RFC 6266 `filename*` with the real name.
#[test]
fn discovery_serves_names_with_spaces_and_unicode() {
    let db = cluster().create_database("ds_unicode");
    let tables = ["Ventes \"été\" 2024 日本", "50% off? #1 / a.b"];
    for (n, table) in tables.iter().enumerate() {
        db.execute(&format!(
            "CREATE TABLE \"{}\" (n int); INSERT INTO \"{0}\" VALUES ({n});",
            table.replace('"', "\"\"")
        ));
    }
    let server = TestServer::start(db.url(), "");
    let listing = list(&server);
    assert_eq!(names(&listing), [tables[1], tables[0]]);
    for (n, table) in tables.iter().enumerate() {
        let expected = format!("n\n{n}\n");
        let link = entry(&listing, table)["downloads"]["csv"]
            .as_str()
            .expect("a csv link")
            .to_owned();
        assert!(
            link.starts_with("/datasets/") && link.ends_with(".csv"),
            "{link}"
        );
        assert!(
            link.bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"?#".contains(&b)),
            "the link must be percent-encoded: {link:?}"
        );
        assert_eq!(link.matches('/').count(), 2, "{link}");

        let response = http::get_csv(server.addr(), &link);
        assert_bytes_eq(&response.body, &expected);
        // Also by an encoding written independently of rowpipe's.
        let by_hand = format!("/datasets/{}.csv", percent_encode(table));
        assert_bytes_eq(&http::get_csv(server.addr(), &by_hand).body, &expected);

        let disposition = response
            .header("content-disposition")
            .expect("a Content-Disposition header")
            .to_owned();
        let (plain, extended) = parse_disposition(&disposition);
        assert!(plain.ends_with(".csv"), "{disposition}");
        assert!(
            plain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "the fallback filename must be plain ASCII: {disposition}"
        );
        let extended = extended.unwrap_or_else(|| panic!("no filename* in {disposition}"));
        let encoded = extended
            .strip_prefix("UTF-8''")
            .unwrap_or_else(|| panic!("filename* must be UTF-8'': {disposition}"));
        assert_eq!(percent_decode(encoded), format!("{table}.csv"));
    }
}

/// Splits `attachment; filename="..."; filename*=...` into the two file names.
#[track_caller]
fn parse_disposition(value: &str) -> (String, Option<String>) {
    let mut parts = value.split("; ");
    assert_eq!(parts.next(), Some("attachment"), "{value}");
    let plain = parts
        .next()
        .and_then(|part| part.strip_prefix("filename=\""))
        .and_then(|part| part.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no quoted filename in {value}"))
        .to_owned();
    let extended = parts.next().map(|part| {
        part.strip_prefix("filename*=")
            .unwrap_or_else(|| panic!("unexpected parameter in {value}"))
            .to_owned()
    });
    assert_eq!(parts.next(), None, "{value}");
    (plain, extended)
}

/// Percent-encodes every byte but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[track_caller]
fn percent_decode(text: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = std::str::from_utf8(&tail[..2]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[2..];
        } else {
            assert!(first.is_ascii_graphic(), "raw byte {first:#x} in {text:?}");
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).expect("UTF-8 after decoding")
}

// ---------------------------------------------------------------------------------------
// Failures before the first byte
// ---------------------------------------------------------------------------------------

/// A configured dataset whose SQL references a missing table is still listed (with
/// `columns: null` and an `error` object), the other datasets are unaffected, and
/// downloading it is a 500 `query_failed` with SQLSTATE 42P01 and a message naming the
/// dataset.
#[test]
fn broken_dataset_is_listed_with_its_error_and_fails_with_500() {
    let db = cluster().create_database("ds_broken");
    db.execute("CREATE TABLE orders (id int); INSERT INTO orders VALUES (7);");
    let server = TestServer::start(
        db.url(),
        r#"
        [[dataset]]
        name = "broken"
        description = "Typo in the table name"
        sql = "SELECT * FROM orderz"

        [[dataset]]
        name = "orders"
        table = "orders"
        "#,
    );
    let listing = list(&server);
    assert_eq!(names(&listing), ["broken", "orders"]);
    let broken = entry(&listing, "broken");
    assert_eq!(broken["description"], "Typo in the table name");
    assert_eq!(broken["columns"], Value::Null);
    assert_eq!(
        broken["downloads"],
        json!({"csv": "/datasets/broken.csv", "tsv": "/datasets/broken.tsv", "jsonl": "/datasets/broken.jsonl", "json": "/datasets/broken.json"})
    );
    assert_eq!(broken["error"]["code"], "query_failed", "{broken}");
    let listed_message = broken["error"]["message"]
        .as_str()
        .expect("an error message");
    assert!(listed_message.contains("\"broken\""), "{listed_message}");
    assert!(listed_message.contains("orderz"), "{listed_message}");
    let orders = entry(&listing, "orders");
    assert_eq!(orders["columns"], json!([{"name": "id", "type": "int4"}]));
    assert!(orders.get("error").is_none(), "{orders}");

    let error = expect_error(&server, "/datasets/broken.csv", 500, "query_failed");
    assert_eq!(error["sqlstate"], "42P01", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("dataset \"broken\""), "{message}");
    assert!(
        message.contains("relation \"orderz\" does not exist"),
        "{message}"
    );
    assert!(
        !message.contains("postgres@"),
        "no connection details: {message}"
    );

    // The failure did not poison the server.
    assert_bytes_eq(
        &http::get_csv(server.addr(), "/datasets/orders.csv").body,
        "id\n7\n",
    );
}

/// `GET /healthz` answers 200 `{"status":"ok"}` while the database answers.
#[test]
fn healthz_is_ok_while_the_database_answers() {
    let db = cluster().create_database("ds_health");
    let server = TestServer::start(db.url(), "");
    let response = http::get(server.addr(), "/healthz");
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(response.complete);
    assert_eq!(response.json(), json!({"status": "ok"}));
}

/// A query that fails in its first rows (division by zero at the third row) gets a proper
/// 500 JSON error with SQLSTATE 22012, because the server waits for the first chunk before
/// answering, not a 200 whose body breaks off. With one pooled connection, repeating it
/// and then downloading something else shows the failed connection was not kept busy.
#[test]
fn error_in_the_first_rows_is_a_json_500() {
    let db = cluster().create_database("ds_first_rows");
    let server = TestServer::start(
        db.url(),
        r#"
        [database]
        pool_size = 1

        [[dataset]]
        name = "divide"
        sql = "SELECT g, 1 / (g - 3) AS inverse FROM generate_series(1, 10) AS g"

        [[dataset]]
        name = "fine"
        sql = "SELECT 1 AS ok"
        "#,
    );
    for _ in 0..3 {
        let error = expect_error(&server, "/datasets/divide.csv", 500, "query_failed");
        assert_eq!(error["sqlstate"], "22012", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("dataset \"divide\""), "{message}");
        assert!(message.contains("division by zero"), "{message}");
    }
    // A connection kept busy would make this wait for the pool and fail with 503.
    assert_bytes_eq(
        &http::get_csv(server.addr(), "/datasets/fine.csv").body,
        "ok\n1\n",
    );
}

/// Dataset queries run in a read-only transaction: an `INSERT ... RETURNING`, an `UPDATE`,
/// a writable CTE and a sequence bump are refused with 500 and SQLSTATE 25006, and the
/// data is unchanged (listing them, which plans the queries, changes nothing either).
#[test]
fn dataset_queries_cannot_write() {
    let db = cluster().create_database("ds_readonly");
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1); CREATE SEQUENCE s;");
    let server = TestServer::start(
        db.url(),
        r#"
        [[dataset]]
        name = "insert"
        sql = "INSERT INTO t VALUES (2) RETURNING *"

        [[dataset]]
        name = "update"
        sql = "UPDATE t SET id = id + 100 RETURNING id"

        [[dataset]]
        name = "cte"
        sql = "WITH added AS (INSERT INTO t VALUES (3) RETURNING id) SELECT * FROM added"

        [[dataset]]
        name = "delete"
        sql = "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone"

        [[dataset]]
        name = "sequence"
        sql = "SELECT nextval('s') AS n"
        "#,
    );
    let listing = list(&server);
    assert_eq!(
        names(&listing),
        ["insert", "update", "cte", "delete", "sequence"]
    );
    for name in ["insert", "update", "cte", "delete", "sequence"] {
        let error = expect_error(
            &server,
            &format!("/datasets/{name}.csv"),
            500,
            "query_failed",
        );
        assert_eq!(error["sqlstate"], "25006", "{name}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("read-only transaction"),
            "{name}: {message}"
        );
    }
    assert_eq!(
        db.query_scalar("SELECT string_agg(id::text, ',') FROM t"),
        "1"
    );
    assert_eq!(
        db.query_scalar("SELECT last_value || ',' || is_called FROM s"),
        "1,false"
    );
}

/// `[database] statement_timeout` cancels a query that runs too long before its first
/// chunk: 503 with code `statement_timeout` and SQLSTATE 57014.
#[test]
fn statement_timeout_is_a_503() {
    let db = cluster().create_database("ds_timeout");
    let server = TestServer::start(
        db.url(),
        r#"
        [database]
        statement_timeout = "200ms"

        [[dataset]]
        name = "slow"
        sql = "SELECT pg_sleep(2) AS slept"

        [[dataset]]
        name = "quick"
        sql = "SELECT 42 AS answer"
        "#,
    );
    // (Without the timeout the query would end after 2 s and answer 200.)
    let error = expect_error(&server, "/datasets/slow.csv", 503, "statement_timeout");
    assert_eq!(error["sqlstate"], "57014", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("dataset \"slow\""), "{message}");
    assert!(message.contains("statement timeout"), "{message}");
    // A quick query under the same limit is fine.
    assert_bytes_eq(
        &http::get_csv(server.addr(), "/datasets/quick.csv").body,
        "answer\n42\n",
    );
}

/// Discovery can offer more schemas than `public` (their tables named `schema.table`) and
/// leave tables out by name patterns; what is left out is not served either.
#[test]
fn discovery_takes_schemas_and_exclusions() {
    let db = cluster().create_database("datasets_discovery");
    db.execute(
        "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1);
         CREATE TABLE a_audit (id int); CREATE SCHEMA sales;
         CREATE TABLE sales.orders (id int PRIMARY KEY, total numeric);
         INSERT INTO sales.orders VALUES (1, 9.5), (2, 10);
         CREATE TABLE sales.secret_margins (id int); CREATE SCHEMA hidden;
         CREATE TABLE hidden.t (id int);",
    );
    let config = "[discovery]\nschemas = [\"public\", \"sales\"]\n\
                  exclude = [\"*_audit\", \"sales.secret_*\"]\n";
    let server = TestServer::start(db.url(), config);
    let listing = http::get(server.addr(), "/datasets").json();
    let names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "sales.orders"]);
    let orders = http::get_csv(server.addr(), "/datasets/sales.orders.csv");
    assert_bytes_eq(
        &orders.body,
        db.copy_csv("SELECT * FROM sales.orders ORDER BY id"),
    );
    for hidden in ["a_audit", "sales.secret_margins", "hidden.t"] {
        let response = http::get(server.addr(), &format!("/datasets/{hidden}.csv"));
        assert_eq!(response.status, 404, "{hidden}");
    }
}
