#!/usr/bin/env python3
"""rowpipe's Python package in web views, against the classic generator pipeline.

On bench.py's 2,000,000-row table (its PostgreSQL cluster, kept in --workdir), in
interleaved rounds, each downloads ``SELECT * FROM bench_mixed ORDER BY id`` as CSV:

  - ``psql \\copy ... (FORMAT csv, HEADER)``, the reference, its stdout counted;
  - a Django view, the classic pipeline (psycopg2 named cursor, 5,000 rows a fetch,
    ``csv.writer``, ~64 KiB chunks, ``StreamingHttpResponse``), under gunicorn with one
    sync worker, fetched with curl to /dev/null;
  - a Django view returning rowpipe's iterator (``rowpipe.django.download``), under the
    same gunicorn;
  - a Starlette view returning rowpipe's async iterator, under uvicorn.

It reports medians: MB/s of each one's own bytes (the classic pipeline writes Python's
text for values, so its bytes differ from psql's), rows/s, each one's rows/s over the
classic pipeline's and over psql's, and the peak RSS (VmHWM) of each server's worker
after its downloads. The package must be installed as users install it (a release build):
``pip install ./python``; Django, gunicorn, uvicorn, Starlette and psycopg2-binary from
PyPI.

    python3 bench/python.py --workdir /tmp/rowpipe-bench --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the cluster, tables and measuring helpers)
from services import Service  # noqa: E402

APPS = Path(__file__).resolve().parent / "python_apps"


def servers(cluster: b.Cluster, workdir: Path) -> tuple[Service, Service]:
    env = {"BENCH_DSN": cluster.conninfo(), "BENCH_TABLE": b.MAIN_TABLE,
           "PYTHONPATH": str(APPS)}
    gunicorn_port, uvicorn_port = b.free_port(), b.free_port()
    gunicorn = Service([sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class",
                        "sync", "--timeout", "600", "--bind", f"127.0.0.1:{gunicorn_port}",
                        "bench_django:application"],
                       gunicorn_port, "/ready", workdir / "gunicorn.log", env, APPS)
    uvicorn = Service([sys.executable, "-m", "uvicorn", "--workers", "1", "--log-level",
                       "warning", "--port", str(uvicorn_port), "bench_starlette:app"],
                      uvicorn_port, "/ready", workdir / "uvicorn.log", env, APPS)
    return gunicorn, uvicorn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--small-rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rowpipe-bench"))
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    cluster = b.Cluster(workdir, keep=True)
    try:
        cluster.start()
        b.ensure_tables(cluster, args.rows, args.small_rows)
        return measure(args, cluster, workdir)
    finally:
        cluster.stop()


def measure(args, cluster: b.Cluster, workdir: Path) -> int:
    psql = b.psql_copy_cmd(cluster, b.MAIN_TABLE, order_by="id")
    names = ("psql \\copy csv", "Django classic pipeline, gunicorn sync",
             "Django + rowpipe iterator, gunicorn sync", "Starlette + rowpipe async, uvicorn")
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in names}
    gunicorn, uvicorn = servers(cluster, workdir)
    with gunicorn, uvicorn:
        # Warm-ups, untimed: the page cache, the pools, the workers' imports.
        for server, view in ((gunicorn, "/classic"), (gunicorn, "/rowpipe"), (uvicorn, "/rowpipe")):
            server.download(view)
        for round_ in range(args.rounds):
            r = b.run_measured(psql)
            samples[names[0]].append((r.wall, r.nbytes))
            samples[names[1]].append(gunicorn.download("/classic"))
            samples[names[2]].append(gunicorn.download("/rowpipe"))
            samples[names[3]].append(uvicorn.download("/rowpipe"))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        memory = {names[1]: gunicorn.vm_hwm_kb(), names[3]: uvicorn.vm_hwm_kb()}
    # The gunicorn worker served both Django views: its peak is the larger one's. Each
    # view alone, in a fresh worker:
    for view, name in (("/classic", names[1]), ("/rowpipe", names[2])):
        alone, _ = servers(cluster, workdir)
        with alone:
            alone.download(view)
            memory[name] = alone.vm_hwm_kb()

    wall = {name: statistics.median(w for w, _ in runs) for name, runs in samples.items()}
    print(f"\n{b.MAIN_TABLE}, {args.rows:,} rows as CSV over HTTP; medians of {args.rounds} "
          "rounds\n")
    print("| view | MB/s | rows/s | vs classic | vs psql \\copy | worker peak RSS | bytes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        nbytes = samples[name][0][1]
        rss = f"{memory[name] / 1024:.0f} MB" if name in memory else ""
        print(f"| {name} | {nbytes / wall[name] / 1e6:.0f} | {args.rows / wall[name]:,.0f} | "
              f"{wall[names[1]] / wall[name]:.2f}x | {wall[names[0]] / wall[name]:.2f}x | "
              f"{rss} | {nbytes:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
