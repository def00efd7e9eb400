"""Shared helpers: statistics, the loopback server (nginx or Python), child processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import corpus

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def stats(values: Sequence[float]) -> dict[str, Any]:
    """Median with min and max (and the raw values) of several runs."""
    vals = [float(v) for v in values]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "runs": vals}


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def env_for_children() -> dict[str, str]:
    env = dict(os.environ)
    extra = os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    env["PYTHONPATH"] = str(ROOT) + extra
    env.pop("ARCHIVE_DATABASE_URL", None)
    env.pop("ARCHIVE_HOME", None)
    return env


def run_child(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = 900,
    env: dict[str, str] | None = None,
) -> tuple[float, int, str, str, int]:
    """Run a process; returns (wall seconds, its own peak RSS in KiB, stdout, stderr, code).

    The peak RSS is the child's high-water mark from ``wait4``'s rusage.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, stdout=out, stderr=err, env=env or env_for_children()
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            wall,
            int(usage.ru_maxrss),
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            proc.returncode,
        )


def run_json_child(args: Sequence[str], *, timeout: float = 900,
                   env: dict[str, str] | None = None) -> dict[str, Any]:
    wall, _, out, err, code = run_child([PYTHON, "-m", "bench.child", *args], timeout=timeout,
                                        env=env)
    if code != 0:
        raise RuntimeError(
            f"bench.child {' '.join(args[:1])} failed ({code}): "
            f"{err.strip().splitlines()[-1] if err.strip() else out[-300:]}"
        )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process_wall_seconds"] = wall
    return result


NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)

_NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    types {{ text/html html; text/css css; text/javascript js; image/png png;
             image/jpeg jpg; }}
    default_type text/plain;
    charset utf-8;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {prefix}/www;
    }}
}}
"""


def start_server(pages: int, tmp: Path, kind: str = "auto") -> LoopbackServer:
    """nginx when it is installed (or ``kind == "nginx"``), else the Python server."""
    if kind == "nginx" or (kind == "auto" and NGINX):
        if not NGINX:
            raise RuntimeError("nginx is not installed: apt-get install nginx-light")
        return NginxServer(pages, tmp)
    return Server(pages)


class _Loopback:
    """What every contender needs of the server: where page ``i`` is."""

    base: str

    def urls(self, n: int, start: int = 0) -> list[str]:
        return [self.base + corpus.path(i) for i in range(start, start + n)]


class NginxServer(_Loopback):
    """nginx serving the corpus pages as static files (one worker, sendfile, keep-alive).

    The issue's preferred peer server: it costs the clients less CPU than any Python
    server could, so the figures measure the clients, not the server.
    """

    describe = "nginx (one worker, sendfile, keep-alive), pages as static files"

    def __init__(self, pages: int, tmp: Path, files: dict[str, bytes] | None = None) -> None:
        """The corpus's first ``pages`` pages, or ``files`` (path -> body) when given."""
        assert NGINX
        self.pages = pages
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir=tmp))
        (self.prefix / "tmp").mkdir()
        if files is None:
            subprocess.run(
                [PYTHON, "-m", "bench.server", "--files", str(self.prefix / "www"), str(pages)],
                check=True,
                env=env_for_children(),
            )
        else:
            for path, body in files.items():
                target = self.prefix / "www" / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(body)
        self.port = _free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(
            _NGINX_CONF.format(
                prefix=self.prefix,
                port=self.port,
                # As root nginx would serve as nobody, who cannot read a 0700 temp dir.
                user="user root;\n" if os.geteuid() == 0 else "",
            )
        )
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        _wait_for(self.port, self.proc, "nginx")

    def close(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.prefix, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A loopback port whose successor is free too: ``archive serve --port P`` serves
    its replay origin on P + 1 (the bench's resolver runs and tests/servekit.py)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two consecutive free ports")


def _wait_for(port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{name} exited ({proc.returncode}): {err.strip()[-300:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within 20 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server(_Loopback):
    """The loopback server (bench.server) in its own process."""

    describe = (
        "bench.server: Python raw-socket HTTP/1.1, thread pool, pages from memory, keep-alive"
    )

    def __init__(self, pages: int, host: str = "127.0.0.1") -> None:
        self.pages = pages
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--host", host, str(pages)],
            stdout=subprocess.PIPE,
            env=env_for_children(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            self.proc.kill()
            raise RuntimeError("the bench server did not start")
        self.port = int(line)
        self.base = f"http://{host}:{self.port}"

    def close(self) -> None:
        _stop(self.proc)


LoopbackServer = Server | NginxServer


@contextmanager
def scratch(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


MEMORY_FS = Path("/dev/shm")


@contextmanager
def wget_scratch() -> Iterator[Path]:
    """A directory on a memory file system for what wget writes besides its WARC: the
    temporary file of each WARC record (``--warc-tempdir``) and, with
    ``--page-requisites``, the copy of every page and requisite it saves to parse
    (``-P``). Its WARC goes to the run's directory on disk, beside ours.

    On the bench machines the run's directory is on an ext4 where creating a file while
    much data is unwritten took up to 0.8 ms against 0.02 ms otherwise (2026-12-03: 805
    µs while 200 MB in /tmp was unwritten, 31 µs after a sync). wget creates about two
    files a record, and its rate followed the page cache's writeback, not wget: in html
    mode 380 to 680 pages/s in one run, 970 to 1,130 with its temporary files in memory,
    alternating; in page mode 260 pages/s with its copies on disk, 400 to 640 with its
    temporary files alone in memory. Our capture makes no temporary file for a page of
    the bench's size (its spool is memory up to the spill size) and one WARC file a
    batch, so it needs none. A memory /tmp is what Debian 13 and many desktops have."""
    parent = MEMORY_FS if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK) else None
    with scratch("wget-", parent) as path:
        yield path


def write_urls(path: Path, urls: Sequence[str]) -> Path:
    path.write_text("".join(u + "\n" for u in urls), "utf-8")
    return path


def du(path: Path, suffixes: tuple[str, ...] = ()) -> tuple[int, int]:
    """(files, bytes) under ``path`` (only names ending in ``suffixes`` when given)."""
    files = size = 0
    for p in path.rglob("*"):
        if p.is_file() and (not suffixes or p.name.endswith(suffixes)):
            files += 1
            size += p.stat().st_size
    return files, size
