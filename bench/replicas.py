#!/usr/bin/env python3
"""rowpipe spreading concurrent downloads over PostgreSQL's read replicas.

bench.py's cluster (in --workdir, kept) is the primary; two hot standbys of it are made
once with ``pg_basebackup -R`` beside it (``--workdir``-standby1, -standby2) and started
with the same settings. In interleaved rounds, ``rowpipe serve`` with ``[database]
replicas`` naming none, one or two of them answers 16 concurrent curl downloads of the
same table (``bench_mixed_small`` unless --table says otherwise), and the script reports
medians of: the aggregate throughput (all bytes over the wall time of the whole batch),
fairness (the slowest download's time over the fastest's), and the CPU seconds of every
PostgreSQL process (primary and standbys) per download.

On one machine the primary and its standbys share its cores, so this measures what the
spreading costs, not what it gains: a replica on a host of its own adds that host's cores.

    python3 bench/replicas.py --workdir /tmp/rowpipe-bench --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the cluster, tables and measuring helpers)
from services import Service  # noqa: E402

CONCURRENT = 16


class Standby(b.Cluster):
    """A hot standby of `primary`, made by pg_basebackup the first time it starts. It is
    not kept streaming (the primary's port changes from run to run): a copy to read."""

    def __init__(self, workdir: Path, primary: b.Cluster):
        super().__init__(workdir, keep=True)
        self.primary = primary

    def start(self) -> None:
        if not (self.datadir / "PG_VERSION").exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            if self.as_root:
                shutil.chown(self.workdir, "postgres", "postgres")
            print(f"pg_basebackup {self.datadir} ...", file=sys.stderr)
            self._server_run("pg_basebackup", "-D", str(self.datadir), "-R", "-X", "stream",
                             "-c", "fast", "-h", str(self.primary.sockdir),
                             "-p", str(self.primary.port), "-U", b.DB_USER)
        super().start()

    def ensure_database(self) -> None:
        pass  # read-only: the primary's databases came with the copy


def download_batch(port: int, table: str) -> tuple[float, list[float], int]:
    """16 concurrent curl downloads; (the batch's wall time, each one's, bytes in all)."""
    url = f"http://127.0.0.1:{port}/datasets/{table}.csv"
    times: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []

    def one() -> None:
        start = time.perf_counter()
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{http_code}",
                              url], capture_output=True, text=True)
        size, code = out.stdout.split()
        if out.returncode != 0 or code != "200":
            errors.append(f"curl exit {out.returncode}, HTTP {code}: {out.stderr.strip()}")
        times.append(time.perf_counter() - start)
        sizes.append(int(size))

    threads = [threading.Thread(target=one) for _ in range(CONCURRENT)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise b.BenchError("; ".join(errors))
    if len(set(sizes)) != 1:
        raise b.BenchError(f"downloads of different sizes: {sorted(set(sizes))}")
    return wall, times, sum(sizes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--small-rows", type=int, default=200_000)
    parser.add_argument("--table", default=b.SMALL_TABLE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--binary", type=Path, default=b.REPO / "target/release/rowpipe")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rowpipe-bench"))
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    primary = b.Cluster(workdir, keep=True)
    standbys = [Standby(Path(f"{workdir}-standby{n}"), primary) for n in (1, 2)]
    clusters = [primary, *standbys]
    try:
        primary.start()
        b.ensure_tables(primary, args.rows, args.small_rows)
        primary.psql("CHECKPOINT")
        for standby in standbys:
            standby.start()
        return measure(args, primary, standbys, workdir)
    finally:
        for cluster in clusters:
            cluster.stop()


def measure(args, primary: b.Cluster, standbys: list[Standby], workdir: Path) -> int:
    setups = {"primary only": [], "1 replica": standbys[:1], "2 replicas": standbys}
    clusters = [primary, *standbys]
    results: dict[str, list[tuple[float, float, list[float], int]]] = {name: [] for name in setups}
    with tempfile.TemporaryDirectory() as tmp:
        services = {}
        for name, replicas in setups.items():
            config = Path(tmp) / f"{name.replace(' ', '-')}.toml"
            urls = ", ".join(f'"{standby.url()}"' for standby in replicas)
            # The standbys do not stream (see Standby): their lag cannot be told, so none
            # is asked for.
            config.write_text(f"[database]\npool_size = {CONCURRENT}\nreplicas = [{urls}]\n"
                              'max_lag = "0s"\n'
                              f"[server]\nmax_downloads = {CONCURRENT}\n"
                              f"max_downloads_per_client = {CONCURRENT}\n")
            port = b.free_port()
            services[name] = Service([str(args.binary), "serve", "--database", primary.url(),
                                      "--config", str(config), "--listen", f"127.0.0.1:{port}"],
                                     port, "/readyz", workdir / f"replicas-{config.stem}.log")
        for service in services.values():
            service.__enter__()
        try:
            for service in services.values():
                download_batch(service.port, args.table)  # warm-up
            for round_ in range(args.rounds):
                for name, service in services.items():
                    before = [c.server_cpu() for c in clusters]
                    wall, times, nbytes = download_batch(service.port, args.table)
                    cpu = [c.server_cpu() - was for c, was in zip(clusters, before)]
                    results[name].append((wall, max(times) / min(times), cpu, nbytes))
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for service in services.values():
                service.__exit__()

    print(f"\n{CONCURRENT} concurrent downloads of {args.table} as CSV; medians of "
          f"{args.rounds} rounds\n")
    print("| rowpipe serve reads from | aggregate MB/s | slowest / fastest download | "
          "database CPU s per download | of it on primary / standby 1 / standby 2 |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        per_download = statistics.median(sum(r[2]) / CONCURRENT for r in runs)
        shares = [sum(r[2][i] for r in runs) / sum(sum(r[2]) for r in runs) for i in range(3)]
        print(f"| {name} | {runs[0][3] / wall / 1e6:.0f} | "
              f"{statistics.median(r[1] for r in runs):.2f} | {per_download:.3f} | "
              + " / ".join(f"{share:.0%}" for share in shares) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
