"""A server process (rowpipe serve, Datasette, gunicorn, uvicorn) on a loopback port, for
the benchmarks: started, waited for, downloaded from with curl, its memory read, stopped."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import bench as b


class Service:
    """A server process (rowpipe serve, datasette) on a free loopback port."""

    def __init__(self, cmd: list[str], port: int, ready_path: str, log: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None):
        self.cmd, self.port, self.ready_path, self.log = cmd, port, ready_path, log
        self.env = dict(b.client_env(), **(env or {}))
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Service":
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                  self.url(self.ready_path)], capture_output=True, text=True)
            if out.stdout == "200":
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise b.BenchError(f"{self.cmd[0]} did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def download(self, path: str) -> tuple[float, int]:
        """(wall seconds, bytes) of one curl download to /dev/null; fails unless 200."""
        start = time.perf_counter()
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{http_code}",
                              self.url(path)], capture_output=True, text=True, env=b.client_env())
        wall = time.perf_counter() - start
        size, code = out.stdout.split()
        if out.returncode != 0 or code != "200":
            raise b.BenchError(f"GET {path}: curl exit {out.returncode}, HTTP {code}")
        return wall, int(size)

    def vm_hwm_kb(self) -> int:
        """Peak RSS of the process, or of its largest child (a pre-forking server's
        worker)."""
        assert self.proc is not None
        return max([b.vm_hwm_kb(self.proc.pid),
                    *(b.vm_hwm_kb(pid) for pid in b.children_of(self.proc.pid))])


