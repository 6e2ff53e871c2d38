#!/usr/bin/env python3
"""rowpipe on a SQLite file, against sqlite3's own CSV and Datasette's CSV stream.

The rows are bench.py's: its 2,000,000-row mixed table (and the 200,000-row one),
copied out of the PostgreSQL cluster bench.py keeps into one SQLite file, with
declared column types (INTEGER, REAL, TEXT) so that numbers are stored as numbers.
In interleaved rounds, each tool writes the whole table as CSV:

  - ``sqlite3 -csv -header FILE 'SELECT * FROM bench_mixed'`` (Debian's sqlite3), its
    stdout counted;
  - ``rowpipe serve --database FILE`` and curl, to /dev/null (the dataset is the table,
    discovered, with its INTEGER PRIMARY KEY as key: rows in key order);
  - Datasette's CSV stream, ``/bench/bench_mixed.csv?_stream=on&_size=max``, with curl
    (fewer rounds: it is slow).

Each tool's MB/s counts the bytes it wrote (their CSV dialects differ a little:
sqlite3 ends lines with CRLF and writes REAL as %.15g); rows/s is the same rows over
each one's wall time, and the ratio column is rowpipe's over the other's. Peak RSS of
a fresh ``rowpipe serve`` after downloading 200,000 and 2,000,000 rows shows whether
memory stays flat. Last, the wall time of ``rowpipe demo`` at 1,000,000 orders.

Run (from the repository root, after ``cargo build --release``; Datasette from PyPI):

    python3 bench/sqlite.py --workdir /tmp/rowpipe-bench
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the cluster, tables and measuring helpers)
from services import Service  # noqa: E402

SQLITE_SCHEMA = """
CREATE TABLE {table} (
    id INTEGER PRIMARY KEY, uid TEXT NOT NULL, short_text TEXT NOT NULL,
    long_text TEXT NOT NULL, maybe_int INTEGER, amount REAL NOT NULL, ratio REAL NOT NULL,
    flag TEXT NOT NULL, created_at TEXT NOT NULL, day TEXT NOT NULL, attrs TEXT NOT NULL,
    tags TEXT NOT NULL
);
"""


def build_sqlite(cluster: b.Cluster, rowpipe: Path, path: Path, tables: dict[str, int]) -> None:
    """Copies `tables` out of PostgreSQL (rowpipe's CSV) into a new SQLite file."""
    marker = path.with_suffix(".rows")
    wanted = repr(sorted(tables.items()))
    if path.exists() and marker.exists() and marker.read_text() == wanted:
        return
    path.unlink(missing_ok=True)
    print(f"copying {', '.join(tables)} into {path} ...", file=sys.stderr)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        script = ["PRAGMA journal_mode = OFF;", "PRAGMA synchronous = OFF;"]
        for table in tables:
            csv = Path(tmp) / f"{table}.csv"
            b.run_checked([str(rowpipe), "export", "--database", cluster.url(), "--quiet",
                           "--sql", f"SELECT * FROM {table} ORDER BY id", "--header", "false",
                           "-o", str(csv)])
            script += [SQLITE_SCHEMA.format(table=table), f".import --csv {csv} {table}",
                       # .import stores an empty field as '', not NULL.
                       f"UPDATE {table} SET maybe_int = NULL WHERE maybe_int = '';"]
        b.run_checked(["sqlite3", str(path)], input_text="\n".join(script) + "\nANALYZE;\n")
    marker.write_text(wanted)
    print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def rowpipe_serve(rowpipe: Path, db: Path, workdir: Path, label: str) -> Service:
    port = b.free_port()
    return Service([str(rowpipe), "serve", "--database", str(db), "--listen", f"127.0.0.1:{port}"],
                   port, "/readyz", workdir / f"sqlite-serve-{label}.log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--small-rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--datasette-rounds", type=int, default=1)
    parser.add_argument("--demo-rows", type=int, default=1_000_000)
    parser.add_argument("--binary", type=Path, default=b.REPO / "target/release/rowpipe")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rowpipe-bench"))
    args = parser.parse_args()
    rowpipe = args.binary.resolve()
    # The work directory is kept: it holds the cluster and the SQLite file made from it.
    cluster = b.Cluster(args.workdir.resolve(), keep=True)
    try:
        cluster.start()
        b.ensure_tables(cluster, args.rows, args.small_rows)
        db = args.workdir.resolve() / "bench.sqlite3"
        build_sqlite(cluster, rowpipe, db, {b.MAIN_TABLE: args.rows, b.SMALL_TABLE: args.small_rows})
    finally:
        cluster.stop()
    return measure(args, rowpipe, db)


def measure(args, rowpipe: Path, db: Path) -> int:
    table = b.MAIN_TABLE
    sqlite3 = ["sqlite3", "-csv", "-header", str(db), f"SELECT * FROM {table}"]
    samples: dict[str, list[tuple[float, int]]] = {"sqlite3 -csv": [], "rowpipe serve + curl": [],
                                                   "datasette ?_stream=on + curl": []}
    datasette_port = b.free_port()
    datasette = Service([sys.executable, "-m", "datasette", "serve", str(db), "--port",
                         str(datasette_port), "--setting", "sql_time_limit_ms", "600000",
                         "--setting", "num_sql_threads", "1",
                         # Datasette cuts a CSV stream off at 100 MB unless told otherwise.
                         "--setting", "max_csv_mb", "0"],
                        datasette_port, "/-/versions.json", args.workdir / "datasette.log")
    with rowpipe_serve(rowpipe, db, args.workdir, "main") as server, datasette:
        server.download(f"/datasets/{table}.csv")  # warm the page cache
        for round_ in range(args.rounds):
            r = b.run_measured(sqlite3)
            samples["sqlite3 -csv"].append((r.wall, r.nbytes))
            samples["rowpipe serve + curl"].append(server.download(f"/datasets/{table}.csv"))
            if round_ < args.datasette_rounds:
                samples["datasette ?_stream=on + curl"].append(
                    datasette.download(f"/bench/{table}.csv?_stream=on&_size=max"))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    memory = {}
    for label, dataset, rows in (("small", b.SMALL_TABLE, args.small_rows), ("main", table, args.rows)):
        with rowpipe_serve(rowpipe, db, args.workdir, f"rss-{label}") as server:
            server.download(f"/datasets/{dataset}.csv")
            memory[rows] = server.vm_hwm_kb()
    demo_walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            start = time.perf_counter()
            b.run_checked([str(rowpipe), "demo", "--rows", str(args.demo_rows), "--force",
                           "-o", str(Path(tmp) / "demo.db")])
            demo_walls.append(time.perf_counter() - start)

    # Every tool must have written the whole table: a CSV cut short is not a fast one.
    whole = samples["rowpipe serve + curl"][0][1]
    for name, runs in samples.items():
        for _, nbytes in runs:
            if abs(nbytes - whole) > whole * 0.02:
                raise b.BenchError(f"{name} wrote {nbytes:,} bytes, rowpipe {whole:,}: "
                                   "not the whole table")
    rowpipe_wall = statistics.median(w for w, _ in samples["rowpipe serve + curl"])
    print(f"\n{table}, {args.rows:,} rows, from a SQLite file ({db.stat().st_size:,} bytes); "
          f"medians of {args.rounds} rounds (Datasette: {args.datasette_rounds})\n")
    print("| tool | MB/s | rows/s | rowpipe's rows/s over this one's | bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in samples.items():
        if not runs:
            continue
        wall = statistics.median(w for w, _ in runs)
        nbytes = runs[0][1]
        print(f"| {name} | {nbytes / wall / 1e6:.0f} | {args.rows / wall:,.0f} | "
              f"{wall / rowpipe_wall:.2f}x | {nbytes:,} |")
    print("\nrowpipe serve peak RSS (VmHWM) after one download: "
          + ", ".join(f"{rows:,} rows {kb / 1024:.1f} MB" for rows, kb in memory.items()))
    print(f"rowpipe demo --rows {args.demo_rows:,}: median {statistics.median(demo_walls):.2f} s "
          f"of {len(demo_walls)} ({', '.join(f'{w:.2f}' for w in demo_walls)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
