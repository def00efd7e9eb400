"""Capture on several processes, keeping the per-host politeness limit across them.

One interpreter tops out near 350 pages/s however many fetch threads it runs (the
GIL: fetching, gzip and hashing are all CPU work on a fast network). Each worker
process opens the same store and database and runs the ordinary single-process
capture on chunks of URLs: every WARC file, row and custody event is written exactly
as it would be by one process; SQLite serialises the commits (WAL, BEGIN IMMEDIATE),
PostgreSQL locks the log head.

Politeness: a host's URLs are cut into chunks of one host each, and a host is leased
to at most ``k = min(processes, per_host)`` workers at a time, each allowed
``per_host // k`` fetches of it at once, so a host never sees more than ``per_host``.

The scheduling (:class:`Scheduler`) is pure; :func:`capture_in_processes` does the I/O.
Workers run the in-process engine (:func:`archive.capture.scheduler.capture_urls`) with
a recorder of their own; they never build the façade.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from archive.capture.record import Recorder
from archive.capture.results import Outcome
from archive.capture.scheduler import RequisiteFinder, capture_urls, open_session
from archive.core.config import Settings
from archive.core.urls import host_of
from archive.errors import ArchiveError, WorkerLost
from archive.http.deadline import WATCHDOG_THREAD
from archive.http.fetch import tls_context
from archive.ledger.custody import Agent
from archive.ledger.db import make_engine
from archive.warc.stores import open_store

_POLL = 0.5  # seconds between checks that every worker is still alive


@dataclass(frozen=True)
class Chunk:
    """URLs of one host, with their positions in the caller's list."""

    id: int
    host: str
    positions: tuple[int, ...]
    urls: tuple[str, ...]


def plan_chunks(urls: Sequence[tuple[int, str]], size: int) -> list[Chunk]:
    """Group (position, url) pairs by host, in first-seen order; cut into ``size``."""
    by_host: dict[str, list[tuple[int, str]]] = {}
    for pos, url in urls:
        by_host.setdefault(host_of(url), []).append((pos, url))
    chunks: list[Chunk] = []
    for host, items in by_host.items():
        for i in range(0, len(items), max(1, size)):
            part = items[i:i + size]
            chunks.append(Chunk(len(chunks), host, tuple(p for p, _ in part),
                                tuple(u for _, u in part)))
    return chunks


class Scheduler:
    """Which chunk a worker takes next: never more than ``leases`` workers on a host.

    Hosts with the most work left go first, so a big host does not end the run alone.
    """

    def __init__(self, chunks: Sequence[Chunk], leases: int) -> None:
        self.leases = max(1, leases)
        self._waiting: dict[str, deque[Chunk]] = {}
        for chunk in chunks:
            self._waiting.setdefault(chunk.host, deque()).append(chunk)
        self._holders: dict[str, dict[int, int]] = {}  # host -> worker -> chunks held

    def take(self, worker: int) -> Chunk | None:
        candidates = [h for h, q in self._waiting.items() if q and self._allowed(h, worker)]
        if not candidates:
            return None
        host = max(candidates, key=lambda h: len(self._waiting[h]))
        chunk = self._waiting[host].popleft()
        held = self._holders.setdefault(host, {})
        held[worker] = held.get(worker, 0) + 1
        return chunk

    def _allowed(self, host: str, worker: int) -> bool:
        held = self._holders.get(host, {})
        return worker in held or len(held) < self.leases

    def done(self, chunk: Chunk, worker: int) -> None:
        held = self._holders[chunk.host]
        held[worker] -= 1
        if not held[worker]:
            del held[worker]

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def drain(self) -> list[Chunk]:
        """Every chunk not yet handed out (the run is being abandoned)."""
        left = [c for q in self._waiting.values() for c in q]
        self._waiting.clear()
        return left


def per_worker_limit(per_host: int, processes: int) -> tuple[int, int]:
    """(workers a host may be spread over, fetches of it each of them may make)."""
    spread = max(1, min(processes, per_host))
    return spread, max(1, per_host // spread)


# --------------------------------------------------------------------------- processes

@dataclass(frozen=True)
class _Job:
    settings: Settings
    agent: Agent
    concurrency: int
    per_host: int
    batch_size: int
    ignore_robots: dict[str, str] | None
    mode: str = "html"
    requisites: RequisiteFinder | None = None  # a module-level function: pickled by name


def worker_context() -> Any:  # a multiprocessing context
    """fork when this process runs no other thread than the fetch watchdog (children
    start in milliseconds and share the imports; a child starts its own watchdog afresh,
    see archive/http/deadline.py); otherwise spawn, because forking a threaded process
    can copy a lock that another thread holds. The watchdog outlives a capture by up to
    a minute, so without that exception the extraction after a capture in the same
    process (a pipeline run) always spawned. Not forkserver: its server is one per
    process, started once with the environment and preloads of that moment, and
    Dagster's multiprocess executor starts its step processes from it; sharing it would
    hand later steps a stale environment. A spawned worker imports the library afresh
    (about a second)."""
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and t.name != WATCHDOG_THREAD]
    if not others and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _worker(worker: int, job: _Job, tasks: Any, results: Any) -> None:
    """A worker process: capture each chunk it is sent, report, until told to stop."""
    try:
        engine = make_engine(job.settings.database_url)
        recorder = Recorder(job.settings, engine, store=open_store(job.settings))
        session = open_session(job.settings)
    except BaseException as exc:  # reported to the parent, which raises it
        results.put(("error", worker, None, _portable(exc)))
        return
    try:
        with session:  # one robots.txt per host, kept connections
            while (chunk := tasks.get()) is not None:
                outcomes: dict[int, Outcome] = {}
                try:
                    capture_urls(recorder, session, list(enumerate(chunk.urls)),
                                 agent=job.agent, concurrency=job.concurrency,
                                 per_host=job.per_host, batch_size=job.batch_size,
                                 ignore_robots=job.ignore_robots,
                                 on_done=outcomes.__setitem__, mode=job.mode,
                                 requisites=job.requisites)
                except BaseException as exc:  # reported to the parent
                    results.put(("error", worker, chunk, _portable(exc)))
                    return
                results.put(("done", worker, chunk,
                             [outcomes[i] for i in range(len(chunk.urls))]))
    finally:
        close = getattr(job.requisites, "close", None)  # browser mode's Chromium
        if close is not None:
            close()
        engine.dispose()


