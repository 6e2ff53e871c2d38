"""Every bad input raises the right ``rowpipe.Error`` subclass, with a message naming the
problem (and the SQLSTATE where the database gave one); none crashes the interpreter.
Errors before the first byte raise from ``export()``; later ones from the iterator."""

import pytest

import rowpipe

ORDERS = "CREATE TABLE orders (id int8 PRIMARY KEY, item text); INSERT INTO orders SELECT n, 'i' || n FROM generate_series(1, 1000) n;"


@pytest.fixture
def orders(db):
    db.execute(ORDERS)
    return db


@pytest.mark.parametrize(
    "sql, options, error, message",
    [
        ("SELECT * FROM no_such_table", {}, rowpipe.QueryError, "no_such_table"),
        ("SELEC 1", {}, rowpipe.QueryError, "SELEC"),
        ("SELECT * FROM orders WHERE id = $1", {"params": ["x"], "param_types": ["int8"]}, rowpipe.InvalidRequest, '"x"'),
        ("SELECT * FROM orders WHERE id = $1", {"params": ["x"]}, rowpipe.InvalidRequest, "x"),
        ("SELECT * FROM orders WHERE id = $1", {"params": [None]}, rowpipe.InvalidRequest, "params[0]"),
        ("SELECT * FROM orders WHERE id = $1", {"params": [b"1"]}, rowpipe.InvalidRequest, "params[0]"),
        ("SELECT * FROM orders WHERE id = $1", {"params": "1"}, rowpipe.InvalidRequest, "params"),
        ("SELECT * FROM orders WHERE id = $1", {"params": [1], "param_types": ["int8", "int8"]}, rowpipe.InvalidRequest, "param_types"),
        ("SELECT * FROM orders WHERE id = $1", {"params": [1], "param_types": ["no_such_type"]}, rowpipe.InvalidRequest, "no_such_type"),
        ("SELECT * FROM orders", {"columns": ["nope"]}, rowpipe.InvalidRequest, "nope"),
        ("SELECT * FROM orders", {"columns": "id"}, rowpipe.InvalidRequest, "columns"),
        ("SELECT * FROM orders", {"key": "nope"}, rowpipe.InvalidRequest, "nope"),
        ("SELECT * FROM orders", {"key": "id", "after": "abc"}, rowpipe.InvalidRequest, "abc"),
        ("SELECT * FROM orders", {"after": "5"}, rowpipe.InvalidRequest, "key"),
        ("SELECT * FROM orders", {"format": "xml"}, rowpipe.InvalidRequest, "xml"),
        ("SELECT * FROM orders", {"compress": "lz4"}, rowpipe.InvalidRequest, "lz4"),
        ("SELECT * FROM orders", {"delimiter": ";;"}, rowpipe.InvalidRequest, "delimiter"),
        ("SELECT * FROM orders", {"delimiter": "é"}, rowpipe.InvalidRequest, "delimiter"),
        ("SELECT * FROM orders", {"delimiter": '"'}, rowpipe.InvalidRequest, "delimiter"),
        ("SELECT * FROM orders", {"quoting": "sometimes"}, rowpipe.InvalidRequest, "sometimes"),
        ("SELECT * FROM orders", {"header": "yes"}, rowpipe.InvalidRequest, "header"),
        ("SELECT * FROM orders", {"limit": -1}, rowpipe.InvalidRequest, "limit"),
        ("SELECT * FROM orders", {"limit": "ten"}, rowpipe.InvalidRequest, "limit"),
        ("SELECT * FROM orders", {"max_rows": 2**70}, rowpipe.InvalidRequest, "max_rows"),
        ("SELECT * FROM orders", {"chunk_size": 0}, rowpipe.InvalidRequest, "chunk_size"),
        ("SELECT * FROM orders", {"statement_timeout": -1}, rowpipe.InvalidRequest, "statement_timeout"),
        ("SELECT * FROM orders", {"statement_timeout": float("nan")}, rowpipe.InvalidRequest, "statement_timeout"),
        ("SELECT * FROM orders", {"engine": "turbo"}, rowpipe.InvalidRequest, "turbo"),
        ("SELECT * FROM orders", {"engine": "copy", "format": "jsonl"}, rowpipe.InvalidRequest, "copy"),
        ("SELECT * FROM orders", {"no_such_option": 1}, rowpipe.InvalidRequest, "no_such_option"),
    ],
)
def test_bad_input_raises_at_export(orders, sql, options, error, message):
    with pytest.raises(error) as raised:
        rowpipe.export(orders.url, sql, **options)
    assert message in str(raised.value)
    assert isinstance(raised.value, rowpipe.Error)


def test_sqlstate_and_kinds(orders):
    with pytest.raises(rowpipe.QueryError) as raised:
        rowpipe.export(orders.url, "SELECT * FROM no_such_table")
    assert raised.value.sqlstate == "42P01"
    with pytest.raises(rowpipe.InvalidRequest) as raised:
        rowpipe.export(orders.url, "SELECT $1::int8", params=["x"])
    assert raised.value.sqlstate == "22P02"
    assert isinstance(raised.value, ValueError)
    with pytest.raises(rowpipe.Unavailable):
        rowpipe.export("postgres://nobody@127.0.0.1:1/none", "SELECT 1")
    with pytest.raises(rowpipe.ConfigError):
        rowpipe.export("postgres://[bad", "SELECT 1")
    with pytest.raises(rowpipe.InvalidRequest, match="pool_size"):
        rowpipe.Database(orders.url, pool_size=0)
    with pytest.raises(TypeError):
        rowpipe.export(orders.url)


def drain(chunks):
    taken = 0
    for chunk in chunks:
        taken += len(chunk)
    return taken


def test_errors_after_the_first_byte_raise_from_the_iterator(orders):
    late = rowpipe.export(orders.url, "SELECT n, 1 / (200000 - n) FROM generate_series(1, 300000) n")
    first = next(late)
    assert first.startswith(b"n,?column?\n")
    with pytest.raises(rowpipe.Error, match="division by zero") as raised:
        drain(late)
    assert raised.value.sqlstate == "22012"
    assert list(late) == []  # finished: nothing after the error
    with pytest.raises(rowpipe.LimitExceeded, match="max_rows"):
        drain(rowpipe.export(orders.url, "SELECT * FROM orders", max_rows=10))
    with pytest.raises(rowpipe.LimitExceeded, match="max_bytes"):
        drain(rowpipe.export(orders.url, "SELECT * FROM orders", max_bytes=100))
    with pytest.raises(rowpipe.InvalidKey):
        drain(rowpipe.export(orders.url, "SELECT 1 AS k UNION ALL SELECT 1", key="k"))
    with pytest.raises(rowpipe.QueryTimeout):
        drain(rowpipe.export(orders.url, "SELECT pg_sleep(5)", statement_timeout=0.1))
