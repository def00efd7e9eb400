"""One page in one fresh browser context: interception, limits, and the steps of a
rendering (load, network idle, scroll, record).

Every request of the context comes to :meth:`PageSession.on_route` (a Playwright route
handler, run in its own greenlet on the Playwright thread). It hands the
:class:`Exchange` to ``fetch`` on a worker thread and waits for the answer as an asyncio
future on Playwright's event loop, which the worker settles: Playwright goes on
meanwhile, so the page's requests are fetched in parallel, each is fulfilled as soon as
its answer is there (no polling), and none is waited for past the deadline or once the
page is being recorded (:meth:`PageSession.stop_waiting`).
Redirect hops come through :meth:`PageSession.proxy_answer` instead (see
:mod:`archive.browser.proxy`). Both paths go through :meth:`PageSession.exchange`, where
the limits are applied and each request gets exactly one :class:`RequestRecord`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urldefrag, urljoin, urlsplit, urlunsplit

from archive.browser import recording
from archive.browser.models import (
    Exchange,
    Fetch,
    Limits,
    Outcome,
    Phase,
    Refused,
    Rendering,
    RequestRecord,
    Served,
    Timings,
)
from archive.browser.scrolling import left, prime, scroll, wait_quiet
from archive.browser.stuck import ScriptBreaker

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Download,
        Page,
        Route,
        WebSocketRoute,
    )

_DROP_TO_BROWSER = {"content-length", "content-encoding", "transfer-encoding"}
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_TEXT = 1000


def hop_key(url: str) -> str:
    """A URL as the browser sends it on the wire: no fragment, lower-case scheme and
    host, no default port, the path percent-encoded. Compares a ``Location`` we passed
    with the request the browser makes for it."""
    parts = urlsplit(urldefrag(url)[0])
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port and (scheme, parts.port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{parts.port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    return urlunsplit((scheme, host, path, parts.query, ""))


class _Pending:
    """One request in flight: settled exactly once, by its answer or by giving up;
    ``wake`` (any thread) tells whoever waits for it."""

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self.wake = wake
        self.settled = False
        self.served: Served | None = None


class PageSession:
    """State of one page's rendering; everything shared with worker threads is under
    ``_lock``."""

    def __init__(self, url: str, fetch: Fetch, limits: Limits) -> None:
        self.url = url
        self.limits = limits
        self._fetch = fetch
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.deadline = self.started + limits.deadline
        self.phase: Phase = "load"
        self.closing = False  # recording started: answers still to come are dropped
        self.page: Page | None = None
        self.document_status: int | None = None
        self.records: list[RequestRecord] = []
        self.notes: list[str] = []
        self.console: list[str] = []
        self._count = 0
        self._bytes = 0
        # redirect target (hop_key) -> (resource type, navigation, main frame, from url)
        self._hops: dict[str, tuple[str, bool, bool, str]] = {}
        self._hops_asked: set[str] = set()
        self._inflight = 0
        self._last_change = time.monotonic()
        self._waiting: dict[_Pending, Exchange] = {}  # route handlers waiting for fetch
        self.breaker: ScriptBreaker | None = None  # set once the page has its CDP session

    def patience(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        """Guard the page calls made inside against a page script that holds them:
        past ``seconds``, the script is ended (:class:`ScriptBreaker`)."""
        if self.breaker is None:
            return contextlib.nullcontext()
        return self.breaker.patience(seconds)

    # ------------------------------------------------------------------ bookkeeping

    def note(self, text: str) -> None:
        with self._lock:
            if len(self.notes) < self.limits.max_notes:
                self.notes.append(text[:_MAX_TEXT])

    def _record(self, ex: Exchange, outcome: Outcome, *, status: int | None = None,
                size: int = 0, reason: str = "") -> None:
        self.records.append(RequestRecord(ex.url, ex.method, ex.resource_type,
                                          ex.is_navigation, self.phase, outcome, status,
                                          size, reason, ex.redirect_from))

    def _settle(self, ex: Exchange, pending: _Pending, outcome: Outcome, *,
                served: Served | None = None, reason: str = "", main: bool = False) -> None:
        with self._lock:
            if pending.settled:
                return
            pending.settled = True
            if served is not None and outcome == "served":
                self._bytes += len(served.body)
                pending.served = served
                if main and ex.is_navigation:
                    self.document_status = served.status
                location = _location(served)
                if served.status in _REDIRECTS and location is not None:
                    self._hops[hop_key(urljoin(ex.url, location))] = (
                        ex.resource_type, ex.is_navigation, main, ex.url)
            self._record(ex, outcome, status=served.status if served else None,
                         size=len(served.body) if served else 0, reason=reason)
            self._waiting.pop(pending, None)
        if pending.wake is not None:
            pending.wake()

    def stop_waiting(self) -> None:
        """Recording starts: answers still to come are dropped, and every route handler
        still waiting gives up now (its request is recorded as failed)."""
        with self._lock:
            self.closing = True
            waiting = list(self._waiting.items())
        for pending, ex in waiting:
            self._settle(ex, pending, "failed", reason="no answer before the page was recorded")

    def _refuse_now(self, ex: Exchange, outcome: Outcome, reason: str) -> None:
        with self._lock:
            self._record(ex, outcome, reason=reason)

    def exchange(self, ex: Exchange, pending: _Pending, *, main: bool = False) -> None:
        """Answer ``ex`` through ``fetch`` within the limits; settles ``pending``."""
        with self._lock:
            self._inflight += 1
            self._last_change = time.monotonic()
        try:
            self._exchange(ex, pending, main)
        finally:
            with self._lock:
                self._inflight -= 1
                self._last_change = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since the last request started or ended, 0 while one is in flight:
        every request passes through here, so this is exact, unlike a browser-side
        "network idle" that must wait a fixed 500 ms to be sure."""
        with self._lock:
            return 0.0 if self._inflight else time.monotonic() - self._last_change

    def _exchange(self, ex: Exchange, pending: _Pending, main: bool) -> None:
        with self._lock:
            self._count += 1
            over = self._count > self.limits.max_requests
        if over:
            self._settle(ex, pending, "over-limit",
                         reason=f"more than {self.limits.max_requests} requests")
            return
        try:
            answer = self._fetch(ex)
        except Exception as exc:  # the callable's failure is this request's, not the page's
            self._settle(ex, pending, "failed", reason=f"{type(exc).__name__}: {exc}")
            return
        if isinstance(answer, Refused):
            self._settle(ex, pending, "refused", reason=answer.reason)
            return
        size = len(answer.body)
        if size > self.limits.max_body:
            self._settle(ex, pending, "over-limit", reason=(
                f"body of {size} bytes is over the limit of {self.limits.max_body}"))
            return
        with self._lock:
            total = self._bytes + size
        if total > self.limits.max_total_bytes:
            self._settle(ex, pending, "over-limit", reason=(
                f"the page's bytes would reach {total}, over the limit of "
                f"{self.limits.max_total_bytes}"))
            return
        if self.closing:
            self._settle(ex, pending, "failed", reason="answered after the page was recorded")
            return
        self._settle(ex, pending, "served", served=answer, main=main)

    # ------------------------------------------------------------------ interception

    def on_route(self, route: Route) -> None:
        """Playwright route handler for every request of the context."""
        request = route.request
        url = request.url
        try:
            frame = request.frame
            main = frame == self.page.main_frame if self.page else False
            popup = self.page is not None and frame.page != self.page
        except Exception:
            # no frame yet: a popup's first navigation (the page's own frames exist
            # before they navigate), or a worker's request
            main = False
            popup = request.is_navigation_request()
        ex = Exchange(request.method, url, tuple(request.headers.items()),
                      request.post_data_buffer, request.resource_type,
                      request.is_navigation_request(), None, self.limits.max_body)
        scheme = urlsplit(url).scheme.lower()
        reason = ("not an http(s) URL" if scheme not in ("http", "https")
                  else "popup window" if popup
                  else "the page was being recorded" if self.closing else "")
        if reason:
            self._refuse_now(ex, "refused" if scheme not in ("http", "https") or popup
                             else "failed", reason)
            _quietly(route.abort, "blockedbyclient")
            return
        loop = asyncio.get_running_loop()  # Playwright's, running this handler
        answered: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, answered)

        pending = _Pending(wake)
        with self._lock:
            self._waiting[pending] = ex
        threading.Thread(target=self.exchange, args=(ex, pending), kwargs={"main": main},
                         daemon=True, name="archive-browser-fetch").start()
        try:
            # route._sync is how every call of Playwright's sync API waits: this greenlet
            # yields to the event loop until the future is settled (or the deadline)
            route._sync(asyncio.wait_for(answered, max(self.deadline - time.monotonic(), 0)))
        except TimeoutError:
            self._settle(ex, pending, "failed", reason="no answer before the page's deadline")
        except Exception:  # the browser or its driver is gone
            self._settle(ex, pending, "failed", reason="the page closed first")
        served = pending.served
        if served is None:
            _quietly(route.abort, "failed")
        else:
            _quietly(route.fulfill, status=served.status,
                     headers=_browser_headers(served.headers), body=served.body)

    def proxy_answer(self, method: str, url: str, headers: list[tuple[str, str]],
                     body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """What :class:`~archive.browser.proxy.HopProxy` sends for a request that went
        around interception: a redirect hop we passed on, or (refused) anything else."""
        key = hop_key(url)
        with self._lock:
            hop = self._hops.pop(key, None)
            if hop is not None:
                self._hops_asked.add(key)
            elif key in self._hops_asked:
                # Chromium asks again when a kept-alive connection closes without an
                # answer (how a refusal looks here): that hop is recorded already
                return None
        ex = Exchange(method, url, tuple(headers), body, hop[0] if hop else "other",
                      hop[1] if hop else False, hop[3] if hop else None,
                      self.limits.max_body)
        if hop is None:
            self._refuse_now(ex, "refused", "not a request of the page: the browser's own "
                             "traffic, or one that went around interception")
            return None
        pending = _Pending()
        self.exchange(ex, pending, main=hop[2])
        served = pending.served
        if served is None:
            return None
        return served.status, list(_browser_headers(served.headers).items()), served.body

    def on_websocket(self, ws: WebSocketRoute) -> None:
        ex = Exchange("GET", ws.url, (), None, "websocket", False)
        self._refuse_now(ex, "refused", "WebSockets are not captured")
        _quietly(ws.close, code=1008, reason="refused by the archive")

    def on_new_page(self, page: Page) -> None:
        # A popup's requests are refused (see on_request), so it stays blank; it is not
        # closed here: a popup shares its opener's renderer, and closing it waits for
        # that renderer, which a looping script holds. Closing the context ends it.
        if page != self.page:
            self.note(f"popup window refused: {page.url}")

    def on_download(self, download: Download) -> None:
        self.note(f"download refused: {download.url}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._console(message.text)

    def on_page_error(self, error: Any) -> None:
        self._console(f"uncaught: {error}")

    def _console(self, text: str) -> None:
        with self._lock:
            if len(self.console) < self.limits.max_console_errors:
                self.console.append(text[:_MAX_TEXT])

    def snapshot(self) -> tuple[tuple[RequestRecord, ...], tuple[str, ...], tuple[str, ...]]:
        with self._lock:
            return tuple(self.records), tuple(self.notes), tuple(self.console)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # not given up on (timed out) already
        future.set_result(None)


def _location(served: Served) -> str | None:
    return next((v for k, v in served.headers if k.lower() == "location"), None)


def _browser_headers(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Playwright takes one value per name: repeated ones are joined (Set-Cookie with
    newlines, as Playwright splits them again; others with commas, RFC 9110 5.3)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _DROP_TO_BROWSER:
            continue
        if key in merged:
            merged[key] += ("\n" if key == "set-cookie" else ", ") + value
        else:
            merged[key] = value
    return merged


def _quietly(call: Any, *args: Any, **kwargs: Any) -> None:
    """A Playwright call on a route, page or socket that may already be gone."""
    try:
        call(*args, **kwargs)
    except Exception:  # closed, already handled, or the browser is gone: nothing to do
        return


_CHROME_ERROR = re.compile(r"^chrome-error:")
# Seconds a DOM read or screenshot may wait on the page before the script holding it
# is ended (a 20,000 px screenshot, the longest, took 1.9 s on a slow 2-CPU machine);
# less when the page's deadline is nearer (see _record_patience).
_RECORD_PATIENCE = 3.0


def _record_patience(session: PageSession) -> float:
    """Patience for a recording call: :data:`_RECORD_PATIENCE`, or half the time left
    before the deadline if that is less (at least 0.25 s), so that a held page is freed
    in time for the rest of the recording."""
    return max(0.25, min(_RECORD_PATIENCE, left(session, session.deadline) / 2))


def run_page(browser: Browser, session: PageSession, version: str,
             launch: float) -> Rendering:
    """Load ``session.url`` in a new context of ``browser`` and record it; the context
    is always closed. Playwright errors from a dead browser propagate."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    limits = session.limits
    width, height = limits.viewport
    reserve = min(limits.record_reserve, limits.deadline / 3)
    load_until = session.deadline - reserve
    marks = [time.monotonic()]
    complete = True
    context = browser.new_context(
        viewport={"width": width, "height": height}, service_workers="block",
        accept_downloads=False, ignore_https_errors=True, user_agent=limits.user_agent)
    try:
        context.route("**/*", session.on_route)
        context.route_web_socket(re.compile(r".*"), session.on_websocket)
        page = context.new_page()
        session.page = page
        context.on("page", session.on_new_page)
        cdp = context.new_cdp_session(page)  # before any script can hold the page
        session.breaker = ScriptBreaker(cdp)
        page.on("console", session.on_console)
        page.on("pageerror", session.on_page_error)
        page.on("download", session.on_download)
        page.on("crash", lambda _page: session.note("the page crashed"))
        marks.append(time.monotonic())

        try:
            with session.patience(left(session, load_until) + _RECORD_PATIENCE):
                page.goto(session.url, wait_until="load",
                          timeout=left(session, load_until) * 1000)
        except PlaywrightTimeout:
            complete = False
            session.note("the page's load event had not come by its deadline")
        except Exception as exc:
            if not browser.is_connected():
                raise
            complete = False
            session.note(f"navigation failed: {str(exc).splitlines()[0]}")
        marks.append(time.monotonic())

        session.phase = "idle"
        idle_until = min(time.monotonic() + limits.idle_wait, load_until)
        top = prime(page, session, idle_until)
        if not wait_quiet(page, session, limits.idle_quiet, idle_until):
            session.note(f"the network was not idle after {limits.idle_wait:.1f} s")
        marks.append(time.monotonic())

        session.phase = "scroll"
        if scroll(page, session, load_until, top) is None:  # ends when the network is quiet
            complete = False
        # what is still loading now is cut off below, and recorded so
        marks.append(time.monotonic())

        session.phase = "record"
        session.stop_waiting()
        # stop the page's scripts (a looping one included) so that the DOM and the
        # screenshot show one state, and both can be taken at all
        _quietly(cdp.send, "Runtime.terminateExecution")
        _quietly(cdp.send, "Emulation.setScriptExecutionDisabled", {"value": True})
        dom = recording.dom(cdp, session, _record_patience(session))
        shot, shot_size = recording.screenshot(cdp, session, _record_patience(session))
        if not browser.is_connected():  # not the page's failure: render() reports it
            raise RuntimeError("Chromium exited while the page was recorded")
        final_url = page.url
        marks.append(time.monotonic())
        if session.breaker.breaks:
            session.note(f"a page script held the page and was stopped "
                         f"{session.breaker.breaks} time(s)")
    finally:
        session.stop_waiting()  # no route handler waits on past the page
        try:
            context.close()
        except Exception:  # the browser is gone; Renderer cleans up after it
            if browser.is_connected():
                raise
    records, notes, console = session.snapshot()
    if any(r.outcome == "failed" and "no answer" in r.reason for r in records):
        complete = False
    if _CHROME_ERROR.match(final_url):
        final_url = session.url
    steps = [b - a for a, b in itertools.pairwise(marks)] + [0.0] * 5
    return Rendering(
        url=session.url, final_url=final_url, document_status=session.document_status,
        dom=dom, screenshot=shot, screenshot_size=shot_size, browser_version=version,
        console_errors=console, requests=records, notes=notes, complete=complete,
        timings=Timings(launch, steps[0], steps[1], steps[2], steps[3], steps[4],
                        launch + time.monotonic() - session.started))
