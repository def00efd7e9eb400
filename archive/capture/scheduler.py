"""The in-process capture engine: fetch URLs under the politeness limits, write the
finished ones in batches, record failures.

:func:`capture_urls` is what :meth:`archive.api.Archive.capture` runs in its own
process and what each worker process of :mod:`archive.capture.processes` runs on its
chunks (workers call this engine, never the façade). Fetches run on ``concurrency``
threads with at most ``per_host`` at a time per host; finished fetches are written in
batches, one WARC file per batch (:meth:`Recorder.record`), so a batch costs one fsync
and one transaction. One URL's failure never raises: it is recorded and returned.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from archive.capture.prepare import Prepared
from archive.capture.record import Recorder
from archive.capture.results import Outcome
from archive.capture.revalidate import RequisiteCache
from archive.capture.subresources import GuardedFetch, PageRequisites
from archive.core.config import FetchPolicy, PageLimits, Settings
from archive.core.urls import host_of
from archive.errors import FetchError, RefusedURLError
from archive.http.fetch import Fetcher
from archive.http.models import FetchResult
from archive.http.robots import Robots
from archive.http.spool import sweep
from archive.ledger.custody import Agent

_LULL = 0.5  # seconds without a finished fetch after which the pages ready are written

RequisiteFinder = Callable[[FetchResult, GuardedFetch, PageLimits, RequisiteCache | None],
                           PageRequisites]
"""``page`` mode's step after the document: find its requisites and fetch each with the
guarded fetch it is given (:func:`archive.page.fetching.fetch_requisites`, injected by
the façade: page parsing sits above the capture engine), revalidating what the run's
cache knows (:mod:`archive.capture.revalidate`)."""


@dataclass(frozen=True)
class CaptureSession:
    """What successive captures of one run share: the fetcher (its kept connections) and
    the robots.txt answers. A capture worker process keeps one for every chunk of URLs
    it is sent, so a host's robots.txt is fetched once per run, not once per chunk;
    likewise the shared requisites it may revalidate instead of fetching again."""

    fetcher: Fetcher
    robots: Robots
    requisites: RequisiteCache = field(default_factory=RequisiteCache)

    def close(self) -> None:
        self.fetcher.close()

    def __enter__(self) -> CaptureSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(settings: Settings) -> CaptureSession:
    """A fetcher and robots.txt cache for the captures of one run.

    Large bodies spool under the archive's ``tmp`` folder; what a killed run left there
    is swept first (live runs' spools are locked and kept)."""
    tmp = settings.tmp_dir
    sweep(tmp)
    return CaptureSession(Fetcher(settings.fetch, ca_bundle=settings.ca_bundle, spool_dir=tmp),
                          Robots(settings.fetch, ca_bundle=settings.ca_bundle))


def capture_urls(recorder: Recorder, session: CaptureSession,
                 todo: Sequence[tuple[int, str]], *, agent: Agent, concurrency: int,
                 per_host: int, batch_size: int, ignore_robots: dict[str, str] | None,
                 on_done: Callable[[int, Outcome], None], mode: str = "html",
                 requisites: RequisiteFinder | None = None) -> None:
    """Capture each (position, url) of ``todo``; ``on_done(position, outcome)`` is
    called once for each, on this thread, as soon as its outcome is recorded.

    robots.txt is obeyed unless ``ignore_robots`` maps the URL (or ``"*"``) to the
    operator's reason, which is recorded in the capture's provenance (the page's
    reason covers its requisites). With ``requisites`` (``page`` mode) each page's
    requisites are fetched after it, each through :func:`guarded_fetch`: robots.txt,
    its host's politeness slot, netguard, and the page's limits
    (``recorder.settings.page``); they are written with the page, in one file.
    """
    fetcher, robots = session.fetcher, session.robots
    overrides = ignore_robots or {}
    host_slots: dict[str, threading.Semaphore] = {}
    slots_lock = threading.Lock()

    def slot(url: str) -> threading.Semaphore:
        with slots_lock:
            return host_slots.setdefault(host_of(url), threading.Semaphore(per_host))

    def fetch_one(url: str) -> tuple[str, FetchResult | FetchError, Prepared | None]:
        with slot(url):
            try:
                override = overrides.get(url, overrides.get("*"))
                if override:
                    robots_note: dict[str, Any] = {"policy": "ignored", "reason": override}
                else:
                    decision = robots.check(url)
                    if not decision.allowed:
                        raise RefusedURLError(
                            f"{url}: {decision.reason} ({decision.robots_url}); capture "
                            "it anyway with --ignore-robots REASON", url=url)
                    robots_note = {"policy": "obey", **decision.to_json()}
                result = fetcher.fetch(url)
            except FetchError as exc:
                return url, exc, None
        found: PageRequisites | None = None
        try:
            if requisites is not None:  # after the page's slot is let go: a requisite on
                try:                    # the same host takes it again
                    found = requisites(
                        result, functools.partial(guarded, robots_ok=bool(override)),
                        recorder.settings.page, session.requisites)
                except FetchError as exc:  # browser mode: Chromium missing, crashed, hung
                    result.close()
                    return url, exc, None
            return url, result, recorder.prepare_fetch(result, agent, robots=robots_note,
                                                       mode=mode, requisites=found)
        except BaseException:
            result.close()
            if found is not None:
                found.close()
            raise

    def guarded(url: str, policy: FetchPolicy, follow: bool = True,
                headers: Mapping[str, str] | None = None, *,
                robots_ok: bool) -> FetchResult | FetchError:
        """One requisite under the page's guards; the failure returned, not raised."""
        with slot(url):
            try:
                if not robots_ok:
                    decision = robots.check(url)
                    if not decision.allowed:
                        return RefusedURLError(f"{url}: {decision.reason} "
                                               f"({decision.robots_url})", url=url)
                return fetcher.fetch(url, policy=policy, follow=follow, headers=headers)
            except FetchError as exc:
                return exc

    pending: list[tuple[int, FetchResult, Prepared]] = []

    def flush() -> None:
        if not pending:
            return
        try:
            stored = recorder.record([p for _, _, p in pending], agent)
            for (idx, _, _), res in zip(pending, stored, strict=True):
                on_done(idx, res)
        finally:
            for _, fr, prepared in pending:
                fr.close()
                if prepared.requisites is not None:
                    prepared.requisites.close()
            pending.clear()

    def settle(idx: int, url: str, res: FetchResult | FetchError,
               prepared: Prepared | None) -> None:
        if isinstance(res, FetchError):
            on_done(idx, recorder.record_failure(url, res, agent))
        else:
            assert prepared is not None
            pending.append((idx, res, prepared))
            if prepared.requisites is not None:  # in file order: see capture.revalidate
                session.requisites.learn(prepared.requisites)
            if len(pending) >= batch_size:
                flush()

    if concurrency <= 1:
        # One fetch at a time runs on this thread: a pool's hand-offs between threads
        # cost more CPU than a fast server's page (worker processes, not threads,
        # make a loopback capture parallel).
        for idx, url in todo:
            started = time.monotonic()
            settle(idx, *fetch_one(url))
            if time.monotonic() - started >= _LULL:  # slow fetches: write what is
                flush()                               # ready meanwhile
        flush()
    else:
        _fetch_in_threads(todo, fetch_one, settle, flush, concurrency, batch_size, pending)


def _fetch_in_threads(todo_pairs: Sequence[tuple[int, str]], fetch_one: Callable[..., Any],
                      settle: Callable[..., None], flush: Callable[[], None],
                      concurrency: int, batch_size: int, pending: Sized) -> None:
    """Fetch on ``concurrency`` threads; settle each result on this thread.

    A bounded window of fetches in flight keeps memory flat in the number of URLs:
    finished fetches hold spooled bodies until their batch is written (``pending``,
    which counts against the window). Finished
    fetches arrive on a queue (concurrent.futures.wait over the whole window took a
    lock on every future in flight per page).
    """
    window = 4 * concurrency + batch_size
    finished: queue.SimpleQueue[tuple[int, Future[Any]]] = queue.SimpleQueue()
    in_flight = 0
    todo = iter(todo_pairs)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        def refill() -> None:
            nonlocal in_flight
            while in_flight + len(pending) < window:
                nxt = next(todo, None)
                if nxt is None:
                    return
                future = pool.submit(fetch_one, nxt[1])
                future.add_done_callback(functools.partial(_post, finished, nxt[0]))
                in_flight += 1

        refill()
        while in_flight:
            try:
                idx, fut = finished.get(timeout=_LULL)
            except queue.Empty:  # slow fetches: write what is ready meanwhile
                flush()
                continue
            in_flight -= 1
            settle(idx, *fut.result())
            if not in_flight:
                flush()
            refill()
        flush()


def _post(finished: queue.SimpleQueue[tuple[int, Future[Any]]], index: int,
          future: Future[Any]) -> None:
    finished.put((index, future))


__all__ = ["CaptureSession", "RequisiteFinder", "capture_urls", "open_session"]
