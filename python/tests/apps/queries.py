"""The exports both test apps serve, by name, and the database they read."""

import os

import rowpipe

#: Opened once per worker process (after gunicorn's fork), shared by every request.
DB = rowpipe.Database(os.environ["ROWPIPE_TEST_DSN"], pool_size=4)

QUERIES = {
    "everything": "SELECT * FROM everything ORDER BY id",
    "endless": (
        "SELECT a * 100000 + b AS g, repeat('x', 100) AS filler "
        "FROM generate_series(0, 999) a, generate_series(1, 100000) b"
    ),
    "broken": "SELECT * FROM no_such_table",
}


def status_of(error: rowpipe.Error) -> int:
    """The HTTP status for an error before the first byte."""
    if isinstance(error, rowpipe.InvalidRequest):
        return 400
    if isinstance(error, rowpipe.Unavailable):
        return 503
    return 500
