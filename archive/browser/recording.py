"""Recording a rendered page, once its scripts are stopped: the DOM and a full-page
screenshot, read through the page's own DevTools session.

Why not Playwright's ``page.content()`` and ``page.screenshot(full_page=True)``: both
run in Playwright's utility world, which a fresh page creates on first use, and the
screenshot makes several round trips of its own around the one capture that matters
(measured on the bench's pages: about 70 ms of a rendering's 950). What that
screenshot does for a faithful picture is done here too, in one evaluation and a few
native calls:

* **size**: the page's whole content box from ``Page.getLayoutMetrics``
  (``cssContentSize``), read by Chromium itself, so a page script cannot misreport it;
  cut at ``Limits.max_screenshot_height`` (noted);
* **animations**: finite ones finished, infinite ones cancelled (what Playwright's
  ``animations="disabled"`` does), so one page gives one picture;
* **caret** hidden, by an adopted style sheet, which is not part of the DOM record;
* **fonts**: ``document.fonts.ready`` awaited (every font request is answered or
  given up by now: :meth:`~archive.browser.page.PageSession.stop_waiting`);
* all three evaluated in an isolated world of ours, where a page script that replaced
  ``document.fonts`` or ``getAnimations`` cannot hold them (and if they fail anyway,
  the picture is taken as the page stands, noted);
* ``Page.captureScreenshot`` with ``captureBeyondViewport`` and a clip of the page, as
  Playwright itself sends it, at the device scale of 1 the context has.

The DOM is ``DOM.getOuterHTML`` of the document node: Chromium's own markup
serializer, which no page script can override, with the doctype and any comment
outside ``<html>`` (``page.content()`` joined the doctype and ``<html>`` only).

Every call is bounded twice: by the session's patience (:mod:`archive.browser.stuck`:
past it, a page script that holds the page is ended, and the call goes on) and by a
DevTools timeout at the page's deadline, always later than the patience, so that a held
call is freed rather than given up. A call that fails leaves its part out, with a note;
the rest is still recorded.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any, Protocol

from archive.browser.models import first_line, png_size

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from playwright.sync_api import CDPSession

    from archive.browser.models import Limits

# Playwright's animations="disabled", and its hidden caret, for a page whose scripts
# are stopped (no listener could start a new animation); then the fonts.
_STILL = """(() => {
  for (const a of document.getAnimations()) {
    try {
      const timing = a.effect && a.effect.getComputedTiming();
      if (timing && timing.endTime === Infinity) a.cancel(); else a.finish();
    } catch (e) {}
  }
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync('*, *::before, *::after { caret-color: transparent !important; }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } catch (e) {}
  return document.fonts.ready.then(() => true);
})()"""


_SETTLE_WAIT = 1.0  # seconds for the fonts beyond the patience (every font request has
# ended by now: this is their decoding)


class Session(Protocol):
    """What recording needs of a page's session
    (:class:`~archive.browser.page.PageSession`)."""

    limits: Limits
    deadline: float  # time.monotonic() of the page's deadline

    def note(self, text: str) -> None: ...

    def patience(self, seconds: float) -> AbstractContextManager[None]: ...


def dom(cdp: CDPSession, session: Session, patience: float) -> bytes | None:
    """The document's markup as UTF-8, or None (noted)."""
    try:
        with session.patience(patience):
            root = _call(cdp, "DOM.getDocument", {"depth": 0}, _timeout(session))
            html = _call(cdp, "DOM.getOuterHTML", {"nodeId": root["root"]["nodeId"]},
                         _timeout(session))
        return str(html["outerHTML"]).encode("utf-8")
    except Exception as exc:
        session.note(f"no DOM: {first_line(exc)}")
        return None


def screenshot(cdp: CDPSession, session: Session,
               patience: float) -> tuple[bytes | None, tuple[int, int] | None]:
    """A PNG of the whole page (cut at ``max_screenshot_height``) and its size, or
    ``(None, None)`` (noted)."""
    limits = session.limits
    try:
        with session.patience(patience):
            _settle(cdp, session, patience)
            box = _call(cdp, "Page.getLayoutMetrics", None,
                        _timeout(session))["cssContentSize"]
            width = max(1, int(box["width"]))
            height = max(1, int(box["height"]))
            if height > limits.max_screenshot_height:
                session.note(f"screenshot cut at {limits.max_screenshot_height} px "
                             f"(page height {height})")
                height = limits.max_screenshot_height
            shot = _call(cdp, "Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
                _timeout(session))
        data = base64.b64decode(shot["data"])
    except Exception as exc:
        session.note(f"no screenshot: {first_line(exc)}")
        return None, None
    return data, png_size(data)


def _settle(cdp: CDPSession, session: Session, patience: float) -> None:
    """Animations at rest, caret hidden, fonts awaited (:data:`_STILL`), evaluated in a
    world of our own: the page's scripts share its DOM but not its globals, so a page
    that replaced ``document.fonts`` or ``getAnimations`` (with a promise that never
    settles, say) cannot hold the screenshot. If this fails anyway, the picture is
    taken as the page stands, and that is noted."""
    try:
        frame = _call(cdp, "Page.getFrameTree", None,
                      _timeout(session))["frameTree"]["frame"]["id"]
        world = _call(cdp, "Page.createIsolatedWorld",
                      {"frameId": frame, "worldName": "archive-record"},
                      _timeout(session))["executionContextId"]
        _call(cdp, "Runtime.evaluate", {"expression": _STILL, "awaitPromise": True,
                                        "returnByValue": True, "contextId": world},
              min(_timeout(session), patience + _SETTLE_WAIT))
    except Exception as exc:
        session.note(f"screenshot taken without stopping animations or awaiting fonts: "
                     f"{first_line(exc)}")


def _timeout(session: Session) -> float:
    """Seconds a DevTools call may take: until the page's deadline, at least 0.5."""
    return max(session.deadline - time.monotonic(), 0.5)


def _call(cdp: CDPSession, method: str, params: dict[str, Any] | None,
          timeout: float) -> Any:
    """One DevTools call, bounded. An evaluation the page made throw (a hostile
    ``getAnimations``, say) answers with its exception: the picture is taken as is."""
    return cdp.send(method, params, timeout=timeout * 1000)


__all__ = ["dom", "screenshot"]
