"""A throwaway PostgreSQL cluster for the package's tests, started the way the Rust
suite's harness starts one (``tests/it/harness/cluster.rs``): ``initdb`` into a fresh
folder of /tmp, a server that listens only on a Unix socket in that folder, trust
authentication, fsync off. Running as root (as CI does), the server runs as the
``postgres`` user, since PostgreSQL refuses root. A missing installation fails the tests
with a hint; it never skips them.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path
from typing import List, Optional

SUPERUSER = "postgres"
PORT = 5432
HINT = "the tests need PostgreSQL's server programs and psql: apt-get install -y postgresql"


def clean_env() -> dict:
    """The environment without libpq's ``PG*`` settings, which would redirect psql."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def bin_dir() -> Path:
    """Where initdb and pg_ctl are: ``pg_config --bindir``, else Debian's newest."""
    candidates: List[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))

    def version(path: str) -> List[int]:
        name = Path(path).parent.name
        return [int(part) for part in name.split(".") if part.isdigit()]

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise RuntimeError(f"no initdb and pg_ctl in {candidates}; {HINT}")


class Cluster:
    """The running server; ``stop()`` ends it and removes its files."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="rowpipe-py-pg-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        if self.as_postgres:
            user = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._initdb()
        opts = f"-k {self.root} -c listen_addresses='' -p {PORT} -c fsync=off -c max_connections=200"
        self._server(["start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log), "-o", opts])
        self._next = 0

    def _command(self, program: str, args: List[str]) -> List[str]:
        command = [str(self.bin / program), *args]
        return ["runuser", "-u", SUPERUSER, "--", *command] if self.as_postgres else command

    def _initdb(self) -> None:
        failures = []
        for locale in ["C.UTF-8", "C"]:
            args = ["-D", str(self.data), "--auth=trust", "-U", SUPERUSER, "-E", "UTF8", f"--locale={locale}", "--no-sync"]
            out = subprocess.run(self._command("initdb", args), capture_output=True, text=True, cwd=self.root, env=clean_env())
            if out.returncode == 0:
                return
            failures.append(out.stderr)
            shutil.rmtree(self.data, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {failures}; {HINT}")

    def _server(self, args: List[str]) -> None:
        out = subprocess.run(self._command("pg_ctl", args), capture_output=True, text=True, cwd=self.root, env=clean_env())
        if out.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl {args[0]} failed: {out.stderr}\n{log[-4000:]}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._server(["stop", "-m", "immediate", "-w", "-D", str(self.data)])
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str) -> str:
        host = urllib.parse.quote(str(self.root), safe="")
        return f"postgresql://{SUPERUSER}@{host}:{PORT}/{dbname}"

    def create_database(self, prefix: str) -> "Db":
        self._next += 1
        name = f"{prefix}_{os.getpid()}_{self._next}"
        psql(self.url("postgres"), ["-c", f'CREATE DATABASE "{name}" TEMPLATE template0'])
        return Db(name, self.url(name))


def psql(url: str, args: List[str], stdin: Optional[bytes] = None) -> bytes:
    """psql's stdout; fails the test with its stderr when it fails."""
    out = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, *args],
        input=stdin, capture_output=True, env=clean_env(), timeout=120,
    )
    if out.returncode != 0:
        raise AssertionError(f"psql {args} failed: {out.stderr.decode(errors='replace')}")
    return out.stdout


class Db:
    """One test's own database."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def execute(self, sql: str) -> None:
        psql(self.url, ["-q", "-f", "-"], stdin=sql.encode())

    def scalar(self, sql: str) -> str:
        return psql(self.url, ["-A", "-t", "-q", "-c", sql]).decode().strip()

    def copy(self, query: str, options: str = "FORMAT csv, HEADER") -> bytes:
        """What ``psql \\copy (query) TO STDOUT WITH (options)`` prints."""
        one_line = " ".join(query.split())
        return psql(self.url, ["-c", f"\\copy ({one_line}) TO STDOUT WITH ({options})"])

    def row_to_json(self, query: str) -> bytes:
        """``row_to_json`` of each row, one a line (line breaks inside as spaces, as JSON
        Lines needs and rowpipe writes)."""
        sql = f"SELECT translate(row_to_json(q)::text, E'\\n\\r', '  ') FROM ({query}) q"
        return psql(self.url, ["-A", "-t", "-q", "-c", sql])

    def active_queries(self) -> int:
        """Client backends of this database running a query now, besides this check."""
        return int(self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state = 'active'"
        ))

    def terminate_active(self) -> int:
        """Terminates the backends of this database that are running a query."""
        return int(self.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND state = 'active'"
        ))
