"""The iterator's bytes are PostgreSQL's own: ``psql \\copy`` for csv and tsv,
``row_to_json`` for jsonl, on the edge-value table; every option reaches the export; SQLite
files; ``to_file`` is atomic."""

import gzip
import json
import sqlite3

import pytest

import rowpipe

EVERYTHING = "SELECT * FROM everything ORDER BY id"


def test_csv_tsv_and_jsonl_are_psqls(everything):
    assert b"".join(rowpipe.export(everything.url, EVERYTHING)) == everything.copy(EVERYTHING)
    tsv = b"".join(rowpipe.export(everything.url, EVERYTHING, format="tsv"))
    assert tsv == everything.copy(EVERYTHING, "FORMAT text, HEADER")
    jsonl = b"".join(rowpipe.export(everything.url, EVERYTHING, format="jsonl"))
    assert jsonl == everything.row_to_json(EVERYTHING)
    lone = "SELECT t FROM everything ORDER BY id"
    assert b"".join(rowpipe.export(everything.url, lone)) == everything.copy(lone)


def test_json_is_one_array_of_the_same_objects(everything):
    document = b"".join(rowpipe.export(everything.url, EVERYTHING, format="json"))
    lines = everything.row_to_json(EVERYTHING).splitlines()
    assert document == b"[\n" + b",\n".join(lines) + b"\n]\n"


def test_every_option_reaches_the_export(db):
    db.execute(
        "CREATE TABLE orders (id int8 PRIMARY KEY, item text, price numeric);"
        "INSERT INTO orders SELECT n, 'item, \"' || n || '\"', n * 1.25 FROM generate_series(1, 3000) n;"
    )
    ours = b"".join(rowpipe.export(
        db.url, "SELECT * FROM orders WHERE price > $1", params=["10"], param_types=["numeric"],
        columns=["item", "id"], key="id", after=100, limit=7, delimiter=";", null="NULL",
        header=False, chunk_size=16,
    ))
    assert ours == db.copy(
        "SELECT item, id FROM orders WHERE price > 10 AND id > 100 ORDER BY id LIMIT 7",
        "FORMAT csv, DELIMITER ';', NULL 'NULL'",
    )
    chunks = list(rowpipe.export(db.url, "SELECT * FROM orders ORDER BY id", chunk_size=1000))
    assert all(len(chunk) == 1000 for chunk in chunks[:-1])
    assert b"".join(chunks) == db.copy("SELECT * FROM orders ORDER BY id")
    quoted = b"".join(rowpipe.export(db.url, "SELECT * FROM orders WHERE id = 1", quoting="all", quote="'"))
    assert quoted == db.copy("SELECT * FROM orders WHERE id = 1", "FORMAT csv, HEADER, QUOTE '''', FORCE_QUOTE *")
    excel = b"".join(rowpipe.export(db.url, "SELECT '=1+2' AS f", excel=True))
    assert excel == b"\xef\xbb\xbff\r\n'=1+2\r\n"
    packed = rowpipe.export(db.url, "SELECT * FROM orders ORDER BY id", compress="gzip")
    assert packed.content_type == "application/gzip"
    assert packed.filename("orders") == "orders.csv.gz"
    assert gzip.decompress(b"".join(packed)) == db.copy("SELECT * FROM orders ORDER BY id")
    copied = b"".join(rowpipe.export(db.url, "SELECT * FROM orders ORDER BY id", engine="copy"))
    assert copied == db.copy("SELECT * FROM orders ORDER BY id")
    server = b"".join(rowpipe.export(db.url, "SELECT * FROM orders ORDER BY id", server_formatting=True))
    assert server == db.copy("SELECT * FROM orders ORDER BY id")
    # The same options through a shared Database, with a timeout that is not reached.
    shared = rowpipe.Database(db.url, pool_size=2)
    jsonl = b"".join(shared.export("SELECT * FROM orders WHERE id <= $1 ORDER BY id", params=[3],
                                   format="jsonl", statement_timeout=30, max_rows=3, max_bytes=10_000,
                                   prefetch_depth=0))
    assert jsonl == db.row_to_json("SELECT * FROM orders WHERE id <= 3 ORDER BY id")


