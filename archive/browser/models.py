"""The values :mod:`archive.browser` takes and gives: exchanges, answers, limits, the
rendering, and the WARC target URIs of what a rendering produces.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

# Browsertrix Crawler writes each page's screenshots as ``resource`` records with target
# URI ``urn:<type>:<page url>``: ``view`` (viewport PNG), ``fullPage`` (full-page PNG),
# ``thumbnail`` (JPEG); extracted text as ``urn:text:``/``urn:textFinal:`` and page
# details as ``urn:pageinfo:``. It writes no DOM record; Scoop names its DOM snapshot
# ``file:///dom-snapshot.html``, which cannot tell two pages of one WARC apart, so the
# rendered DOM takes Browsertrix's form with the kind ``dom``. Replay tools (pywb,
# ReplayWeb.page) index ``urn:`` records but never serve them in place of a page.
SCREENSHOT_URN_KIND = "fullPage"
DOM_URN_KIND = "dom"
SCREENSHOT_CONTENT_TYPE = "image/png"
DOM_CONTENT_TYPE = "text/html; charset=utf-8"


def screenshot_uri(page_url: str) -> str:
    """WARC-Target-URI of a page's full-page PNG screenshot (Browsertrix's form)."""
    return f"urn:{SCREENSHOT_URN_KIND}:{page_url}"


def dom_uri(page_url: str) -> str:
    """WARC-Target-URI of a page's rendered DOM (``text/html``, UTF-8)."""
    return f"urn:{DOM_URN_KIND}:{page_url}"


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Exchange:
    """One request the browser wants answered.

    ``resource_type`` is Playwright's (document, stylesheet, image, script, font, xhr,
    fetch, media, ...); ``redirect_from`` is the URL whose redirect this request follows
    (then ``resource_type`` is inherited from the first hop). ``max_body`` is the
    largest body the renderer will pass on: a fetcher may stop reading there."""

    method: str
    url: str
    headers: Headers
    body: bytes | None
    resource_type: str
    is_navigation: bool
    redirect_from: str | None = None
    max_body: int = 0


@dataclass(frozen=True)
class Served:
    """A response for the browser. ``body`` is the payload with transfer and content
    codings removed (the browser gets it as is; Content-Length, Content-Encoding and
    Transfer-Encoding headers are dropped). A 3xx with ``Location`` is a redirect."""

    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class Refused:
    """No response: the browser sees a failed request; ``reason`` goes in the record."""

    reason: str


Fetch = Callable[[Exchange], Served | Refused]

Outcome = Literal["served", "refused", "over-limit", "failed"]
Phase = Literal["load", "idle", "scroll", "record"]


@dataclass(frozen=True)
class Limits:
    """Bounds of one page. ``deadline`` (seconds) covers everything from opening the
    context to closing it; ``record_reserve`` of it is kept for the DOM and screenshot.
    After the load event the renderer waits up to ``idle_wait`` for the network to be
    ``idle_quiet`` (only what the page fetches as it loads: the end of the scroll
    waits for the full ``quiet``), scrolls a viewport at a time (each position held
    for two animation frames plus ``scroll_step_pause``), then waits up to
    ``scroll_settle`` for the network to be quiet again
    (:func:`archive.browser.page.run_page`)."""

    max_requests: int = 300
    max_total_bytes: int = 100 * 1024 * 1024
    max_body: int = 32 * 1024 * 1024
    deadline: float = 60.0
    record_reserve: float = 8.0
    idle_wait: float = 5.0
    quiet: float = 0.2  # "network idle": no request in flight for this long
    idle_quiet: float = 0.05  # the same, between the load event and scrolling
    scroll_step_pause: float = 0.0  # beyond the two frames each position is held
    scroll_settle: float = 2.0
    max_screenshot_height: int = 20_000
    viewport: tuple[int, int] = (1280, 800)
    max_console_errors: int = 50
    max_notes: int = 50
    user_agent: str | None = None

    def __post_init__(self) -> None:
        if self.deadline <= 0 or self.max_requests < 1 or self.max_body < 0:
            raise ValueError("Limits: deadline and max_requests must be positive")


@dataclass(frozen=True)
class RequestRecord:
    """What happened to one request the browser made."""

    url: str
    method: str
    resource_type: str
    is_navigation: bool
    phase: Phase
    outcome: Outcome
    status: int | None = None
    size: int = 0
    reason: str = ""
    redirect_from: str | None = None


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each step of one rendering (``launch`` is 0 when the browser
    was already running)."""

    launch: float = 0.0
    context: float = 0.0
    load: float = 0.0
    idle: float = 0.0
    scroll: float = 0.0
    record: float = 0.0
    total: float = 0.0


@dataclass(frozen=True)
class Rendering:
    """What the browser showed. ``dom`` is the document's markup as UTF-8 and
    ``screenshot`` a full-page PNG (cut at ``Limits.max_screenshot_height``); either is
    None if the page never got far enough, with the reason in ``notes``. ``complete`` is
    False when the page had not finished loading when it was recorded (the deadline
    passed, or requisites were still in flight: see ``requests``)."""

    url: str
    final_url: str
    document_status: int | None
    dom: bytes | None
    screenshot: bytes | None
    screenshot_size: tuple[int, int] | None
    browser_version: str
    console_errors: tuple[str, ...]
    requests: tuple[RequestRecord, ...]
    notes: tuple[str, ...]
    complete: bool
    timings: Timings = field(default_factory=Timings)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (Playwright's span many: a call log follows),
    or its type's name when it has none: how a browser failure goes into a note."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None if ``data`` is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
