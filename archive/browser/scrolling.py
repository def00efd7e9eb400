"""Scrolling a page so that what loads on scroll loads, and the waits around it.

Every evaluation here returns at once, bounded by ``wait_for_function``'s timeout and,
because a page script that starts looping holds an evaluation past any Playwright
timeout, by the session's :meth:`~Session.patience` (which ends that script; see
:mod:`archive.browser.stuck`); waits between steps are taken on our side
(``wait_for_timeout``), and "network idle" is read from the interceptor's own count of
requests in flight (:meth:`archive.browser.page.PageSession.quiet_for`), exact, not
from the browser's fixed 500 ms heuristic.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from archive.browser.models import Limits

if TYPE_CHECKING:
    from playwright.sync_api import Page


class Session(Protocol):
    """What scrolling needs of a page's session (:class:`~archive.browser.page.PageSession`)."""

    limits: Limits
    deadline: float

    def note(self, text: str) -> None: ...

    def quiet_for(self) -> float: ...

    def patience(self, seconds: float) -> AbstractContextManager[None]: ...


HEIGHT = ("() => Math.max(document.documentElement.scrollHeight, "
          "document.body ? document.body.scrollHeight : 0, 1)")
# Scroll to y once the position before (prev) has been held for two animation frames
# (the rendering update where native loading=lazy and IntersectionObservers see it;
# the page's window.__archiveScrolled says so), and return the page's height; until
# then null, so that wait_for_function, which polls on every animation frame, answers
# in the frame the position is held, not after a fixed sleep.
_SCROLL = """([prev, y]) => {
  if (prev !== null && window.__archiveScrolled !== prev) return null;
  const height = Math.max(document.documentElement.scrollHeight,
                          document.body ? document.body.scrollHeight : 0, 1);
  window.scrollTo(0, y);
  requestAnimationFrame(() => requestAnimationFrame(() => { window.__archiveScrolled = y; }));
  return height;
}"""
_HELD = "(y) => window.__archiveScrolled === y"
_FRAME_WAIT = 0.5  # seconds a step waits for its frames (a busy page: go on regardless)
_SCROLL_ROUNDS = 4  # scroll passes while the page keeps growing at its end


def left(session: Session, until: float) -> float:
    return max(0.0, min(until, session.deadline) - time.monotonic())


def timed_eval(page: Page, session: Session, script: str, arg: Any, timeout: float) -> Any:
    """Evaluate ``script`` (must return a truthy value) within ``timeout`` seconds, or
    None: ``wait_for_function`` is the evaluation with a timeout, and a page script
    that holds it (or the ``json_value`` after it) past ``timeout`` is ended."""
    if timeout <= 0.05:
        return None
    try:
        with session.patience(timeout):
            handle = page.wait_for_function(script, arg=arg, timeout=timeout * 1000)
            return handle.json_value()
    except Exception:  # timed out, ended, or the page is gone
        return None


def wait_quiet(page: Page, session: Session, quiet: float, until: float) -> bool:
    """Wait until no request has been in flight for ``quiet`` seconds (True), or until
    ``until`` (False). Each wait is for the quiet time still missing (at least 5 ms,
    20 ms while a request is in flight): the quiet time is read from the interceptor,
    so there is nothing to poll for in between."""
    while (done := session.quiet_for()) < quiet:
        remaining = left(session, until)
        if remaining <= 0.02:
            return False
        missing = quiet - done if done else 0.02
        try:
            page.wait_for_timeout(1000 * min(max(missing, 0.005), remaining))
        except Exception:  # the page is gone
            return False
    return True


def prime(page: Page, session: Session, until: float) -> int | None:
    """Scroll to the top and start counting its two frames: :func:`scroll`'s first
    position, held while the idle wait after the load event runs instead of after it.
    The page's height, or None if the page did not answer (then :func:`scroll` starts
    from the top itself)."""
    got = timed_eval(page, session, _SCROLL, [None, 0], min(2.0, left(session, until)))
    return int(got) if got else None


def scroll(page: Page, session: Session, until: float, top: int | None = None) -> int | None:
    """Scroll down a viewport at a time, so lazy images and infinite lists load, then
    back to the top; the page's height then, or None if the page stopped answering or
    time ran out first. ``top`` is :func:`prime`'s answer: the top position is set and
    its frames counted already.

    Each position is held until two animation frames have been drawn there (17 to
    33 ms at 60 Hz, seen by the next step's evaluation in the frame they are drawn:
    one evaluation a step) plus ``scroll_step_pause``. At the bottom, the interceptor,
    which sees every request, waits until none has been in flight for ``quiet``; if
    the page grew meanwhile (a list that loads more at its end), scrolling goes on, at
    most :data:`_SCROLL_ROUNDS` times; if it did not, that was the end of the page."""
    limits = session.limits
    step, cap = limits.viewport[1], limits.max_screenshot_height
    y, prev, total = 0, (None if top is None else 0), top
    for _ in range(_SCROLL_ROUNDS):
        while True:
            if total is None or y != prev:
                total = _move(page, session, prev, y, until)
                if total is None:
                    return None
                prev = y
            if y + step >= min(total, cap):
                break
            y += step
        settle = min(time.monotonic() + limits.scroll_settle, until)
        wait_quiet(page, session, limits.quiet, settle)
        height = timed_eval(page, session, HEIGHT, None, min(2.0, left(session, until)))
        if height is None or int(height) <= total or total >= cap:
            break
        y += step
    total = _move(page, session, prev, 0, until)
    if total is not None:  # the top drawn again before the screenshot is taken
        timed_eval(page, session, _HELD, 0, min(_FRAME_WAIT, left(session, until)))
    return total


def _move(page: Page, session: Session, prev: int | None, y: int,
          until: float) -> int | None:
    """Scroll to ``y`` once ``prev`` has been held (see :func:`scroll`), plus
    ``scroll_step_pause``; the page's height, or None (noted) if the page did not answer
    or time ran out. A busy page that draws no frame for :data:`_FRAME_WAIT` is scrolled
    on regardless."""
    got = timed_eval(page, session, _SCROLL, [prev, y], min(_FRAME_WAIT, left(session, until)))
    if got is None and prev is not None:  # no frames drawn: move on regardless
        got = timed_eval(page, session, _SCROLL, [None, y], min(2.0, left(session, until)))
    if got is None:
        session.note("scrolling stopped: the page did not answer in time")
        return None
    if left(session, until) <= 0:
        session.note("scrolling stopped at the deadline")
        return None
    if session.limits.scroll_step_pause > 0:
        page.wait_for_timeout(session.limits.scroll_step_pause * 1000)
    return int(got)


__all__ = ["Session", "left", "prime", "scroll", "wait_quiet"]
