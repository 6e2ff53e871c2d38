#!/usr/bin/env python3
"""rowpipe throughput and memory benchmark.

What it measures, all over TCP on 127.0.0.1 against its own throw-away
PostgreSQL 15 cluster, on a deterministic N-row table of mixed column types
(``bench_mixed``, about 400 bytes of CSV per row):

  psql     ``psql -X ... -c "\\copy (SELECT * FROM bench_mixed) TO STDOUT
           WITH (FORMAT csv, HEADER)" > /dev/null`` -- the reference.
  export   ``rowpipe export --database URL --sql "SELECT * FROM bench_mixed"
           --quiet > /dev/null``: the default, typed engine (binary COPY,
           formatted by rowpipe).
  copy     the same with ``--engine copy``: PostgreSQL's own COPY CSV,
           passed through.
  jsonl    the same with ``--format jsonl``; checked against, and timed
           against, psql's ``SELECT row_to_json(q) ...`` (line breaks of json
           values as spaces, as rowpipe writes JSON Lines), itself timed in
           the same rounds.
  params   ``curl`` downloading a dataset with a bound parameter
           (``SELECT * FROM bench_mixed WHERE id >= $1``, ``?min_id=0``: every
           row, through the portal route) from ``rowpipe serve --config``;
           compare with ``serve``, the same rows without parameters.
  serve    ``curl`` downloading ``/datasets/bench_mixed.csv`` from
           ``rowpipe serve --config`` with a ``table = "bench_mixed"`` dataset
           (no key: the table as the server reads it; fresh server, its peak
           RSS, VmHWM, is read from /proc after the downloads).
  trailers the serve download with ``TE: trailers``: the body's SHA-256 (and its
           rows and bytes) sent as trailers; compare with serve (target: under 5%).
  keyed    the same table discovered (``rowpipe serve`` without a config):
           its primary key is its key, so the export is read in key order.
  memory   the server's VmHWM after downloading a 200,000-row copy of the
           table (``bench_mixed_small``, fresh server) vs. the N-row table.
  overload a server with a pool of 16 (so 16 downloads at once) under two loads.
           Under its limit: 8 clients that stall (send a request, read nothing) and
           7 that read at 1 MB/s; a normal client's curl download of
           ``bench_mixed_small`` is timed beside the same download on the idle
           server (target: at most 1.5x). Over it: 64 clients at 1 MB/s and 8
           stalled ones; how many are admitted, how fast the rest are refused
           (503), the server's peak RSS and the database connections it holds.
  gzip/zstd the table over HTTP compressed (``Accept-Encoding: gzip`` or ``zstd``,
           rowpipe's default level 1), beside psql's CSV piped to ``gzip -1`` or
           ``zstd -1`` in the same rounds: MB/s of the uncompressed CSV they carry,
           the compressed size, CPU; the warm-up decompresses each and checks it is
           psql's CSV.
  variants (with --variants) chunk size 8/64/256 KiB x prefetch depth 0/1/4,
           through ``rowpipe export --chunk-size/--prefetch-depth`` and
           ``rowpipe serve --config FILE`` ([stream] chunk_size/prefetch_depth).

Every measurement runs once untimed first (warm-up; it also checks that the
CSV is byte for byte psql's: same length and SHA-256), then --rounds timed
rounds, interleaved (round r runs every measurement once, in a rotated
order); every timed run counts the bytes it received and must have psql's
length.  Medians are reported.  MB = 10^6 bytes, received bytes over wall
time.  "pg CPU" is the CPU time that the PostgreSQL server processes
(backends and postmaster) used during a run; "total CPU" adds the client's.

The binary is always rebuilt from the tree, and a tree with uncommitted
changes is refused (--allow-dirty overrides, and the results say so), so
that every result names the commit it measured.

With --baseline REV, the typed export, jsonl, serve and keyed measurements
also run with the binary built from git revision REV (in a temporary
worktree), in the same interleaved rounds, and a table compares the two.

Run (from the repository root):

    python3 bench/bench.py                       # 2,000,000 rows, 5 rounds
    python3 bench/bench.py --rows 50000 --rounds 2 --keep
    python3 bench/bench.py --variants --markdown bench/RESULTS.md
    python3 bench/bench.py --baseline HEAD~3 --only psql,export,jsonl,serve

Standard library only; needs PostgreSQL 15 server binaries (pg_config
--bindir or /usr/lib/postgresql/15/bin), psql and curl.  As root, the
cluster runs as the ``postgres`` user through ``runuser``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DB_NAME = "rowpipe_bench"
DB_USER = "bench"
MAIN_TABLE = "bench_mixed"
SMALL_TABLE = "bench_mixed_small"
# Bump when the table definition below changes, so that --keep rebuilds it.
TABLE_VERSION = "v2"
CHUNK = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
MEASUREMENTS = ("psql", "export", "copy", "jsonl", "serve", "keyed", "params", "memory",
                "overload", "gzip", "zstd", "trailers")
# The compressors of the gzip and zstd measurements: (compress, decompress) commands.
CODECS = {"gzip": (["gzip", "-1"], ["gzip", "-dc"]), "zstd": (["zstd", "-1", "-q"], ["zstd", "-dcq"])}
# The measurements --baseline repeats with the baseline's binary.
BASELINE_MEASUREMENTS = ("export", "jsonl", "serve", "keyed")
# The references, by case name: psql's COPY CSV, and psql's row_to_json lines,
# which jsonl is measured against (the same rows, the same JSON bytes).
PSQL_CSV = "psql \\copy"
PSQL_JSONL = "psql row_to_json"
DEFAULT_DEPTHS = "0,1,4"
DEFAULT_CHUNKS_KIB = "8,64,256"


class BenchError(Exception):
    """A failure that ends the benchmark with a message and exit code 1."""


# --------------------------------------------------------------------------
# Processes


def client_env() -> dict[str, str]:
    """The environment for psql/rowpipe/curl: no stray PG* or DATABASE_URL."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k != "DATABASE_URL"}
    env["LC_ALL"] = "C"
    return env


