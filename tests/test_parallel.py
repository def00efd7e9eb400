"""Capture in several worker processes: the plan (pure) and real runs against a local
server, on SQLite and PostgreSQL, including a worker killed mid-run."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers import Conn, Request, TestServer, article_html

from archive.api import Archive
from archive.capture.processes import Chunk, Scheduler, WorkerLost, per_worker_limit, plan_chunks
from archive.capture.results import CaptureFailure, CaptureResult
from archive.errors import StorageError

# --------------------------------------------------------------------------- the plan


def test_chunks_hold_one_host_each_in_first_seen_order() -> None:
    urls = [(0, "http://a.example/1"), (1, "http://b.example/1"), (2, "http://A.example/2"),
            (3, "http://a.example/3"), (4, "http://b.example/2")]
    chunks = plan_chunks(urls, 2)
    assert [(c.host, c.positions) for c in chunks] == [
        ("a.example", (0, 2)), ("a.example", (3,)), ("b.example", (1, 4))]
    assert chunks[0].urls == ("http://a.example/1", "http://A.example/2")


@pytest.mark.parametrize(("per_host", "processes", "expected"),
                         [(1, 4, (1, 1)), (4, 2, (2, 2)), (5, 2, (2, 2)), (2, 8, (2, 1)),
                          (8, 1, (1, 8))])
def test_a_host_never_sees_more_than_per_host(per_host: int, processes: int,
                                              expected: tuple[int, int]) -> None:
    spread, each = per_worker_limit(per_host, processes)
    assert (spread, each) == expected
    assert spread * each <= per_host


def _chunk(i: int, host: str) -> Chunk:
    return Chunk(i, host, (i,), (f"http://{host}/{i}",))


def test_scheduler_leases_a_host_to_one_worker_at_a_time() -> None:
    sched = Scheduler([_chunk(0, "a"), _chunk(1, "a"), _chunk(2, "b")], leases=1)
    first = sched.take(0)
    assert first is not None and first.host == "a"  # the host with the most work first
    second = sched.take(1)
    assert second is not None and second.host == "b"  # "a" is leased to worker 0
    assert sched.take(1) is None  # worker 1 may not join worker 0 on "a"
    again = sched.take(0)
    assert again is not None and again.host == "a"  # the holder may queue more of it
    sched.done(first, 0)
    sched.done(again, 0)
    assert sched.take(1) is None and sched.waiting == 0


def test_scheduler_spreads_a_host_over_its_leases() -> None:
    sched = Scheduler([_chunk(i, "a") for i in range(4)], leases=2)
    assert sched.take(0) is not None and sched.take(1) is not None
    assert sched.take(2) is None  # a third worker would exceed the host's leases
    assert sched.drain() and sched.waiting == 0


# --------------------------------------------------------------------------- real runs

class _Tracker:
    """A page handler that records, per Host header, the most requests seen at once
    (counted until the response is sent: a client may start its next request as soon
    as it has read this one), and can call ``on_request`` at the n-th request."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.requests = 0
        self.on_request: tuple[int, Callable[[], None]] | None = None

    def __call__(self, request: Request, conn: Conn) -> None:
        host = (request.header("host") or "").split(":")[0]
        with self.lock:
            self.now[host] += 1
            self.peak[host] = max(self.peak[host], self.now[host])
            self.requests += 1
            trigger = self.on_request
            if trigger and trigger[0] == self.requests:
                trigger[1]()
        try:
            time.sleep(self.delay)
        finally:
            with self.lock:
                self.now[host] -= 1
        conn.respond(200, article_html(title=f"Page {request.path}").encode())


@pytest.fixture
def tracked() -> Iterator[tuple[TestServer, _Tracker]]:
    tracker = _Tracker(delay=0.01)
    with TestServer(routes={"/p/*": tracker}) as server:
        yield server, tracker


def _urls(server: TestServer, n: int) -> list[str]:
    hosts = ("127.0.0.1", "localhost")
    return [server.url(f"/p/{i}", host=hosts[i % 2]) for i in range(n)]


def test_processes_capture_every_url_in_order_and_keep_per_host(
        arc: Archive, tracked: tuple[TestServer, _Tracker]) -> None:
    server, tracker = tracked
    urls = _urls(server, 96)
    outcomes = arc.capture(urls, processes=2, concurrency=4, per_host=1, batch_size=4)
    assert [o.url for o in outcomes] == urls
    assert all(isinstance(o, CaptureResult) and o.status == "complete" for o in outcomes)
    assert max(tracker.peak.values()) == 1  # four threads per worker, one fetch per host
    assert len({o.capture_id for o in outcomes}) == len(urls)
    assert arc.check_custody().ok
    assert arc.verify().ok


