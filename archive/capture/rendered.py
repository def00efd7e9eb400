"""``browser`` capture mode: render the fetched page in Chromium whose every request is
answered by our fetcher, and keep what the browser showed.

The document is fetched first, as in the other modes (its hops, TLS evidence and
robots.txt decision are the capture's own); the browser's navigation to it, redirect
hops included, is answered from those very exchanges, so the DOM and screenshot are of
the bytes the capture holds. Every other request the browser makes goes through the
guarded fetch (robots.txt, the host's politeness slot, netguard's SSRF check, the
page's size and time limits), one hop at a time (``follow=False``): a redirect is
passed to the browser as a redirect, and each hop is its own recorded exchange. What
the guard refuses is refused to the browser and listed, with the reason, as failed.
Only GET is fetched (a page's POSTs are refused and listed). The fetcher sends its
own request headers, not the browser's.

:class:`BrowserMode` is the capture engine's requisite step for this mode: one
:class:`~archive.browser.Renderer` (one Chromium, a fresh context per page), started on
first use in the thread that captures (Playwright's sync API is bound to its thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from archive.browser.models import Exchange as BrowserExchange
from archive.browser.models import Limits, Refused, Rendering, Served
from archive.browser.page import hop_key
from archive.browser.renderer import Renderer
from archive.capture.revalidate import RequisiteCache
from archive.capture.subresources import (
    Failed,
    Fetched,
    GuardedFetch,
    PageRequisites,
    Rendered,
)
from archive.core.config import PageLimits
from archive.core.content import decode_body, parse_codings
from archive.errors import BrowserError, FetchError
from archive.http.models import Exchange, FetchResult

NOT_THE_PAGES = "not a request of the page"  # the renderer's reason for stray traffic

RequisiteStep = Callable[[FetchResult, GuardedFetch, PageLimits, RequisiteCache | None],
                         PageRequisites]


class BrowserMode:
    """The requisite step of ``browser`` mode (see the module docstring). Picklable
    before its first use (a worker process starts its own Chromium)."""

    def __init__(self, executable: str | None = None, *,
                 fallback: RequisiteStep | None = None) -> None:
        self.executable = executable
        self.fallback = fallback  # page mode's step, if the operator chose it
        self._renderer: Renderer | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"executable": self.executable, "fallback": self.fallback, "_renderer": None}

    def start(self) -> str:
        """Launch Chromium now (a missing or broken one raises BrowserError, one line);
        its version."""
        renderer = self._renderer = self._renderer or Renderer(self.executable)
        renderer.start()
        return renderer.version

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __call__(self, page: FetchResult, fetch: GuardedFetch, limits: PageLimits,
                 cache: RequisiteCache | None = None) -> PageRequisites:
        """Render ``page``; Chromium missing, crashing or hanging raises BrowserError (one
        line, no process left), or falls back to page mode if the operator chose it."""
        self._renderer = self._renderer or Renderer(self.executable)
        session = _Session(page, fetch, limits)
        policy = page.policy
        try:
            rendering = self._renderer.render(page.requested_url, session.answer,
                                              limits=Limits(
                max_requests=limits.max_requisites + len(page.exchanges),
                max_total_bytes=limits.max_bytes, max_body=policy.max_bytes,
                deadline=limits.deadline, user_agent=policy.user_agent))
        except BrowserError as exc:
            if self.fallback is None:
                session.close()
                raise
            session.close()
            found = self.fallback(page, fetch, limits, cache)
            found.fallback = exc.message
            return found
        return session.finish(rendering)


def fell_back(reason: str, step: RequisiteStep, page: FetchResult, fetch: GuardedFetch,
              limits: PageLimits, cache: RequisiteCache | None = None) -> PageRequisites:
    """``step`` (page mode's) in place of a browser that could not start: the capture
    says so (its provenance's ``browser_fallback``, and mode ``page``)."""
    found = step(page, fetch, limits, cache)
    found.fallback = reason
    return found


class _Session:
    """One page's answers to the browser, and what they were (called from the
    renderer's worker threads: state under a lock)."""

    def __init__(self, page: FetchResult, fetch: GuardedFetch, limits: PageLimits) -> None:
        self.page = page
        self.fetch = fetch
        self.limits = limits
        self.document = {hop_key(ex.url): ex for ex in page.exchanges}
        self.out = PageRequisites(limits={"max_requisites": limits.max_requisites,
                                          "max_bytes": limits.max_bytes,
                                          "deadline_seconds": limits.deadline})
        self.refused: set[str] = set()
        self.spent = 0
        self.lock = threading.Lock()

    def answer(self, ex: BrowserExchange) -> Served | Refused:
        doc = self.document.get(hop_key(ex.url)) if ex.is_navigation else None
        if doc is not None:  # the document's own hops: the bytes the capture holds
            return _served(doc)
        found_at = f"browser:{ex.resource_type}" + (
            f" (redirect from {ex.redirect_from})" if ex.redirect_from else "")
        if ex.method.upper() != "GET":
            return self._refuse(ex, found_at, f"{ex.method} is not fetched (only GET)")
        with self.lock:
            left = self.limits.max_bytes - self.spent
        if left <= 0:
            return self._refuse(ex, found_at, f"over the limit of {self.limits.max_bytes} "
                                              "bytes per page")
        base = self.page.policy
        cap = min(base.max_bytes, left, ex.max_body or base.max_bytes)
        got = self.fetch(ex.url, replace(base, max_bytes=cap), False)
        if isinstance(got, FetchError):
            return self._refuse(ex, found_at, got.message)
        last = got.exchanges[-1]
        problem = None
        if last.status >= 400:
            problem = f"HTTP {last.status} {last.reason}".rstrip()
        elif last.truncated:
            problem = f"truncated ({last.truncated})"
            if last.truncated == "length" and cap < base.max_bytes:
                problem = f"over the limit of {self.limits.max_bytes} bytes per page ({problem})"
        with self.lock:
            self.spent += last.body_length
            self.out.fetched.append(Fetched(ex.url, ex.resource_type, found_at, got,
                                            problem=problem))
        if last.truncated:
            return Refused(problem or "truncated")
        return _served(last)

    def close(self) -> None:
        """Let go of what was fetched (the rendering failed: nothing is written)."""
        with self.lock:
            self.out.close()

    def _refuse(self, ex: BrowserExchange, found_at: str, reason: str) -> Refused:
        with self.lock:
            self.out.failed.append(Failed(ex.url, ex.resource_type, found_at, reason))
            self.refused.add(ex.url)
        return Refused(reason)

    def finish(self, rendering: Rendering) -> PageRequisites:
        """The requisites, plus what the renderer refused without asking us (limits,
        WebSockets, other schemes), and the rendering."""
        with self.lock:
            answered = {f.url for f in self.out.fetched} | self.refused
            background = 0
            for r in rendering.requests:
                if r.outcome == "served" or r.url in answered \
                        or hop_key(r.url) in self.document:
                    continue
                if r.reason.startswith(NOT_THE_PAGES):  # Chromium's own (update checks)
                    background += 1
                    continue
                self.out.failed.append(Failed(r.url, r.resource_type,
                                              f"browser:{r.resource_type}",
                                              r.reason or r.outcome))
            shown = Rendered.of(rendering)
            if background:
                shown = replace(shown, notes=(*shown.notes, f"refused {background} "
                                              "request(s) that were not the page's (the "
                                              "browser's own traffic)"))
            self.out.rendered = shown
            return self.out


def _served(ex: Exchange) -> Served | Refused:
    """An exchange as the browser gets it: its entity body with the content coding
    undone (Content-Length and codings are the renderer's to drop)."""
    with ex.open_body() as raw:
        if not parse_codings(ex.content_encoding):
            body = raw.read()
        else:
            with decode_body(raw, ex.content_encoding, max_output=200 * 1024 * 1024,
                             max_depth=2) as decoded:
                if not decoded.ok:
                    return Refused(f"content not decodable: {decoded.error}")
                body = decoded.read()
    return Served(ex.status, tuple(ex.headers), body)


__all__ = ["BrowserMode", "RequisiteStep", "fell_back"]