def run_checked(cmd: list[str], *, input_text: str | None = None,
                env: dict[str, str] | None = None, cwd: str | None = None) -> str:
    """Run a command to completion; on failure raise with its stderr."""
    proc = subprocess.run(cmd, input=input_text, capture_output=True, text=True,
                          env=env if env is not None else client_env(), cwd=cwd)
    if proc.returncode != 0:
        raise BenchError(f"command failed (exit {proc.returncode}): {shlex.join(cmd)}\n"
                         f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class Csv:
    """Length and SHA-256 of a CSV stream, to compare outputs without keeping them."""
    nbytes: int
    sha256: str


@dataclass
class ProcResult:
    wall: float           # seconds
    cpu: float            # user+system seconds of the process (from wait4)
    peak_rss_kb: int | None  # VmHWM of the process, polled while it runs
    nbytes: int | None    # bytes it wrote to stdout, when counted
    csv: Csv | None       # length and SHA-256 of its stdout, when hashed


class HwmPoller(threading.Thread):
    """Polls a child's VmHWM every 10 ms until stopped.

    wait4()'s ru_maxrss is no use here: it includes the RSS of the forked
    Python interpreter before exec.  So VmHWM is read from /proc, only once
    the child runs the program (its Name is no longer the interpreter's).
    The last reading before exit is within 10 ms of the true peak.
    """

    def __init__(self, pid: int, program: str):
        super().__init__(daemon=True)
        self.pid = pid
        self.name_prefix = os.path.basename(program)[:15]
        self.peak_kb: int | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    status = f.read()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if fields.get("Name", "").strip() != self.name_prefix or "VmHWM" not in fields:
                continue
            kb = int(fields["VmHWM"].split()[0])
            self.peak_kb = max(self.peak_kb or 0, kb)


def run_measured(cmd: list[str], *, hash_stdout: bool = False) -> ProcResult:
    """Run cmd with its stdout counted in 1 MiB reads (and hashed with
    hash_stdout), never kept.

    Every run counts what it received, so that a command that exits 0 after
    writing too little (or too much) cannot pass for a fast one.

    Wall time comes from perf_counter, CPU time from wait4(), peak RSS from
    polling /proc; stderr goes to a temporary file and is shown if the
    command fails.
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=client_env())
        poller = HwmPoller(proc.pid, cmd[0])
        poller.start()
        csv = None
        try:
            if hash_stdout:
                csv = hash_stream(proc.stdout)
                nbytes = csv.nbytes
            else:
                nbytes = count_stream(proc.stdout)
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # e.g. Ctrl-C: do not leave the command running
            proc.kill()
            proc.wait()
            raise
        finally:
            poller.done.set()
        wall = time.perf_counter() - start
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise BenchError(f"command failed (exit {proc.returncode}): {shlex.join(cmd)}\n"
                             f"{err.read().decode(errors='replace').strip()}")
    return ProcResult(wall, usage.ru_utime + usage.ru_stime, poller.peak_kb, nbytes, csv)


def count_stream(stream) -> int:
    nbytes = 0
    buf = bytearray(CHUNK)
    while n := stream.readinto(buf):
        nbytes += n
    return nbytes


def hash_stream(stream) -> Csv:
    nbytes = 0
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := stream.readinto(buf):
        nbytes += n
        digest.update(view[:n])
    return Csv(nbytes, digest.hexdigest())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat_cpu(pid: int, children: bool = False) -> float:
    """utime+stime (and cutime+cstime if children) of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime..cstime are fields 14..17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def vm_hwm_kb(pid: int) -> int:
    """Peak resident set size (VmHWM) of a live process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise BenchError(f"no VmHWM in /proc/{pid}/status")


# --------------------------------------------------------------------------
# PostgreSQL cluster


def find_pg_bindir() -> Path:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates.append(Path("/usr/lib/postgresql/15/bin"))
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    raise BenchError("PostgreSQL server binaries (initdb, pg_ctl) not found via "
                     "pg_config --bindir nor in /usr/lib/postgresql/15/bin")


class Cluster:
    """An ephemeral PostgreSQL cluster on 127.0.0.1:port plus a unix socket."""

    def __init__(self, workdir: Path, keep: bool):
        self.workdir = workdir
        self.keep = keep
        self.datadir = workdir / "data"
        self.sockdir = workdir / "sock"
        self.logfile = workdir / "postgres.log"
        self.bindir = find_pg_bindir()
        self.as_root = os.geteuid() == 0
        self.port = 0
        self.started = False

    # Commands that touch the data directory run as the postgres user when
    # we are root (PostgreSQL refuses to run as root).
    def _server_cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_root else cmd

    def _server_run(self, *args: str) -> str:
        env = client_env()
        env.pop("LC_ALL")
        env["LANG"] = "C"
        return run_checked(self._server_cmd(*args), env=env, cwd=str(self.workdir))

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if self.as_root:
            shutil.chown(self.workdir, "postgres", "postgres")
            shutil.chown(self.sockdir, "postgres", "postgres")
        if not (self.datadir / "PG_VERSION").exists():
            print(f"initdb {self.datadir}", file=sys.stderr)
            self._server_run("initdb", "-D", str(self.datadir), "--auth=trust",
                             f"--username={DB_USER}", "--encoding=UTF8", "--locale=C",
                             "--no-sync")
        elif self.is_running():
            print("stopping a cluster left running in the work directory", file=sys.stderr)
            self._server_run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")
        self.port = free_port()
        opts = " ".join([
            f"-k {shlex.quote(str(self.sockdir))}",
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c shared_buffers=256MB", "-c max_wal_size=4GB",
            "-c autovacuum=off", "-c timezone=UTC", "-c max_connections=200",
        ])
        self._server_run("pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.logfile),
                         "-w", "-t", "120", "-o", opts)
        self.started = True
        self.ensure_database()

    def is_running(self) -> bool:
        proc = subprocess.run(self._server_cmd("pg_ctl", "status", "-D", str(self.datadir)),
                              capture_output=True, cwd=str(self.workdir))
        return proc.returncode == 0

    def stop(self) -> None:
        if self.started:
            self.started = False
            try:
                self._server_run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast",
                                 "-w", "-t", "60")
            except BenchError as e:
                print(f"warning: {e}", file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def conninfo(self, dbname: str = DB_NAME) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={DB_USER}"

    def url(self) -> str:
        return f"postgres://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def psql(self, sql: str, dbname: str = DB_NAME) -> str:
        """Run SQL through psql (unaligned, tuples only) and return stdout."""
        return run_checked(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            self.conninfo(dbname), "-f", "-"], input_text=sql)

    def ensure_database(self) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'",
                           dbname="postgres").strip()
        if not exists:
            self.psql(f"CREATE DATABASE {DB_NAME}", dbname="postgres")

    def server_version(self) -> str:
        return self.psql("SHOW server_version").strip()

    def postmaster_pid(self) -> int:
        return int((self.datadir / "postmaster.pid").read_text().split()[0])

    def server_cpu(self) -> float:
        """CPU seconds used so far by the postmaster and all its children.

        Children that already exited are in the postmaster's cutime/cstime
        once reaped; live (or zombie) children are read one by one.  Read
        until the child list is the same before and after, so that a child
        reaped meanwhile is neither lost nor counted twice.
        """
        pm = self.postmaster_pid()
        for _ in range(10):
            kids = children_of(pm)
            total = proc_stat_cpu(pm, children=True)
            for pid in kids:
                try:
                    total += proc_stat_cpu(pid, children=True)
                except (FileNotFoundError, ProcessLookupError):
                    break
            else:
                if children_of(pm) == kids:
                    return total
        return total


def children_of(ppid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            kids.append(int(entry))
    return sorted(kids)


# --------------------------------------------------------------------------
# Benchmark tables

# 791,045,221 bytes of CSV (~396 per row) at 2,000,000 rows.  Every value is
# derived from the row number i, so the table is the same on every machine and
# run.  Long texts are 141-231 characters plus, sometimes, a quoted phrase and
# a second line.
CREATE_TABLE_SQL = """
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (
    id          bigint PRIMARY KEY,
    uid         uuid NOT NULL,
    short_text  text NOT NULL,
    long_text   text NOT NULL,
    maybe_int   integer,
    amount      numeric(12,2) NOT NULL,
    ratio       double precision NOT NULL,
    flag        boolean NOT NULL,
    created_at  timestamptz NOT NULL,
    day         date NOT NULL,
    attrs       jsonb NOT NULL,
    tags        text[] NOT NULL
);
INSERT INTO {table}
SELECT
    i,
    md5('uid' || i)::uuid,
    CASE WHEN i % 13 = 0 THEN 'item ' || i || ', "special"' ELSE 'item-' || i END,
    left(repeat(md5(i::text) || ', ' || left(md5((i * 7)::text), 12) || ' lorem ipsum dolor ', 8),
         141 + (i * 37 % 91)::int)
        || CASE WHEN i % 5 = 0 THEN ' she said "hello, world"' ELSE '' END
        || CASE WHEN i % 7 = 0 THEN E'\\nsecond line, after a newline' ELSE '' END,
    CASE WHEN i % 10 = 3 THEN NULL ELSE (i * 7919 % 100000)::int END,
    ((i * 104729 % 100000000) / 100.0)::numeric(12,2),
    (i * 2654435761 % 1000003)::float8 / 997,
    i % 3 = 0,
    timestamptz '2024-01-01 00:00:00+00' + i * interval '1.137 seconds',
    date '2000-01-01' + (i % 9000)::int,
    jsonb_build_object('n', i % 1000, 'tag', 'tag' || (i % 17), 'ok', i % 2 = 0),
    (ARRAY['a' || (i % 10), 'bb' || (i % 7), 'ccc', 'd d,' || (i % 5)])[1:2 + (i % 3)::int]
FROM generate_series(1::bigint, {rows}) AS i;
COMMENT ON TABLE {table} IS '{marker}';
"""

COPY_SMALL_SQL = """
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (LIKE {source} INCLUDING ALL);
INSERT INTO {table} SELECT * FROM {source} WHERE id <= {rows} ORDER BY id;
COMMENT ON TABLE {table} IS '{marker}';
"""


def table_marker(rows: int) -> str:
    return f"rowpipe-bench {TABLE_VERSION} rows={rows}"


def table_is_current(cluster: Cluster, table: str, rows: int) -> bool:
    out = cluster.psql(f"SELECT obj_description(to_regclass('public.{table}'), 'pg_class')"
                       ).strip()
    return out == table_marker(rows)


def ensure_tables(cluster: Cluster, rows: int, small_rows: int) -> None:
    """Create bench_mixed (rows) and bench_mixed_small (first small_rows)."""
    if not table_is_current(cluster, MAIN_TABLE, rows):
        print(f"creating {MAIN_TABLE} with {rows:,} rows ...", file=sys.stderr)
        start = time.perf_counter()
        cluster.psql(CREATE_TABLE_SQL.format(table=MAIN_TABLE, rows=rows,
                                             marker=table_marker(rows)))
        cluster.psql(f"VACUUM (FREEZE, ANALYZE) {MAIN_TABLE}")
        print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        cluster.psql(f"DROP TABLE IF EXISTS {SMALL_TABLE}")
    if not table_is_current(cluster, SMALL_TABLE, small_rows):
        cluster.psql(COPY_SMALL_SQL.format(table=SMALL_TABLE, source=MAIN_TABLE,
                                           rows=small_rows, marker=table_marker(small_rows)))
        cluster.psql(f"VACUUM (FREEZE, ANALYZE) {SMALL_TABLE}")
    # Other tables in schema public would become datasets of `rowpipe serve`.
    extra = cluster.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                         f" AND tablename NOT IN ('{MAIN_TABLE}', '{SMALL_TABLE}')").split()
    if extra:
        print(f"note: other tables in schema public: {', '.join(extra)}", file=sys.stderr)


# --------------------------------------------------------------------------
# Measurements


@dataclass
class Sample:
    wall: float
    nbytes: int
    client_cpu: float | None = None   # psql / rowpipe process
    pg_cpu: float | None = None       # PostgreSQL server processes
    rss_kb: int | None = None         # peak RSS of the client / server


@dataclass
class Case:
    """One measured command; run() takes one timed sample."""
    name: str
    group: str = "main"          # "main", "export-variant", "serve-variant", "baseline"
    reference: str = PSQL_CSV    # the psql case its ratios are taken against
    chunk_kib: int | None = None
    depth: int | None = None
    samples: list[Sample] = field(default_factory=list)

    def setup(self) -> None: ...
    def warmup(self) -> None: ...
    def run(self) -> Sample: raise NotImplementedError
    def teardown(self) -> None: ...

    def peak_rss_kb(self) -> int | None:
        values = [s.rss_kb for s in self.samples if s.rss_kb is not None]
        return max(values) if values else None


def psql_copy_cmd(cluster: Cluster, table: str, order_by: str | None = None) -> list[str]:
    query = f"SELECT * FROM {table}" + (f" ORDER BY {order_by}" if order_by else "")
    return ["psql", "-X", cluster.conninfo(), "-c",
            f"\\copy ({query}) TO STDOUT WITH (FORMAT csv, HEADER)"]


def psql_jsonl_cmd(cluster: Cluster, table: str) -> list[str]:
    """psql's row_to_json lines for the table, as rowpipe's jsonl must be.

    Streamed through ``\\copy``, as the CSV reference is (a plain ``SELECT`` would gather
    the whole result in psql first): CSV with a quote and a delimiter that JSON text never
    holds raw (it escapes control characters) writes each line exactly as it is, where
    ``FORMAT text`` would double its backslashes."""
    query = f"SELECT translate(row_to_json(q)::text, E'\\n\\r', '  ') FROM {table} q"
    return ["psql", "-X", cluster.conninfo(), "-c",
            f"\\copy ({query}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"]


def write_params_config(path: Path, table: str) -> Path:
    path.write_text(
        "[[dataset]]\n"
        f'name = "{table}"\n'
        f'table = "{table}"\n'
        "\n"
        "[[dataset]]\n"
        'name = "params"\n'
        f'sql = "SELECT * FROM {table} WHERE id >= $1"\n'
        'params = [ { name = "min_id", type = "int8" } ]\n')
    return path


def check_count(what: str, got: int, expected: Csv) -> int:
    """Fail unless a timed run received exactly the expected number of bytes."""
    if got != expected.nbytes:
        raise BenchError(f"{what}: received {got:,} bytes, psql wrote {expected.nbytes:,}")
    return got


def check_same(what: str, got: Csv, expected: Csv) -> None:
    """Fail unless a CSV stream is byte for byte psql's (length and SHA-256)."""
    if got.nbytes != expected.nbytes:
        raise BenchError(f"{what}: {got.nbytes:,} bytes of CSV, psql wrote {expected.nbytes:,}")
    if got.sha256 != expected.sha256:
        raise BenchError(f"{what}: as many bytes as psql ({got.nbytes:,}) but different "
                         f"content (sha256 {got.sha256[:16]}... vs {expected.sha256[:16]}...)")


class PsqlCase(Case):
    """A reference: psql's COPY CSV, or psql's row_to_json lines for jsonl."""

    def __init__(self, name: str, cluster: Cluster, cmd: list[str], csv: Csv):
        super().__init__(name, reference=name)
        self.cluster = cluster
        self.cmd = cmd
        self.csv = csv

    # No warm-up of its own: benchmark() has just run it to count the bytes.

    def run(self) -> Sample:
        before = self.cluster.server_cpu()
        r = run_measured(self.cmd)
        nbytes = check_count(self.name, r.nbytes, self.csv)
        return Sample(r.wall, nbytes, r.cpu, self.cluster.server_cpu() - before,
                      r.peak_rss_kb)


class ExportCase(Case):
    def __init__(self, name: str, cluster: Cluster, rowpipe: Path, table: str,
                 expected: Csv, extra_args: list[str], **kw) -> None:
        super().__init__(name, **kw)
        self.cluster = cluster
        self.expected = expected
        self.cmd = [str(rowpipe), "export", "--database", cluster.url(),
                    "--sql", f"SELECT * FROM {table}", "--quiet", *extra_args]

    def warmup(self) -> None:
        csv = run_measured(self.cmd, hash_stdout=True).csv
        check_same(f"{self.name} ({shlex.join(self.cmd)})", csv, self.expected)

    def run(self) -> Sample:
        before = self.cluster.server_cpu()
        r = run_measured(self.cmd)
        nbytes = check_count(f"{self.name} ({shlex.join(self.cmd)})", r.nbytes, self.expected)
        return Sample(r.wall, nbytes, r.cpu, self.cluster.server_cpu() - before,
                      r.peak_rss_kb)


class Server:
    """A running `rowpipe serve`, logging to a file in the work directory."""

    def __init__(self, rowpipe: Path, cluster: Cluster, logdir: Path, label: str,
                 config: Path | None = None):
        self.port = free_port()
        self.cmd = [str(rowpipe), "serve", "--database", cluster.url(),
                    "--listen", f"127.0.0.1:{self.port}"]
        if config is not None:
            self.cmd += ["--config", str(config)]
        self.log = logdir / f"serve-{label}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=client_env())
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"rowpipe serve exited with {self.proc.returncode}: "
                                 f"{shlex.join(self.cmd)}\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"rowpipe serve not ready (GET /healthz) after {timeout:.0f} s:"
                                 f" {shlex.join(self.cmd)}\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:].strip()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # rowpipe lets running downloads finish for a grace period (10 s).
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"warning: rowpipe serve (pid {self.proc.pid}) still running 30 s after "
                  "SIGTERM; killing it", file=sys.stderr)
            self.proc.kill()
            self.proc.wait()

    def url(self, dataset: str) -> str:
        """`dataset` is a name (its CSV) or a resource such as `name.csv?key=value`."""
        resource = dataset if "." in dataset else f"{dataset}.csv"
        return f"http://127.0.0.1:{self.port}/datasets/{resource}"

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(f"rowpipe serve died (exit {self.proc.returncode})\n"
                             f"{self.log_tail()}")

    def download(self, dataset: str, expected: Csv,
                 headers: tuple[str, ...] = ()) -> tuple[float, float, int]:
        """Fetch one dataset with curl to /dev/null; return (wall s, server CPU s,
        bytes received).

        curl must exit 0, the answer be HTTP 200 with psql's byte count (curl's
        own count of what it received).
        """
        self.check_alive()
        url = self.url(dataset)
        cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{http_code}",
               *(arg for header in headers for arg in ("-H", header)), url]
        cpu_before = proc_stat_cpu(self.proc.pid)
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=client_env())
        wall = time.perf_counter() - start
        cpu = proc_stat_cpu(self.proc.pid) - cpu_before
        if out.returncode != 0:
            raise BenchError(f"curl failed (exit {out.returncode}): {url}\n{out.stderr.strip()}"
                             f"\nserver log:\n{self.log_tail()}")
        size, code = out.stdout.split()
        if code != "200":
            raise BenchError(f"GET {url} answered HTTP {code}\nserver log:\n{self.log_tail()}")
        return wall, cpu, check_count(f"GET {url}", int(size), expected)

    def verify(self, dataset: str, expected: Csv) -> None:
        """Fetch one dataset (curl --fail) and compare it with psql's CSV."""
        self.check_alive()
        cmd = ["curl", "-sS", "--fail", self.url(dataset)]
        try:
            csv = run_measured(cmd, hash_stdout=True).csv
        except BenchError as e:
            raise BenchError(f"{e}\nserver log:\n{self.log_tail()}") from None
        check_same(f"GET {self.url(dataset)}", csv, expected)

    def vm_hwm_kb(self) -> int:
        assert self.proc is not None
        return vm_hwm_kb(self.proc.pid)


