"""The waits of a browser rendering, without a browser: a page that records what it is
asked (``archive.browser.scrolling``) and a page session whose route handlers are given
up when recording starts (``archive.browser.page``). Rendering in Chromium is
tests/test_browser_render.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from archive.browser import Exchange, Limits, Served
from archive.browser.page import PageSession, _Pending
from archive.browser.scrolling import scroll, wait_quiet


class _Handle:
    def __init__(self, value: Any) -> None:
        self._value = value

    def json_value(self) -> Any:
        return self._value


class FakePage:
    """A page ``height`` px high that scrolls where it is told, draws its frames at
    once, and notes each scroll target, each position it was asked to have held, and
    each wait (ms)."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.moves: list[list[int | None]] = []
        self.held: list[int] = []
        self.waits: list[float] = []

    def wait_for_function(self, script: str, arg: Any = None, timeout: float = 0) -> _Handle:
        if arg is None:  # HEIGHT
            return _Handle(self.height)
        if isinstance(arg, int):  # the position held, before the screenshot
            self.held.append(arg)
            return _Handle(True)
        self.moves.append(json.loads(json.dumps(arg)))
        return _Handle(self.height)

    def wait_for_timeout(self, ms: float) -> None:
        self.waits.append(ms)


class QuietAfter:
    """A session whose network has been quiet for the given seconds, one per call."""

    def __init__(self, *quiet: float, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.deadline = float("inf")
        self._quiet = list(quiet)
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)

    def quiet_for(self) -> float:
        return self._quiet.pop(0) if len(self._quiet) > 1 else self._quiet[0]

    def patience(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def test_wait_quiet_waits_the_missing_quiet_time_in_one_wait() -> None:
    page, session = FakePage(1000), QuietAfter(0.03, 0.2)
    assert wait_quiet(page, session, 0.2, float("inf"))  # type: ignore[arg-type]
    assert [round(ms) for ms in page.waits] == [170]  # not 20 ms steps


def test_wait_quiet_while_a_request_is_in_flight_looks_again_in_20_ms() -> None:
    page, session = FakePage(1000), QuietAfter(0.0, 0.0, 0.06)
    assert wait_quiet(page, session, 0.05, float("inf"))  # type: ignore[arg-type]
    assert [round(ms) for ms in page.waits] == [20, 20]


def test_scroll_from_a_primed_top_does_not_scroll_to_the_top_first() -> None:
    """prime() has set the top position while the idle wait ran: the scroll's first
    move is one viewport down, checking that the top was held (prev 0)."""
    page, session = FakePage(2000), QuietAfter(1.0)
    assert scroll(page, session, float("inf"), 2000) == 2000  # type: ignore[arg-type]
    assert page.moves == [[0, 800], [800, 1600], [1600, 0]]
    assert page.held == [0] and page.waits == []  # no fixed sleep between positions


def test_scroll_without_a_primed_top_starts_at_the_top() -> None:
    page, session = FakePage(2000), QuietAfter(1.0)
    assert scroll(page, session, float("inf")) == 2000  # type: ignore[arg-type]
    assert page.moves == [[None, 0], [0, 800], [800, 1600], [1600, 0]]
    assert page.held == [0]


def test_a_page_that_draws_no_frame_is_scrolled_on_regardless() -> None:
    """The frames of a position never come (a busy or hidden page): after the frame
    wait the next position is taken anyway (prev None), and the scroll goes on."""

    class NoFrames(FakePage):
        def wait_for_function(self, script: str, arg: Any = None,
                              timeout: float = 0) -> _Handle | None:  # type: ignore[override]
            if isinstance(arg, list) and arg[0] is not None:
                self.moves.append(json.loads(json.dumps(arg)))
                raise TimeoutError("no frame")  # as Playwright's timeout does
            return super().wait_for_function(script, arg, timeout)

    page, session = NoFrames(1600), QuietAfter(1.0)
    assert scroll(page, session, float("inf")) == 1600  # type: ignore[arg-type]
    assert page.moves == [[None, 0], [0, 800], [None, 800], [800, 0], [None, 0]]
    assert session.notes == []


def test_recording_gives_up_every_waiting_request_once() -> None:
    """stop_waiting() settles each request a route handler still waits for (and wakes
    the handler); the answer that comes afterwards adds no second record."""
    session = PageSession("http://127.0.0.1/", lambda ex: Served(200, (), b"late"), Limits())
    woken: list[str] = []
    exchanges = [Exchange("GET", f"http://127.0.0.1/{n}.png", (), None, "image", False)
                 for n in ("a", "b")]

    def waker(url: str) -> Callable[[], None]:
        return lambda: woken.append(url)

    pendings = [_Pending(waker(ex.url)) for ex in exchanges]
    for ex, pending in zip(exchanges, pendings, strict=True):
        session._waiting[pending] = ex
    session.stop_waiting()
    assert session.closing and sorted(woken) == sorted(ex.url for ex in exchanges)
    session.exchange(exchanges[0], pendings[0])  # the fetch answers after all
    records, _notes, _console = session.snapshot()
    assert [(r.url, r.outcome, r.reason) for r in records] == [
        (ex.url, "failed", "no answer before the page was recorded") for ex in exchanges]
    assert all(p.served is None for p in pendings)
