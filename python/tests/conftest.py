"""Shared fixtures: one PostgreSQL cluster for the session, a database per test, the
edge-value table of the Rust suite (``tests/fixtures/everything.sql``), polling."""

import time
from pathlib import Path
from typing import Callable

import pytest

from postgres import Cluster, Db

REPO = Path(__file__).resolve().parents[2]

#: Rows without end for practical purposes: 100,000,000 of about 110 bytes.
ENDLESS = (
    "SELECT a * 100000 + b AS g, repeat('x', 100) AS filler "
    "FROM generate_series(0, 999) a, generate_series(1, 100000) b"
)


@pytest.fixture(scope="session")
def cluster():
    started = Cluster()
    yield started
    started.stop()


@pytest.fixture
def db(cluster, request) -> Db:
    return cluster.create_database(request.node.name[:30].lower().replace("[", "_").replace("]", "_").replace("-", "_"))


@pytest.fixture(scope="session")
def everything(cluster) -> Db:
    """A database with the edge-value table ``everything``."""
    created = cluster.create_database("everything")
    created.execute((REPO / "tests" / "fixtures" / "everything.sql").read_text())
    return created


def poll_until(limit: float, condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` became true within ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