class ServeCase(Case):
    def __init__(self, name: str, cluster: Cluster, rowpipe: Path, logdir: Path,
                 table: str, expected: Csv, config: Path | None = None,
                 resource: str | None = None, headers: tuple[str, ...] = (), **kw):
        super().__init__(name, **kw)
        self.cluster = cluster
        self.headers = headers
        self.table = resource or table
        self.expected = expected
        label = name.replace(" ", "_").replace("/", "_").replace(",", "")
        self.server = Server(rowpipe, cluster, logdir, label, config)

    def setup(self) -> None:
        self.server.start()

    def warmup(self) -> None:
        self.server.verify(self.table, self.expected)

    def run(self) -> Sample:
        before = self.cluster.server_cpu()
        wall, cpu, nbytes = self.server.download(self.table, self.expected, self.headers)
        pg_cpu = self.cluster.server_cpu() - before
        return Sample(wall, nbytes, cpu, pg_cpu, self.server.vm_hwm_kb())

    def teardown(self) -> None:
        self.server.stop()


class CompressedCase(Case):
    """A compressed export: rowpipe's download with ``Accept-Encoding`` (``server``
    given), or psql's CSV piped to the compressor. Timed over the uncompressed CSV it
    carries; every run must give the warm-up's compressed size, and the warm-up's bytes
    must decompress to psql's CSV."""

    def __init__(self, name: str, cluster: Cluster, codec: str, csv: Csv,
                 server: Server | None = None, **kw):
        super().__init__(name, **kw)
        self.cluster, self.codec, self.csv, self.server = cluster, codec, csv, server
        compress, _ = CODECS[codec]
        if server is None:
            psql = shlex.join(psql_copy_cmd(cluster, MAIN_TABLE))
            self.cmd = ["sh", "-c", f"{psql} | {shlex.join(compress)}"]
        else:
            self.cmd = ["curl", "-sS", "--fail", "-H", f"Accept-Encoding: {codec}",
                        server.url(MAIN_TABLE)]
        self.compressed: int | None = None

    def setup(self) -> None:
        if self.server is not None:
            self.server.start()

    def warmup(self) -> None:
        _, decompress = CODECS[self.codec]
        self.compressed = run_measured(self.cmd).nbytes
        piped = ["sh", "-c", f"{shlex.join(self.cmd)} | {shlex.join(decompress)}"]
        check_same(f"{self.name} decompressed", run_measured(piped, hash_stdout=True).csv,
                   self.csv)

    def run(self) -> Sample:
        before = self.cluster.server_cpu()
        server_before = proc_stat_cpu(self.server.proc.pid) if self.server else 0.0
        r = run_measured(self.cmd)
        if r.nbytes != self.compressed:
            raise BenchError(f"{self.name}: {r.nbytes:,} compressed bytes, the warm-up "
                             f"had {self.compressed:,}")
        cpu = (proc_stat_cpu(self.server.proc.pid) - server_before) if self.server else r.cpu
        return Sample(r.wall, self.csv.nbytes, cpu, self.cluster.server_cpu() - before,
                      self.server.vm_hwm_kb() if self.server else r.peak_rss_kb)

    def teardown(self) -> None:
        if self.server is not None:
            self.server.stop()


