"""Shared helpers: statistics, the loopback server process, child processes with rusage."""

from __future__ import annotations

import json
import os
import shutil
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
            list(argv), cwd=cwd, stdout=out, stderr=err, env=env or env_for_children())
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


def run_json_child(args: Sequence[str], *, timeout: float = 900) -> dict[str, Any]:
    wall, _, out, err, code = run_child([PYTHON, "-m", "bench.child", *args], timeout=timeout)
    if code != 0:
        raise RuntimeError(
            f"bench.child {' '.join(args[:1])} failed ({code}): "
            f"{err.strip().splitlines()[-1] if err.strip() else out[-300:]}"
        )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process_wall_seconds"] = wall
    return result


class Server:
    """The loopback server (bench.server) in its own process."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", str(pages)],
            stdout=subprocess.PIPE, env=env_for_children())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            self.proc.kill()
            raise RuntimeError("the bench server did not start")
        self.port = int(line)
        self.base = f"http://127.0.0.1:{self.port}"

    def urls(self, n: int, start: int = 0) -> list[str]:
        return [self.base + corpus.path(i) for i in range(start, start + n)]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def scratch(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


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
