"""Render a page in headless Chromium whose every request is answered by the caller.

``browser`` capture mode needs what a reader saw: the DOM after scripts ran and a
screenshot. The browser must not have a network of its own, or its requests would
escape the SSRF guard, robots.txt, politeness, limits and the wire-exact records the
fetcher gives every request. So Debian's Chromium is driven through Playwright (sync
API, ``executable_path``; ``ARCHIVE_CHROMIUM`` overrides ``/usr/bin/chromium``) with:

* every request of the page (documents, frames, requisites) intercepted and handed to
  the injected ``fetch`` callable as an :class:`Exchange`; its answer, :class:`Served`
  or :class:`Refused`, is what the browser gets. A redirect is passed to the browser as
  a redirect; the next hop comes back to ``fetch`` as a new exchange (through
  :mod:`archive.browser.proxy`: Playwright does not intercept redirect hops);
* Chromium's proxy set to that loopback proxy for every host and its host resolver
  resolving nothing, so whatever escapes interception reaches no network; background
  services (updates, safe browsing, sync, translate, hints, ...) switched off;
* a fresh browser context per page (no cookie, cache or storage carries over), service
  workers blocked, downloads refused, popups refused (left blank until the context
  closes), WebSockets and non-HTTP(S) schemes refused; each refusal is in
  :attr:`Rendering.requests` or :attr:`Rendering.notes`;
* :class:`Limits`: requests and bytes per page, body size (checked before a body is
  handed to the browser), and a per-page deadline that holds: the page's scripts are
  stopped before recording, and a Chromium that does not answer is killed
  (:class:`~archive.errors.BrowserError`, one line), never waited for.

:class:`Renderer` launches one Chromium and reuses it for many pages, a context per page
(use it from one thread: Playwright's sync API is bound to its thread); :func:`render`
is the one-page shortcut. Playwright is imported lazily: ``import archive`` works
without it (it is the ``browser`` extra). WARC target URIs for a rendering's DOM and
screenshot: :func:`dom_uri`, :func:`screenshot_uri` (Browsertrix Crawler's form).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from archive.browser import procs
from archive.browser.models import (
    DOM_CONTENT_TYPE,
    SCREENSHOT_CONTENT_TYPE,
    Exchange,
    Fetch,
    Limits,
    Refused,
    Rendering,
    RequestRecord,
    Served,
    Timings,
    dom_uri,
    first_line,
    png_size,
    screenshot_uri,
)
from archive.browser.page import PageSession, run_page
from archive.browser.proxy import HopProxy
from archive.errors import BrowserError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

__all__ = ["DOM_CONTENT_TYPE", "SCREENSHOT_CONTENT_TYPE", "BrowserError", "Exchange",
           "Fetch", "Limits", "Refused", "Renderer", "Rendering", "RequestRecord", "Served",
           "Timings", "chromium_args", "chromium_path", "dom_uri", "png_size", "render",
           "screenshot_uri"]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = ("install it with scripts/ensure-chromium (apt-get install chromium) or "
                "name one with ARCHIVE_CHROMIUM")
# Seconds past a page's deadline before a Chromium that does not answer is killed.
HANG_GRACE = 10.0

# Chromium keeps the last --disable-features it is given, and Playwright passes its own
# list: ours repeats Playwright's (1.65; tests/test_browser_render.py checks that it
# still covers what the installed Playwright passes) and adds the background services
# Playwright leaves on.
_PLAYWRIGHT_DISABLED = (
    "AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
    "HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,"
    "ThirdPartyStoragePartitioning,AvoidCorsURLLoaderRestartOnRedirect,"
    "TcpPortRandomizationWin,OptimizationHints,NetworkTimeServiceQuerying,AimEnabled,"
    "PreconnectToSearch,msForceBrowserSignIn,msEdgeUpdateLaunchServicesPreferredVersion")
_OURS_DISABLED = (
    "Translate,OptimizationGuideModelDownloading,OptimizationHintsFetching,"
    "OptimizationTargetPrediction,DialMediaRouteProvider,GlobalMediaControls,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
    "InterestFeedContentSuggestions,SafeBrowsingEnhancedProtection,PrivacySandboxSettings4,"
    "FedCm,BackForwardCache,SpeculationRulesPrefetchProxy")


def chromium_path() -> Path:
    """The Chromium to drive: ``ARCHIVE_CHROMIUM`` or Debian's ``/usr/bin/chromium``."""
    return Path(os.environ.get("ARCHIVE_CHROMIUM") or DEFAULT_CHROMIUM)