def compression_note(cases: list[Case]) -> list[str]:
    return [f"{c.name}: {c.compressed:,} bytes, {c.compressed / c.csv.nbytes:.1%} of the CSV"
            for c in cases if isinstance(c, CompressedCase) and c.compressed]


def write_stream_config(path: Path, chunk_bytes: int, depth: int, table: str) -> Path:
    path.write_text(
        "[stream]\n"
        f"chunk_size = {chunk_bytes}\n"
        f"prefetch_depth = {depth}\n"
        "\n"
        "[[dataset]]\n"
        f'name = "{table}"\n'
        f'table = "{table}"\n')
    return path


def run_rounds(cases: list[Case], rounds: int) -> None:
    """Set up, warm up once, then run `rounds` interleaved rounds."""
    try:
        for case in cases:
            case.setup()
        for case in cases:
            print(f"warm-up: {case.name}", file=sys.stderr)
            case.warmup()
        for r in range(rounds):
            shift = r % len(cases)
            for case in cases[shift:] + cases[:shift]:
                sample = case.run()
                case.samples.append(sample)
                print(f"round {r + 1}/{rounds}: {case.name:<32} {sample.wall:8.3f} s",
                      file=sys.stderr)
    finally:
        for case in cases:
            case.teardown()


# --------------------------------------------------------------------------
# Report


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def mb(kb: int | None) -> float | None:
    return None if kb is None else kb * 1024 / 1e6


