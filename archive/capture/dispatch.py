"""One ``capture`` call from URLs to outcomes: what a retried run already did is
skipped, browser mode's Chromium is started first, and the rest runs in this process
(:mod:`archive.capture.scheduler`) or in worker processes
(:mod:`archive.capture.processes`).

This is the engine behind :meth:`archive.api.Archive.capture`; the façade only hands it
the recorder, the agent and page mode's requisite step (page parsing sits above the
capture engine, so it is injected). Workers call the scheduler, never this module.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Sequence

from archive.capture.processes import capture_in_processes
from archive.capture.record import Recorder
from archive.capture.rendered import BrowserMode, fell_back
from archive.capture.results import Outcome
from archive.capture.runs import done_in_run
from archive.capture.scheduler import (
    CaptureSession,
    RequisiteFinder,
    capture_urls,
    open_session,
)
from archive.core.config import check_mode
from archive.errors import BrowserError
from archive.ledger.custody import Agent

_log = logging.getLogger("archive")


def capture(recorder: Recorder, urls: Sequence[str], *, agent: Agent,
            page_requisites: RequisiteFinder, concurrency: int = 4, per_host: int = 1,
            batch_size: int = 32, processes: int = 1,
            ignore_robots: dict[str, str] | None = None,
            on_done: Callable[[Outcome], None] | None = None,
            session: CaptureSession | None = None, mode: str) -> list[Outcome]:
    """Capture every URL in ``mode``, one outcome per URL in order; never raises for
    one URL's failure. ``page_requisites`` is page mode's requisite step (and browser
    mode's fallback). See :meth:`archive.api.Archive.capture` for the parameters."""
    check_mode(mode)
    with contextlib.ExitStack() as browser:
        requisites: RequisiteFinder | None = page_requisites if mode == "page" else None
        if mode == "browser":
            requisites = _browser_step(recorder, browser, page_requisites)
            concurrency, processes = 1, 1  # one Chromium, bound to this thread
        return _capture(recorder, urls, agent=agent, concurrency=concurrency,
                        per_host=per_host, batch_size=batch_size, processes=processes,
                        ignore_robots=ignore_robots, on_done=on_done, session=session,
                        mode=mode, requisites=requisites)


def _browser_step(recorder: Recorder, stack: contextlib.ExitStack,
                  page_requisites: RequisiteFinder) -> RequisiteFinder:
    """Browser mode's requisite step, its Chromium started now: a missing or broken
    one raises BrowserError (one line, exit 3) before anything is fetched, or, if the
    operator set ARCHIVE_BROWSER_FALLBACK=page, says so in one line and captures in
    page mode (each capture's provenance says why)."""
    fallback = page_requisites if recorder.settings.browser_fallback == "page" else None
    step = BrowserMode(fallback=fallback)
    stack.callback(step.close)
    try:
        step.start()
    except BrowserError as exc:
        if fallback is None:
            raise
        _log.warning("%s; capturing in page mode (ARCHIVE_BROWSER_FALLBACK=page)",
                     exc.message)
        return functools.partial(fell_back, exc.message, fallback)
    return step


def _capture(recorder: Recorder, urls: Sequence[str], *, agent: Agent, concurrency: int,
             per_host: int, batch_size: int, processes: int,
             ignore_robots: dict[str, str] | None,
             on_done: Callable[[Outcome], None] | None, session: CaptureSession | None,
             mode: str, requisites: RequisiteFinder | None) -> list[Outcome]:
    outcomes: dict[int, Outcome] = {}

    def done(idx: int, res: Outcome) -> None:
        outcomes[idx] = res
        if on_done:
            on_done(res)

    if agent.run_id:
        # A retried step of the same run must not capture again what an earlier
        # attempt already committed (it may have crashed before reporting success).
        done_before = done_in_run(recorder.engine, recorder.store, agent.run_id, urls)
        for i, url in enumerate(urls):
            if url in done_before:
                done(i, done_before[url])
    todo = [(i, u) for i, u in enumerate(urls) if i not in outcomes]
    if processes > 1 and len(todo) > 4 * batch_size:
        def chunk_done(positions: Sequence[int], results: Sequence[Outcome]) -> None:
            for idx, res in zip(positions, results, strict=True):
                done(idx, res)

        capture_in_processes(recorder, todo, agent=agent, processes=processes,
                             concurrency=concurrency, per_host=per_host,
                             batch_size=batch_size, ignore_robots=ignore_robots,
                             on_chunk=chunk_done, mode=mode, requisites=requisites)
    elif todo:
        with contextlib.ExitStack() as stack:
            if session is None:
                session = stack.enter_context(open_session(recorder.settings))
            capture_urls(recorder, session, todo, agent=agent,
                         concurrency=concurrency, per_host=per_host,
                         batch_size=batch_size, ignore_robots=ignore_robots,
                         on_done=done, mode=mode, requisites=requisites)
    return [outcomes[i] for i in range(len(urls))]


__all__ = ["capture"]