def chromium_args() -> list[str]:
    """Command-line switches on top of Playwright's own (which already turn off
    background networking, component updates, sync, first-run and crash reports)."""
    args = [
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--no-default-browser-check", "--disable-domain-reliability",
        "--disable-client-side-phishing-detection", "--safebrowsing-disable-auto-update",
        "--disable-breakpad", "--metrics-recording-only", "--no-pings", "--mute-audio",
        "--disable-default-apps", "--disable-extensions", "--disable-gpu",
        "--disable-dev-shm-usage", "--no-service-autorun", "--disable-notifications",
        # whatever escapes interception finds no name resolved: only the proxy (below)
        # is reachable
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--disable-features={_PLAYWRIGHT_DISABLED},{_OURS_DISABLED}",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start sandboxed as root
    return args


class Renderer:
    """One headless Chromium, launched on first use, that renders pages one at a time.

    After a crash or a hang (the browser is killed), the next :meth:`render` launches a
    new one. :meth:`close` (or leaving the ``with`` block) ends Chromium and its
    Playwright driver and kills any of their processes still alive."""

    def __init__(self, executable: Path | str | None = None, *,
                 hang_grace: float = HANG_GRACE) -> None:
        self.executable = Path(executable) if executable else chromium_path()
        self.hang_grace = hang_grace
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._proxy: HopProxy | None = None
        self._session: PageSession | None = None
        self._driver: list[procs.Proc] = []
        self._seen: set[procs.Proc] = set()
        self._killed = threading.Event()
        self.version = ""

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> float:
        """Launch Chromium if it is not running; the seconds that took."""
        if self._browser is not None and self._browser.is_connected():
            return 0.0
        self.close()
        began = time.monotonic()
        exe = self.executable
        if not exe.is_file() or not os.access(exe, os.X_OK):
            raise BrowserError(f"no Chromium at {exe}: {INSTALL_HINT}")
        try:
            from playwright.sync_api import Error, sync_playwright
        except ImportError:
            raise BrowserError("browser mode needs Playwright: pip install "
                               "'provenance-archive[browser]'") from None
        before = set(procs.children(os.getpid()))
        try:
            self._pw = sync_playwright().start()
        except Error as exc:  # e.g. another Playwright, or an asyncio loop, in this thread
            raise BrowserError(f"cannot drive Chromium from this thread: {first_line(exc)} "
                               "(one Renderer per thread)") from None
        self._driver = [p for p in procs.children(os.getpid()) if p not in before]
        self._proxy = HopProxy(self._proxy_answer)
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=str(exe), headless=True, args=chromium_args(),
                proxy={"server": self._proxy.server}, timeout=30_000, handle_sigint=False,
                handle_sigterm=False, handle_sighup=False)
        except Error as exc:
            self.close()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BrowserError(f"Chromium at {exe} did not start: {first}") from None
        self.version = self._browser.version
        self._remember()
        return time.monotonic() - began

    def close(self) -> None:
        """End the browser, its driver and the proxy; kill any process of theirs left."""
        self._remember()
        if self._browser is not None:
            with contextlib.suppress(Exception):  # already gone
                self._browser.close()
            self._browser = None
        if self._pw is not None:
            with contextlib.suppress(Exception):  # the driver died with the browser
                self._pw.stop()
            self._pw = None
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        procs.kill(sorted(self._seen))
        self._seen.clear()
        self._driver = []

    def _remember(self) -> None:
        """Note every process below the driver, so close() can find them once the
        driver is gone (they would be re-parented and lost to a tree walk)."""
        for driver in self._driver:
            if procs.alive(driver):
                self._seen.add(driver)
                self._seen.update(procs.descendants(driver[0]))

    def _kill_browser(self) -> None:
        """The watchdog: Chromium did not answer in time. Killing its processes makes
        the blocked Playwright call fail at once."""
        self._killed.set()
        self._remember()
        procs.kill([p for p in sorted(self._seen) if p not in self._driver])

    # ------------------------------------------------------------------ rendering

    def _proxy_answer(self, method: str, url: str, headers: list[tuple[str, str]],
                      body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes] | None:
        session = self._session
        if session is None:
            return None  # between pages: the browser's own traffic
        return session.proxy_answer(method, url, headers, body)

    def render(self, url: str, fetch: Fetch, *, limits: Limits | None = None) -> Rendering:
        """Load ``url`` in a fresh context, every request answered by ``fetch`` (called
        from worker threads, several at once), and record what the page showed.

        Raises :class:`BrowserError` if Chromium is missing, does not start, crashes or
        stops answering (it is then killed; the next call starts a new one). A page that
        fails to load, or requisites that fail, are not errors: see the Rendering."""
        limits = limits or Limits()
        launch = self.start()
        assert self._browser is not None
        session = PageSession(url, fetch, limits)
        self._session = session
        self._killed.clear()
        watchdog = threading.Timer(limits.deadline + self.hang_grace, self._kill_browser)
        watchdog.daemon = True
        watchdog.start()
        failure: str | None = None
        try:
            return run_page(self._browser, session, self.version, launch)
        except Exception as exc:
            if self._killed.is_set():
                failure = (f"Chromium did not answer within "
                           f"{limits.deadline + self.hang_grace:.0f}"
                           f" s while rendering {url}; it was killed")
            elif not self._browser.is_connected():
                failure = f"Chromium exited while rendering {url}"
            else:
                failure = f"rendering {url} failed: {first_line(exc)}"
            raise BrowserError(failure, url=url) from None
        finally:
            watchdog.cancel()
            self._session = None
            if failure is not None or self._killed.is_set():
                self.close()  # a new browser for the next page


def render(url: str, fetch: Fetch, *, limits: Limits | None = None,
           executable: Path | str | None = None) -> Rendering:
    """Render one page in a browser started for it and closed afterwards. To render
    several pages, keep one :class:`Renderer` (each launch costs about half a second)."""
    with Renderer(executable) as renderer:
        return renderer.render(url, fetch, limits=limits)