def test_a_worker_asks_for_robots_txt_once_per_host_not_once_per_chunk(
        arc: Archive, tracked: tuple[TestServer, _Tracker]) -> None:
    """96 URLs of two hosts in 24 chunks over two workers: each worker keeps its
    robots.txt answers (and connections) for the whole run."""
    server, _ = tracked
    before = sum(1 for r in server.requests if r.path == "/robots.txt")
    outcomes = arc.capture(_urls(server, 96), processes=2, concurrency=1, per_host=2,
                           batch_size=4)
    assert all(o.ok for o in outcomes)
    asked = sum(1 for r in server.requests if r.path == "/robots.txt") - before
    assert 2 <= asked <= 4  # two hosts, at most both workers each


def test_a_host_allowing_two_fetches_gets_two_workers(
        arc: Archive, tracked: tuple[TestServer, _Tracker]) -> None:
    """per_host=2 over two processes: one fetch of the host per worker, two at once."""
    server, tracker = tracked
    urls = [server.url(f"/p/{i}") for i in range(64)]
    outcomes = arc.capture(urls, processes=2, concurrency=4, per_host=2, batch_size=4)
    assert all(o.ok for o in outcomes)
    assert tracker.peak["127.0.0.1"] == 2  # both workers ran, neither exceeded its share
    assert arc.verify().ok


def test_a_killed_worker_leaves_failures_not_gaps(
        arc: Archive, tracked: tuple[TestServer, _Tracker]) -> None:
    """SIGKILL one worker at the 20th request, while both still have work."""
    server, tracker = tracked
    urls = _urls(server, 160)
    killed: list[int] = []

    def kill_one() -> None:
        worker = next(p for p in multiprocessing.active_children()
                      if p.name.startswith("archive-capture-"))
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        killed.append(worker.pid)

    tracker.on_request = (20, kill_one)
    outcomes = arc.capture(urls, processes=2, concurrency=2, per_host=1, batch_size=4)
    assert killed
    assert [o.url for o in outcomes] == urls  # every URL has an outcome
    lost = [o for o in outcomes if isinstance(o, CaptureFailure)]
    assert lost and all(isinstance(o.error, WorkerLost) for o in lost)
    assert all("killed by signal 9" in o.error.message for o in lost)
    assert any(o.ok for o in outcomes)
    arc.reconcile()  # a file the dead worker wrote but did not record is adopted
    assert arc.verify().ok and arc.check_custody().ok


def test_a_worker_error_is_raised_in_the_caller(arc: Archive,
                                                tracked: tuple[TestServer, _Tracker],
                                                tmp_path: Path) -> None:
    """The store cannot be written (its folder is a file): the worker's StorageError
    reaches the caller, as it would from a single process."""
    server, _ = tracked
    arc.store.root.parent.mkdir(parents=True, exist_ok=True)
    arc.store.root.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot create WARC file"):
        arc.capture(_urls(server, 48), processes=2, per_host=1, batch_size=4)


_FRESH_PROCESS = """
import multiprocessing, os, sys, threading
from pathlib import Path
from servers import TestServer, article_html
from archive.api import Archive
from archive.core.config import Settings

def page(request, conn):
    conn.respond(200, article_html(title=request.path).encode())

def env_of_forkserver_child(out):
    out.put(os.environ.get("ARCHIVE_TEST_MARK"))

if __name__ == "__main__":
    settings = Settings.from_env({"ARCHIVE_HOME": sys.argv[1]}).with_fetch(
        allow_private_networks=True)
    with TestServer(routes={"/p/*": page}) as server, Archive.open(settings) as arc:
        assert threading.active_count() > 1  # the server's threads: no plain fork
        urls = [server.url(f"/p/{i}") for i in range(40)]
        assert all(o.ok for o in arc.capture(urls, processes=2, batch_size=4))
    os.environ["ARCHIVE_TEST_MARK"] = "set after the capture"
    ctx = multiprocessing.get_context("forkserver")
    out = ctx.Queue()
    child = ctx.Process(target=env_of_forkserver_child, args=(out,))
    child.start()
    print(out.get(timeout=60))
    child.join()
"""


def test_processes_from_a_threaded_process_leave_its_fork_server_alone(
        tmp_path: Path) -> None:
    """The fork server is one per process and keeps the environment it started with;
    Dagster's multiprocess executor starts step processes from it. A capture in
    processes must not be what starts it, or later steps see a stale environment
    (a fresh interpreter, so no other test has started it first)."""
    script = tmp_path / "run.py"
    script.write_text(_FRESH_PROCESS, "utf-8")
    tests = Path(__file__).resolve().parent
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "archive")],
                          capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": f"{tests}{os.pathsep}"
                               f"{os.environ.get('PYTHONPATH', '')}"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "set after the capture"
