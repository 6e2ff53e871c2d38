"""Closing, dropping or garbage-collecting an export, on any thread, or cancelling the task
that iterates its async face, cancels the query on the server within one second and
releases the connection: the pool stays healthy."""

import _thread
import asyncio
import gc
import threading
import time

import rowpipe

from conftest import ENDLESS, poll_until

ROUNDS = 25


def assert_no_active_query(db):
    assert poll_until(1.0, lambda: db.active_queries() == 0), "a cancelled query is still running"


def test_close_cancels_the_query_every_time_and_the_pool_stays_healthy(db):
    shared = rowpipe.Database(db.url, pool_size=2)
    for _ in range(ROUNDS):
        chunks = shared.export(ENDLESS)
        next(chunks)
        assert db.active_queries() == 1
        chunks.close()
        chunks.close()  # twice is fine
        assert_no_active_query(db)
        assert list(chunks) == []
    # Both connections of the pool still serve exports, at once.
    first, second = shared.export("SELECT 1 AS a"), shared.export("SELECT 2 AS b")
    assert (b"".join(first), b"".join(second)) == (b"a\n1\n", b"b\n2\n")


def test_dropping_or_collecting_on_another_thread_cancels(db):
    shared = rowpipe.Database(db.url, pool_size=1)
    for _ in range(ROUNDS):
        holder = [shared.export(ENDLESS)]
        next(holder[0])
        threading.Thread(target=holder.clear).start()
        assert_no_active_query(db)
    # A reference cycle: only the garbage collector frees it.
    chunks = shared.export(ENDLESS)
    next(chunks)
    cycle = [chunks]
    cycle.append(cycle)
    del chunks, cycle
    gc.collect()
    assert_no_active_query(db)
    assert b"".join(shared.export("SELECT 1 AS a")) == b"a\n1\n"


def test_close_wakes_a_thread_waiting_for_a_chunk(db):
    # Row 5,000 takes 30 s: the iterating thread takes the chunks of the rows before it
    # (the server sends its output in 8 KiB buffers), then waits inside __next__.
    chunks = rowpipe.export(
        db.url,
        "SELECT n, repeat('x', 100) AS filler, CASE WHEN n = 5000 THEN pg_sleep(30) END AS s "
        "FROM generate_series(1, 5000) n",
    )
    taken = []
    reader = threading.Thread(target=lambda: taken.extend(chunks))
    reader.start()
    assert poll_until(5.0, lambda: len(taken) > 0)
    reader.join(0.5)
    assert reader.is_alive()
    chunks.close()
    reader.join(1.0)
    assert not reader.is_alive(), "close() did not wake the waiting thread"
    assert_no_active_query(db)


def test_a_cancelled_async_task_cancels_the_query(db):
    async def main():
        shared = rowpipe.Database(db.url, pool_size=1)
        for _ in range(ROUNDS):
            chunks = await shared.export_async(ENDLESS, format="jsonl")
            taken = []

            async def consume():
                async for chunk in chunks:
                    taken.append(chunk)

            task = asyncio.create_task(consume())
            while not taken:
                await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert await asyncio.to_thread(poll_until, 1.0, lambda: db.active_queries() == 0)
        chunks = await rowpipe.export_async(db.url, "SELECT 1 AS a", format="jsonl")
        assert [chunk async for chunk in chunks] == [b'{"a":1}\n']

    asyncio.run(main())


#: Rows up to 5,000 at once, then 30 s of sleep: the first chunks come, then a long wait.
STALLING = (
    "SELECT n, repeat('x', 100) AS filler, CASE WHEN n = 5000 THEN pg_sleep(30) END AS s "
    "FROM generate_series(1, 5000) n"
)


def interrupted(action) -> float:
    """Runs ``action`` with what Ctrl-C does arriving after half a second; returns how long
    it took to raise ``KeyboardInterrupt``."""
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    try:
        action()
    except KeyboardInterrupt:
        return time.monotonic() - started
    finally:
        timer.cancel()
    raise AssertionError("it ended before the interrupt")


def test_ctrl_c_interrupts_a_long_wait_and_the_query_goes_with_the_iterator(db):
    chunks = rowpipe.export(db.url, STALLING)
    assert interrupted(lambda: [None for _ in chunks]) < 1.5
    del chunks
    assert_no_active_query(db)
    # The same while export() waits for a first row that takes 30 s.
    assert interrupted(lambda: rowpipe.export(db.url, "SELECT pg_sleep(30)")) < 1.5
    assert_no_active_query(db)


def test_an_interrupted_to_file_leaves_no_file_and_no_query(db, tmp_path):
    chunks = rowpipe.export(db.url, STALLING)
    assert interrupted(lambda: chunks.to_file(tmp_path / "slow.csv")) < 1.5
    assert list(tmp_path.iterdir()) == []
    assert_no_active_query(db)