def _portable(exc: BaseException) -> ArchiveError:
    """The exception as an ArchiveError that survives pickling with its message."""
    if isinstance(exc, ArchiveError):
        return exc
    return ArchiveError(f"capture worker failed: {type(exc).__name__}: {exc}")


def capture_in_processes(
    recorder: Recorder, todo: Sequence[tuple[int, str]], *, agent: Agent, processes: int,
    concurrency: int, per_host: int, batch_size: int,
    ignore_robots: dict[str, str] | None,
    on_chunk: Callable[[Sequence[int], Sequence[Outcome]], None],
    mode: str = "html", requisites: RequisiteFinder | None = None,
) -> None:
    """Capture ``todo`` ((position, url) pairs) on ``processes`` worker processes.

    ``on_chunk`` receives each finished chunk's positions and outcomes. A worker that
    dies leaves its chunk's URLs as failures (with a custody failure event); an error
    a worker raises (disk full, database down) stops the others after their current
    chunk and is raised here.
    """
    spread, limit = per_worker_limit(per_host, processes)
    # A chunk is one batch: small chunks keep every worker busy to the end (four batches
    # a chunk left one of three workers idle for the last quarter of a 1,000-page run).
    chunks = plan_chunks(todo, batch_size)
    workers_n = max(1, min(processes, len(chunks)))
    sched = Scheduler(chunks, spread)
    job = _Job(recorder.settings, agent, concurrency, limit, batch_size, ignore_robots,
               mode, requisites)
    ctx = worker_context()
    if ctx.get_start_method() == "fork":
        # Forked workers inherit this process's loaded CA bundle (about 25 ms of CPU
        # each would otherwise spend loading it again for its fetcher and robots.txt).
        tls_context(recorder.settings.fetch.verify_tls, recorder.settings.ca_bundle)
    # No database connection may cross a fork (SQLite's own rule): close the pooled ones.
    recorder.engine.dispose()
    results = ctx.Queue()
    tasks = [ctx.Queue() for _ in range(workers_n)]
    procs = [ctx.Process(target=_worker, args=(w, job, tasks[w], results), daemon=True,
                         name=f"archive-capture-{w}") for w in range(workers_n)]
    for p in procs:
        p.start()
    held: dict[int, list[Chunk]] = {w: [] for w in range(workers_n)}
    alive = set(range(workers_n))
    error: ArchiveError | None = None

    def feed() -> None:
        """Every worker one chunk to run, then one queued behind it: in rounds, so an
        idle worker gets a host before a busy one leases a second."""
        for depth in (1, 2):
            for w in sorted(alive):
                if error is None and len(held[w]) < depth:
                    chunk = sched.take(w)
                    if chunk is not None:
                        held[w].append(chunk)
                        tasks[w].put(chunk)

    def lose(w: int, why: str) -> None:
        alive.discard(w)
        for chunk in held.pop(w, []):
            sched.done(chunk, w)
            _fail(recorder, agent, chunk, why, on_chunk)

    try:
        while alive:
            feed()
            if not any(held[w] for w in alive):
                break  # nothing left to hand out
            try:
                kind, w, chunk, payload = results.get(timeout=_POLL)
            except queue.Empty:
                for w in list(alive):
                    code = procs[w].exitcode
                    if code is not None and results.empty():
                        lose(w, f"capture worker process {procs[w].pid} exited "
                                f"({_exit_reason(code)}) before reporting these URLs")
                continue
            if kind == "done":
                held[w].remove(chunk)
                sched.done(chunk, w)
                on_chunk(chunk.positions, payload)
            else:  # "error": the worker stopped; the others finish their chunk, then stop
                error = error or payload
                alive.discard(w)
                held.pop(w, None)
        if error is None:
            for chunk in sched.drain():  # only when every worker died
                _fail(recorder, agent, chunk, "every capture worker process ended", on_chunk)
    finally:
        for w in range(workers_n):
            tasks[w].put(None)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        results.close()
        for t in tasks:
            t.close()
    if error is not None:
        raise error


def _fail(recorder: Recorder, agent: Agent, chunk: Chunk, why: str,
          on_chunk: Callable[[Sequence[int], Sequence[Outcome]], None]) -> None:
    outcomes = [recorder.record_failure(
        url, WorkerLost(f"{url}: {why}; run the capture again", url=url), agent)
        for url in chunk.urls]
    on_chunk(chunk.positions, outcomes)


def _exit_reason(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"