def total_cpu(sample: Sample) -> float | None:
    """CPU seconds of the database and the client together: rowpipe moves work
    from the backend onto a core of its own, so wall time alone flatters it."""
    if sample.client_cpu is None or sample.pg_cpu is None:
        return None
    return sample.client_cpu + sample.pg_cpu


def mb_per_s(case: Case) -> float | None:
    """Measured bytes over wall time, per sample, then the median."""
    return median([s.nbytes / 1e6 / s.wall for s in case.samples if s.wall])


def case_row(case: Case, ref: Case | None) -> list[str]:
    wall = median([s.wall for s in case.samples])
    mbps = mb_per_s(case)
    ref_mbps = mb_per_s(ref) if ref and ref.samples else None
    ref_wall = median([s.wall for s in ref.samples]) if ref and ref.samples else None
    ratio = mbps / ref_mbps if (mbps and ref_mbps) else None
    rows_ratio = ref_wall / wall if (wall and ref_wall) else None
    return [
        fmt(wall, ".3f"),
        fmt(min(s.wall for s in case.samples), ".3f"),
        fmt(median([total_cpu(s) for s in case.samples]), ".2f"),
        fmt(mbps, ".1f"),
        case.reference if ref else "n/a",
        fmt(ratio, ".2f"),
        fmt(rows_ratio, ".2f"),
        fmt(median([s.client_cpu for s in case.samples]), ".2f"),
        fmt(median([s.pg_cpu for s in case.samples]), ".2f"),
        fmt(mb(case.peak_rss_kb()), ".1f"),
    ]


MAIN_HEADER = ["measurement", "wall s (median)", "wall s (min)", "total CPU s", "MB/s",
               "reference", "MB/s vs ref", "rows/s vs ref",
               "client CPU s", "pg CPU s", "peak RSS MB"]


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        widths = [max(len(r[i]) for r in [self.header, *self.rows])
                  for i in range(len(self.header))]
        line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths)))
        out = [self.title, line(self.header), line(["-" * w for w in widths])]
        out += [line(r) for r in self.rows]
        out += self.notes
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
               "|" + "|".join(["---"] + ["---:"] * (len(self.header) - 1)) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows]
        for note in self.notes:
            out += ["", note]
        return "\n".join(out)


def serve_notes(cases: list[Case]) -> list[str]:
    """The bound-parameter and the trailers downloads against the plain serve download of
    the same rows."""
    serve = next((c for c in cases if c.name == "rowpipe serve + curl"), None)
    notes = []
    for name, what in (("serve, bound parameter", "bound parameter vs no parameters"),
                       ("serve + curl, TE: trailers", "with trailers (SHA-256) vs without")):
        other = next((c for c in cases if c.name == name), None)
        if serve and other and serve.samples and other.samples:
            ratio = (median([s.wall for s in serve.samples]) /
                     median([s.wall for s in other.samples]))
            notes.append(f"{what} (same rows, both served): {ratio:.2f}x")
    return notes


def build_tables(cases: list[Case], memory: dict | None, rows: int,
                 nbytes: int) -> list[Table]:
    references = {c.name: c for c in cases
                  if isinstance(c, PsqlCase)
                  or (isinstance(c, CompressedCase) and c.server is None)}
    row = lambda c: case_row(c, references.get(c.reference))
    tables = []
    main = [c for c in cases if c.group == "main"]
    if main:
        tables.append(Table(
            f"Throughput: {MAIN_TABLE}, {rows:,} rows, {nbytes:,} bytes of CSV",
            MAIN_HEADER, [[c.name, *row(c)] for c in main],
            [*serve_notes(main), *compression_note(main),
             "MB/s: bytes each timed run received (counted, and checked against psql's), "
             "over its wall time.",
             f"reference: {PSQL_CSV} for csv, {PSQL_JSONL} (the same rows as JSON, timed "
             "in the same rounds) for jsonl; rows/s vs ref: its wall time over this one's.",
             "total CPU: client CPU + pg CPU, the work the export cost the machine.",
             "client CPU: the psql or rowpipe export process; for serve, the rowpipe "
             "server process during the download.",
             "pg CPU: all PostgreSQL server processes (backends, postmaster).",
             "peak RSS: VmHWM of the psql or rowpipe export process (polled every 10 ms); "
             "for serve, of the server after its downloads."]))
    for group, title in (("export-variant", "Tuning: rowpipe export"),
                         ("serve-variant", "Tuning: rowpipe serve + curl")):
        vcases = [c for c in cases if c.group == group]
        if vcases:
            header = ["chunk KiB", "prefetch", *MAIN_HEADER[1:]]
            tables.append(Table(f"{title} ({rows:,} rows)", header,
                                [[str(c.chunk_kib), str(c.depth), *row(c)]
                                 for c in vcases]))
    if memory:
        small, big = memory["small"], memory["big"]
        diff = (big["hwm_kb"] - small["hwm_kb"]) / small["hwm_kb"]
        tables.append(Table(
            "Peak RSS of rowpipe serve (VmHWM, fresh server per table)",
            ["table", "rows", "CSV bytes", "downloads", "VmHWM MB"],
            [[m["table"], f"{m['rows']:,}", f"{m['bytes']:,}", str(m["downloads"]),
              fmt(mb(m["hwm_kb"]), ".1f")] for m in (small, big)],
            [f"relative difference ({big['rows']:,} vs {small['rows']:,} rows): "
             f"{diff * 100:+.1f}%"]))
    return tables