def test_to_file_is_atomic(db, tmp_path):
    db.execute("CREATE TABLE t AS SELECT n FROM generate_series(1, 100000) n")
    target = tmp_path / "t.csv"
    written = rowpipe.export(db.url, "SELECT n FROM t ORDER BY n").to_file(target)
    assert target.read_bytes() == db.copy("SELECT n FROM t ORDER BY n")
    assert written == target.stat().st_size
    assert not (tmp_path / "t.csv.part").exists()
    # A failure half way leaves the complete file of before untouched, and no part file.
    failing = rowpipe.export(db.url, "SELECT n, 1 / (90000 - n) FROM t ORDER BY n")
    with pytest.raises(rowpipe.Error, match="division by zero"):
        failing.to_file(target)
    assert target.read_bytes() == db.copy("SELECT n FROM t ORDER BY n")
    assert not (tmp_path / "t.csv.part").exists()
    # The whole export or nothing: not what is left after chunks were taken.
    started = rowpipe.export(db.url, "SELECT n FROM t")
    next(started)
    with pytest.raises(rowpipe.InvalidRequest, match="already taken"):
        started.to_file(tmp_path / "rest.csv")
    with pytest.raises(rowpipe.WriteError, match="no-such-folder"):
        rowpipe.export(db.url, "SELECT 1").to_file(tmp_path / "no-such-folder" / "x.csv")


SQLITE_ROWS = [
    (1, -9223372036854775808, 1e308, "plain", b"\x00\xff", 1),
    (2, 9223372036854775807, 5e-324, "", b"", 2.5),
    (3, 0, 0.1, None, None, "x,y"),
    (4, -1, 1.5, 'a"b\nc', b"\\", b"\x01"),
    (5, None, None, "é😀", None, None),
]

SQLITE_CSV = (
    b"id,i,r,s,b,m\n"
    b"1,-9223372036854775808,1e+308,plain,\\x00ff,1\n"
    b"2,9223372036854775807,5e-324,\"\",\\x,2.5\n"
    b"3,0,0.1,,,\"x,y\"\n"
    b"4,-1,1.5,\"a\"\"b\nc\",\\x5c,\\x01\n"
    b"5,,,\xc3\xa9\xf0\x9f\x98\x80,,\n"
)


@pytest.fixture
def sqlite_file(tmp_path):
    path = tmp_path / "shop.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, m)")
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", SQLITE_ROWS)
    connection.commit()
    connection.close()
    return path


def test_sqlite_files(sqlite_file):
    assert b"".join(rowpipe.export(sqlite_file, "SELECT * FROM t ORDER BY id")) == SQLITE_CSV
    url = f"sqlite:{sqlite_file}"
    rows = [json.loads(line) for line in b"".join(rowpipe.export(url, "SELECT id, s FROM t", format="jsonl")).splitlines()]
    assert rows == [{"id": r[0], "s": r[3]} for r in SQLITE_ROWS]
    db = rowpipe.Database(url)
    keyed = b"".join(db.export("SELECT id, s FROM t", key="id", after=3, params=[]))
    assert keyed == b"id,s\n4,\"a\"\"b\nc\"\n5,\xc3\xa9\xf0\x9f\x98\x80\n"
    typed = b"".join(db.export("SELECT id FROM t WHERE i = $1 OR b = $2", params=["-1", "\\x00ff"],
                               param_types=["integer", "blob"], header=False))
    assert typed == b"1\n4\n"
    with pytest.raises(rowpipe.InvalidRequest, match="not a valid integer"):
        db.export("SELECT id FROM t WHERE i = $1", params=["one"], param_types=["integer"])
    with pytest.raises(rowpipe.QueryError, match="no such table: nope"):
        db.export("SELECT * FROM nope")
    with pytest.raises(rowpipe.ConfigError, match="missing.db"):
        rowpipe.export(sqlite_file.parent / "missing.db", "SELECT 1")
