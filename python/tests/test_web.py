"""Real web servers, real HTTP: a Django project under gunicorn (sync worker) and a
Starlette app under uvicorn, downloaded with curl. Complete downloads are psql's bytes; an
error before the first byte is a status; a backend terminated mid-stream aborts the
transfer (curl exit 18, never a clean end); a client that leaves mid-download leaves no
active query after one second, every time, and the pool stays healthy."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import poll_until

APPS = Path(__file__).resolve().parent / "apps"

#: Downloads abandoned in a row, per server.
DISCONNECTS = 100

SERVERS = {
    "django-gunicorn": lambda port: [
        sys.executable, "-m", "gunicorn", "--chdir", str(APPS / "django_project"),
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "sync",
        "--graceful-timeout", "1", "project.wsgi:application",
    ],
    "starlette-uvicorn": lambda port: [
        sys.executable, "-m", "uvicorn", "--app-dir", str(APPS), "--host", "127.0.0.1",
        "--port", str(port), "--no-access-log", "starlette_app:app",
    ],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def web_db(cluster):
    created = cluster.create_database("web")
    created.execute((Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "everything.sql").read_text())
    return created


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, web_db, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = dict(os.environ, ROWPIPE_TEST_DSN=web_db.url, PYTHONPATH=str(APPS))
    with open(log, "wb") as output:
        process = subprocess.Popen(SERVERS[request.param](port), env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return process.poll() is not None

    assert poll_until(30, up) and process.poll() is None, log.read_text()
    yield base
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "--silent", "--show-error", *args], capture_output=True, timeout=timeout)


def test_complete_downloads_are_psqls_bytes(server, web_db, tmp_path):
    query = "SELECT * FROM everything ORDER BY id"
    headers = tmp_path / "headers"
    done = curl("--fail", "--dump-header", str(headers), f"{server}/export/everything")
    assert done.returncode == 0, done.stderr
    assert done.stdout == web_db.copy(query)
    seen = headers.read_text().lower()
    assert "content-type: text/csv; charset=utf-8" in seen
    assert 'content-disposition: attachment; filename="everything.csv"' in seen
    done = curl("--fail", f"{server}/export/everything?format=jsonl")
    assert done.returncode == 0, done.stderr
    assert done.stdout == web_db.row_to_json(query)
    done = curl("--fail", f"{server}/export/everything?format=tsv")
    assert done.stdout == web_db.copy(query, "FORMAT text, HEADER")


def test_errors_before_the_first_byte_are_statuses(server):
    done = curl("--write-out", "\n%{http_code}", f"{server}/export/broken")
    body, status = done.stdout.rsplit(b"\n", 1)
    assert status == b"500"
    assert json.loads(body)["sqlstate"] == "42P01"
    done = curl("--write-out", "\n%{http_code}", f"{server}/export/everything?format=xml")
    body, status = done.stdout.rsplit(b"\n", 1)
    assert status == b"400" and b"xml" in body


def test_a_backend_terminated_mid_stream_aborts_the_download(server, web_db, tmp_path):
    output = tmp_path / "endless.csv"
    download = subprocess.Popen(
        ["curl", "--silent", "--limit-rate", "2M", "--output", str(output), f"{server}/export/endless"]
    )
    try:
        assert poll_until(10, lambda: output.exists() and output.stat().st_size > 100_000)
        assert web_db.terminate_active() == 1
        assert download.wait(30) == 18, "the download ended as if complete"
    finally:
        download.kill()
        download.wait()


def abandon_download(url: str) -> None:
    """Starts a download, reads a little of it, and leaves (closes the socket)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(f"GET /export/endless HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = 0
        while received < 200_000:
            data = client.recv(65536)
            assert data, "the server closed the download"
            received += len(data)


def test_a_client_that_leaves_leaves_no_query_behind(server, web_db, capsys):
    started = time.monotonic()
    for round_ in range(DISCONNECTS):
        abandon_download(server)
        assert poll_until(1.0, lambda: web_db.active_queries() == 0), f"round {round_}: the query still runs"
    with capsys.disabled():
        print(f"\n{DISCONNECTS} abandoned downloads in {time.monotonic() - started:.1f} s")
    # The pool is healthy: every connection serves again, and none leaked.
    done = curl("--fail", f"{server}/export/everything")
    assert done.returncode == 0 and done.stdout == web_db.copy("SELECT * FROM everything ORDER BY id")
    connections = int(web_db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ))
    assert connections <= 4