def machine_info(cluster: Cluster, args: argparse.Namespace, rows: int,
                 nbytes: int, rowpipe: Path | None) -> list[str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, "
        f"{platform.system()} {platform.release()}",
        f"- PostgreSQL: {cluster.server_version()}",
        f"- rowpipe: {rowpipe or 'not run'} ({args.provenance})",
        f"- rows: {rows:,}; CSV bytes: {nbytes:,} ({nbytes / 1e6:.1f} MB, "
        f"{nbytes / rows:.0f} bytes/row); rounds: {args.rounds}",
        f"- load average (1 min) at start: {args.load_at_start:.2f}, at end: "
        f"{os.getloadavg()[0]:.2f} (other work on the machine skews the timings)",
        f"- command: python3 bench/bench.py {shlex.join(sys.argv[1:])}",
    ]


# --------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See bench/README.md.")
    p.add_argument("--rows", type=int, default=2_000_000, help="rows in bench_mixed (2000000)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per measurement (5)")
    p.add_argument("--small-rows", type=int, default=200_000,
                   help="rows of bench_mixed_small for the memory comparison (200000; "
                        "rows/10 if that is not less than --rows)")
    p.add_argument("--only", default=",".join(MEASUREMENTS),
                   help=f"comma-separated subset of {','.join(MEASUREMENTS)} (all)")
    p.add_argument("--variants", action="store_true",
                   help="also run the tuning matrix for the selected export/serve")
    p.add_argument("--depths", default=DEFAULT_DEPTHS, help=f"prefetch depths ({DEFAULT_DEPTHS})")
    p.add_argument("--chunks", default=DEFAULT_CHUNKS_KIB,
                   help=f"chunk sizes in KiB ({DEFAULT_CHUNKS_KIB})")
    p.add_argument("--rowpipe", type=Path,
                   help="rowpipe binary (default: target/release/rowpipe, built with "
                        "`cargo build --release` first)")
    p.add_argument("--baseline", metavar="REV",
                   help="also measure the binary built from this git revision, in the same "
                        "rounds (export, jsonl, serve, keyed)")
    p.add_argument("--allow-dirty", action="store_true",
                   help="measure a tree with uncommitted changes, or a --rowpipe binary "
                        "(for development only: the results say so)")
    p.add_argument("--keep", action="store_true",
                   help="keep the cluster and tables in --workdir for the next run")
    p.add_argument("--workdir", type=Path,
                   default=Path(os.environ.get("ROWPIPE_BENCH_DIR",
                                               Path(tempfile.gettempdir()) / "rowpipe-bench")),
                   help="where --keep keeps the cluster ($ROWPIPE_BENCH_DIR or "
                        "/tmp/rowpipe-bench)")
    p.add_argument("--markdown", type=Path, help="also write the results as Markdown here")
    args = p.parse_args(argv)
    args.only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(args.only) - set(MEASUREMENTS)
    if unknown:
        p.error(f"--only: unknown measurement(s) {', '.join(sorted(unknown))}")
    if args.rows < 1000:
        p.error("--rows must be at least 1000")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.small_rows >= args.rows:
        args.small_rows = args.rows // 10
    args.depths = [int(x) for x in args.depths.split(",")]
    args.chunks = [int(x) for x in args.chunks.split(",")]
    return args


def resolve_rowpipe(args: argparse.Namespace) -> Path:
    """The binary to measure: target/release/rowpipe, always rebuilt from the
    tree, or --rowpipe (whose origin cannot be checked, so only with
    --allow-dirty)."""
    if args.rowpipe is not None:
        path = args.rowpipe.resolve()
    else:
        path = REPO / "target" / "release" / "rowpipe"
        print("cargo build --release ...", file=sys.stderr)
        run_checked(["cargo", "build", "--release", "--locked"], cwd=str(REPO),
                    env=dict(os.environ))
    if not os.access(path, os.X_OK):
        raise BenchError(f"rowpipe binary not found or not executable: {path}")
    return path


def make_cases(args, cluster: Cluster, rowpipe: Path | None, logdir: Path,
               csv: Csv, baseline: tuple[str, Path] | None = None) -> list[Case]:
    cases: list[Case] = []
    if "psql" in args.only:
        cases.append(PsqlCase(PSQL_CSV, cluster, psql_copy_cmd(cluster, MAIN_TABLE), csv))
    jsonl = None
    if "jsonl" in args.only:
        print("warm-up: psql row_to_json (counting bytes)", file=sys.stderr)
        jsonl = run_measured(psql_jsonl_cmd(cluster, MAIN_TABLE), hash_stdout=True).csv
        cases.append(PsqlCase(PSQL_JSONL, cluster, psql_jsonl_cmd(cluster, MAIN_TABLE), jsonl))
    if any(m in args.only for m in ("serve", "params", "gzip", "zstd", "trailers")):
        config = write_params_config(logdir / "params.toml", MAIN_TABLE)
    keyed = None
    binaries = [("", rowpipe, "main")]
    if baseline is not None:
        label, binary = baseline
        binaries.append((f" @ {label}", binary, "baseline"))
    for suffix, binary, group in binaries:
        def wanted(measurement: str) -> bool:
            return measurement in args.only and (
                group == "main" or measurement in BASELINE_MEASUREMENTS)
        if wanted("export"):
            cases.append(ExportCase(f"rowpipe export (typed){suffix}", cluster, binary,
                                    MAIN_TABLE, csv, [], group=group))
        if wanted("copy"):
            cases.append(ExportCase(f"rowpipe export --engine copy{suffix}", cluster, binary,
                                    MAIN_TABLE, csv, ["--engine", "copy"], group=group))
        if wanted("jsonl"):
            cases.append(ExportCase(f"rowpipe export --format jsonl{suffix}", cluster, binary,
                                    MAIN_TABLE, jsonl, ["--format", "jsonl"],
                                    reference=PSQL_JSONL, group=group))
        if wanted("serve"):
            cases.append(ServeCase(f"rowpipe serve + curl{suffix}", cluster, binary, logdir,
                                   MAIN_TABLE, csv, config, group=group))
        if wanted("trailers"):
            cases.append(ServeCase(f"serve + curl, TE: trailers{suffix}", cluster, binary,
                                   logdir, MAIN_TABLE, csv, config,
                                   headers=("TE: trailers",), group=group))
        if wanted("keyed"):
            if keyed is None:
                print("warm-up: psql in key order (counting bytes)", file=sys.stderr)
                keyed = run_measured(psql_copy_cmd(cluster, MAIN_TABLE, "id"),
                                     hash_stdout=True).csv
            # The baseline's discovered table has no key: its bytes are the table's order.
            expected = keyed if group == "main" else csv
            cases.append(ServeCase(f"serve, discovered (key order){suffix}", cluster, binary,
                                   logdir, MAIN_TABLE, expected, None, group=group))
        if wanted("params"):
            cases.append(ServeCase(f"serve, bound parameter{suffix}", cluster, binary, logdir,
                                   MAIN_TABLE, csv, config, resource="params.csv?min_id=0",
                                   group=group))
    for codec in ("gzip", "zstd"):
        if codec in args.only:
            reference = f"psql \\copy | {shlex.join(CODECS[codec][0])}"
            cases.append(CompressedCase(reference, cluster, codec, csv, reference=reference))
            cases.append(CompressedCase(
                f"rowpipe serve + curl, {codec}", cluster, codec, csv,
                Server(rowpipe, cluster, logdir, f"serve-{codec}", config),
                reference=reference))
    if args.variants:
        for kib in args.chunks:
            for depth in args.depths:
                tag = f"{kib} KiB, depth {depth}"
                if "export" in args.only:
                    cases.append(ExportCase(
                        f"export {tag}", cluster, rowpipe, MAIN_TABLE, csv,
                        ["--chunk-size", str(kib * 1024), "--prefetch-depth", str(depth)],
                        group="export-variant", chunk_kib=kib, depth=depth))
                if "serve" in args.only:
                    cfg = write_stream_config(logdir / f"stream-{kib}k-{depth}.toml",
                                              kib * 1024, depth, MAIN_TABLE)
                    cases.append(ServeCase(
                        f"serve {tag}", cluster, rowpipe, logdir, MAIN_TABLE, csv, cfg,
                        group="serve-variant", chunk_kib=kib, depth=depth))
    return cases


