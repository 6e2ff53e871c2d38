"""The GIL is released while the next chunk is produced: another Python thread keeps
running while a large export is iterated."""

import threading
import time

import rowpipe

ROWS = 1_000_000
SQL = f"SELECT n, repeat('x', 50) AS filler, n * 1.5 AS price FROM generate_series(1, {ROWS}) n"


def count_for(seconds: float, stop: threading.Event, counts: list) -> None:
    """Pure-Python work: counts loop turns until ``stop`` (or ``seconds``)."""
    turns = 0
    deadline = time.perf_counter() + seconds
    while not stop.is_set() and time.perf_counter() < deadline:
        turns += 1
    counts.append(turns)


def test_another_thread_keeps_running_during_an_export(db):
    # How much the counter does alone in a second.
    alone = []
    count_for(1.0, threading.Event(), alone)
    alone_rate = alone[0] / 1.0

    stop, counts = threading.Event(), []
    counter = threading.Thread(target=count_for, args=(60.0, stop, counts))
    started = time.perf_counter()
    counter.start()
    size = 0
    for chunk in rowpipe.export(db.url, SQL):
        size += len(chunk)
    elapsed = time.perf_counter() - started
    stop.set()
    counter.join()
    rate = counts[0] / elapsed
    print(f"export: {size / elapsed / 1e6:.1f} MB/s over {elapsed:.2f} s; "
          f"counter: {rate:,.0f} turns/s beside it, {alone_rate:,.0f} alone ({rate / alone_rate:.0%})")
    assert size > 50_000_000
    # The iterating thread holds the GIL only to hand over each 64 KiB chunk; the counter
    # thread gets most of it (the export's own threads and the server share the two
    # cores with it, so it cannot get all of it).
    assert rate > 0.3 * alone_rate