def build_baseline(args, workdir: Path) -> tuple[str, Path]:
    """Builds git revision args.baseline in a temporary worktree; returns its short
    commit and the binary (kept in the work directory)."""
    commit = git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
    label = commit[:10]
    binary = workdir / f"rowpipe-{label}"
    if binary.exists():
        return label, binary
    tree = workdir / f"baseline-{label}"
    print(f"building the baseline {label} ...", file=sys.stderr)
    run_checked(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit])
    try:
        env = dict(os.environ, CARGO_TARGET_DIR=str(REPO / "target-baseline"))
        run_checked(["cargo", "build", "--release", "--locked"], cwd=str(tree), env=env)
        shutil.copy2(REPO / "target-baseline" / "release" / "rowpipe", binary)
    finally:
        run_checked(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)])
    return label, binary


def baseline_table(cases: list[Case]) -> Table | None:
    """Each measurement against the same one with the baseline's binary."""
    base = {c.name.rsplit(" @ ", 1)[0]: c for c in cases if c.group == "baseline"}
    if not base:
        return None
    label = next(iter(base.values())).name.rsplit(" @ ", 1)[1]
    rows = []
    for case in cases:
        old = base.get(case.name) if case.group == "main" else None
        if old is None or not case.samples or not old.samples:
            continue
        wall = median([s.wall for s in case.samples])
        old_wall = median([s.wall for s in old.samples])
        pg = median([s.pg_cpu for s in case.samples])
        old_pg = median([s.pg_cpu for s in old.samples])
        rows.append([case.name, fmt(wall, ".3f"), fmt(old_wall, ".3f"),
                     fmt(old_wall / wall if wall else None, ".3f"),
                     fmt(pg, ".2f"), fmt(old_pg, ".2f"),
                     fmt(median([total_cpu(s) for s in case.samples]), ".2f"),
                     fmt(median([total_cpu(s) for s in old.samples]), ".2f")])
    return Table(f"Against the baseline {label} (same rounds)",
                 ["measurement", "wall s", f"wall s @ {label}", "speed vs baseline",
                  "pg CPU s", f"pg CPU s @ {label}", "total CPU s",
                  f"total CPU s @ {label}"], rows,
                 ["speed vs baseline: the baseline's median wall time over this one's "
                  "(above 1: faster now)."])


def server_peak(args, cluster: Cluster, rowpipe: Path, logdir: Path,
                table: str, csv: Csv) -> tuple[int, int]:
    """(VmHWM KiB, downloads) of a fresh server after 1 + rounds downloads."""
    server = Server(rowpipe, cluster, logdir, f"memory-{table}")
    try:
        server.start()
        server.verify(table, csv)
        for _ in range(args.rounds):
            server.download(table, csv)
        return server.vm_hwm_kb(), args.rounds + 1
    finally:
        server.stop()


def measure_memory(args, cluster: Cluster, rowpipe: Path, logdir: Path,
                   csv: Csv, cases: list[Case]) -> dict:
    """Server VmHWM after downloading the small table vs. the N-row table.

    Each from a fresh server; for N rows, the "serve" measurement's server
    when it ran.
    """
    print(f"memory: {SMALL_TABLE}", file=sys.stderr)
    # A fresh server discovers the tables, and with them their primary key: it sends
    # them in key order.
    in_key_order = lambda table: run_measured(psql_copy_cmd(cluster, table, "id"),
                                              hash_stdout=True).csv
    small_csv = in_key_order(SMALL_TABLE)
    result = {}
    for key, table, rows, tcsv in (("small", SMALL_TABLE, args.small_rows, small_csv),
                                   ("big", MAIN_TABLE, args.rows, csv)):
        main_serve = next((c for c in cases if isinstance(c, ServeCase) and c.group == "main"),
                          None)
        if key == "big" and main_serve is not None and main_serve.samples:
            hwm, downloads = main_serve.peak_rss_kb(), len(main_serve.samples) + 1
        else:
            if key == "big":
                tcsv = in_key_order(table)
            hwm, downloads = server_peak(args, cluster, rowpipe, logdir, table, tcsv)
        result[key] = dict(table=table, rows=rows, bytes=tcsv.nbytes, downloads=downloads,
                           hwm_kb=hwm)
        print(f"memory: {table}: VmHWM {hwm * 1024 / 1e6:.1f} MB after {downloads} downloads",
              file=sys.stderr)
    return result


class LoadClient(threading.Thread):
    """One client of the overload measurement, on a raw socket: sends a GET, reads the
    status line, then reads nothing (``rate`` 0: stalled) or ``rate`` bytes a second,
    until told to stop."""

    def __init__(self, port: int, path: str, rate: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.path, self.rate, self.stop = port, path, rate, stop
        self.status: int | None = None
        self.answered_in: float | None = None

    def run(self) -> None:
        started = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                head = b""
                while b"\r\n" not in head:
                    piece = sock.recv(4096)
                    if not piece:
                        return
                    head += piece
                self.answered_in = time.perf_counter() - started
                self.status = int(head.split(b" ", 2)[1])
                if self.status != 200:
                    return
                step = 64 * 1024
                while not self.stop.is_set():
                    if self.rate == 0:
                        self.stop.wait(0.5)
                        continue
                    if not sock.recv(step):
                        return
                    self.stop.wait(step / self.rate)
        except OSError:
            pass


def rowpipe_connections(cluster: Cluster) -> int:
    return int(cluster.psql("SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = 'rowpipe'").strip())


def measure_overload(args, cluster: Cluster, rowpipe: Path, logdir: Path) -> list[Table]:
    """A normal client's download beside stalled and slow ones, under and over the
    server's limit on downloads at once."""
    config = logdir / "overload.toml"
    config.write_text("[database]\npool_size = 16\n"
                      "[[dataset]]\nname = \"big\"\ntable = \"bench_mixed\"\n"
                      "[[dataset]]\nname = \"small\"\ntable = \"bench_mixed_small\"\n")
    small = run_measured(psql_copy_cmd(cluster, SMALL_TABLE), hash_stdout=True).csv
    server = Server(rowpipe, cluster, logdir, "overload", config)
    rows, notes = [], []
    try:
        server.start()
        server.verify("small.csv", small)
        idle = median([server.download("small.csv", small)[0] for _ in range(args.rounds)])

        def load(stalled: int, slow: int) -> tuple[list[LoadClient], threading.Event]:
            stop = threading.Event()
            clients = ([LoadClient(server.port, "/datasets/big.csv", 0, stop)
                        for _ in range(stalled)] +
                       [LoadClient(server.port, "/datasets/big.csv", 1_000_000, stop)
                        for _ in range(slow)])
            for client in clients:
                client.start()
            deadline = time.monotonic() + 30
            while any(c.status is None and c.is_alive() for c in clients):
                if time.monotonic() > deadline:
                    raise BenchError("overload: clients were not answered within 30 s")
                time.sleep(0.05)
            time.sleep(1.0)  # let the stalled ones fill their socket buffers
            return clients, stop

        clients, stop = load(8, 7)
        try:
            loaded = median([server.download("small.csv", small)[0]
                             for _ in range(args.rounds)])
            held = rowpipe_connections(cluster)
        finally:
            stop.set()
        rows.append(["8 stalled + 7 at 1 MB/s (under the limit of 16)",
                     str(sum(c.status == 200 for c in clients)), "0",
                     fmt(idle, ".3f"), fmt(loaded, ".3f"), fmt(loaded / idle, ".2f"),
                     str(held), fmt(mb(server.vm_hwm_kb()), ".1f")])
        for client in clients:
            client.join(timeout=5)
        time.sleep(1.0)

        clients, stop = load(8, 64)
        try:
            admitted = [c for c in clients if c.status == 200]
            refused = [c for c in clients if c.status == 503]
            held = rowpipe_connections(cluster)
            slowest_refusal = max((c.answered_in for c in refused), default=None)
        finally:
            stop.set()
        rows.append(["8 stalled + 64 at 1 MB/s (over the limit)", str(len(admitted)),
                     str(len(refused)), fmt(idle, ".3f"), "n/a", "n/a", str(held),
                     fmt(mb(server.vm_hwm_kb()), ".1f")])
        notes.append("refused downloads were answered 503 within "
                     f"{fmt(slowest_refusal, '.3f')} s at the slowest (never queued).")
        for client in clients:
            client.join(timeout=5)
    finally:
        server.stop()
    notes += ["normal client: curl downloading bench_mixed_small (medians of --rounds); "
              "target: loaded at most 1.5x idle.",
              "db connections: rowpipe's download connections in pg_stat_activity under "
              "the load (application_name rowpipe; the listing/health pool's are "
              "rowpipe-control)."]
    return [Table("Overload: stalled and slow clients (pool_size 16)",
                  ["load", "admitted", "refused (503)", "normal client idle s",
                   "normal client loaded s", "loaded / idle", "db connections",
                   "server VmHWM MB"], rows, notes)]


def git(*args: str) -> str:
    return run_checked(["git", "-C", str(REPO), *args]).strip()


def provenance(args: argparse.Namespace) -> str:
    """The commit the measured binary is built from, for the results; refuses
    (without --allow-dirty) a tree with uncommitted changes or a binary from
    elsewhere, whose numbers could not be traced to a commit."""
    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=normal")
    problems = []
    if changes:
        problems.append(f"the tree has uncommitted changes:\n{changes}")
    if args.rowpipe is not None:
        problems.append(f"--rowpipe {args.rowpipe} is not built from this tree")
    if problems and not args.allow_dirty:
        raise BenchError("refusing to measure: " + "\n".join(problems) +
                         "\n(commit first; --allow-dirty measures anyway, for development, "
                         "and says so in the results)")
    if problems:
        return (f"commit {commit}, NOT CLEAN (--allow-dirty: "
                f"{'uncommitted changes' if changes else ''}"
                f"{', ' if changes and args.rowpipe else ''}"
                f"{'binary from --rowpipe' if args.rowpipe else ''})")
    return f"built by cargo build --release --locked from commit {commit}, clean tree"


def benchmark(args: argparse.Namespace, cluster: Cluster) -> list[Table]:
    args.provenance = provenance(args)
    needs_rowpipe = any(m in args.only
                        for m in ("export", "copy", "jsonl", "serve", "keyed", "params",
                                  "memory", "overload", "gzip", "zstd", "trailers"))
    rowpipe = resolve_rowpipe(args) if needs_rowpipe else None
    cluster.start()
    ensure_tables(cluster, args.rows, args.small_rows)
    logdir = cluster.workdir / "logs"
    logdir.mkdir(exist_ok=True)

    # Warm-up psql run: brings the table into cache and counts (and hashes)
    # the CSV that every other measurement must reproduce.
    print("warm-up: psql (counting bytes)", file=sys.stderr)
    csv = run_measured(psql_copy_cmd(cluster, MAIN_TABLE), hash_stdout=True).csv
    nbytes = csv.nbytes
    print(f"{MAIN_TABLE}: {nbytes:,} bytes of CSV ({nbytes / args.rows:.0f} bytes/row)",
          file=sys.stderr)

    baseline = build_baseline(args, cluster.workdir) if args.baseline else None
    cases = make_cases(args, cluster, rowpipe, logdir, csv, baseline)
    if cases:
        run_rounds(cases, args.rounds)
    memory = None
    if "memory" in args.only:
        memory = measure_memory(args, cluster, rowpipe, logdir, csv, cases)

    tables = build_tables(cases, memory, args.rows, nbytes)
    if "overload" in args.only:
        tables += measure_overload(args, cluster, rowpipe, logdir)
    against = baseline_table(cases)
    if against is not None:
        tables.insert(1, against)
    info = machine_info(cluster, args, args.rows, nbytes, rowpipe)
    print()
    print("\n".join(info))
    for t in tables:
        print()
        print(t.text())
    if args.markdown:
        md = ["## rowpipe benchmark", "", *info, ""]
        for t in tables:
            md += [t.markdown(), ""]
        args.markdown.write_text("\n".join(md))
        print(f"\nwrote {args.markdown}", file=sys.stderr)
    return tables


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_at_start = os.getloadavg()[0]
    # Turn SIGTERM into KeyboardInterrupt so that the finally blocks run.
    signal.signal(signal.SIGTERM, raise_interrupt)
    workdir = args.workdir if args.keep else Path(tempfile.mkdtemp(prefix="rowpipe-bench-"))
    cluster = None
    try:
        cluster = Cluster(workdir.resolve(), keep=args.keep)
        benchmark(args, cluster)
        return 0
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.stop()
        elif not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
