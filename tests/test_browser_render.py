"""archive.browser against Debian's chromium and real loopback servers: the browser's
every request reaches the injected fetch (and nothing else), the DOM and screenshot are
what the page showed, limits and deadlines hold, and no Chromium process outlives its
renderer. The fetch used here is a small urllib client for 127.0.0.1 only."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import pytest
from helpers import chromium_for_tests
from servers import Conn, Request, TestServer, minimal_png, png_pixel

from archive.browser import (
    BrowserError,
    Exchange,
    Limits,
    Refused,
    Renderer,
    Rendering,
    Served,
    dom_uri,
    png_size,
    procs,
    screenshot_uri,
)

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
FAST = Limits(deadline=20, idle_wait=1.0, scroll_settle=0.5, scroll_step_pause=0.05)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class LoopbackFetch:
    """The injected fetch: urllib against 127.0.0.1 only, redirects not followed; counts
    what it was asked for by port; ``refuse`` and ``on_request`` let tests intervene."""

    def __init__(self, refuse: Callable[[str], str | None] | None = None,
                 on_request: Callable[[Exchange], None] | None = None) -> None:
        self.asked: list[Exchange] = []
        self._lock = threading.Lock()
        self._refuse = refuse
        self._on_request = on_request
        self._opener = urllib.request.build_opener(_NoRedirect)

    def count(self, port: int) -> int:
        with self._lock:
            return sum(1 for ex in self.asked if urlsplit(ex.url).port == port)

    def __call__(self, ex: Exchange) -> Served | Refused:
        with self._lock:
            self.asked.append(ex)
        if self._on_request is not None:
            self._on_request(ex)
        if urlsplit(ex.url).hostname != "127.0.0.1":
            return Refused("tests reach 127.0.0.1 only")
        reason = self._refuse(ex.url) if self._refuse else None
        if reason:
            return Refused(reason)
        request = urllib.request.Request(ex.url, data=ex.body,  # noqa: S310 (127.0.0.1 only)
                                         method=ex.method)
        try:
            with self._opener.open(request, timeout=30) as resp:
                return Served(resp.status, tuple(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            return Served(err.code, tuple(err.headers.items()), err.read())


def _redirect(location: str) -> Callable[[Request, Conn], None]:
    def handler(_request: Request, conn: Conn) -> None:
        conn.respond(302, b"moved", [("Location", location)])
    return handler


def _silent(_request: Request, conn: Conn) -> None:
    conn.wait_for_client_close()  # headers never come: a requisite that never ends


def _chromium_below(pid: int) -> list[procs.Proc]:
    return [p for p in procs.descendants(pid) if "chrom" in procs.command(p[0]).lower()]


def _still_alive(of: set[procs.Proc], within: float = 5.0) -> list[procs.Proc]:
    """Those of ``of`` still alive after up to ``within`` seconds (killed processes take
    a moment to be reaped, longer on a loaded machine): [] as soon as all are gone."""
    deadline = time.monotonic() + within
    while (left := [p for p in of if procs.alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture(scope="module")
def renderer() -> Iterator[Renderer]:
    chromium_for_tests()
    with Renderer() as shared:
        yield shared


@pytest.fixture
def site() -> Iterator[TestServer]:
    with TestServer(routes={}) as server:
        yield server


def _page(site: TestServer, body: str, path: str = "/") -> str:
    return site.add_page(path, f"<!doctype html><html><head><meta charset=utf-8></head>"
                               f"<body style='margin:0'>{body}</body></html>")


def _records(rendering: Rendering, path: str) -> list[str]:
    return [r.outcome for r in rendering.requests if urlsplit(r.url).path == path]


# --------------------------------------------------------------------------- what is shown

def test_script_inserted_text_is_in_the_dom(renderer: Renderer, site: TestServer) -> None:
    url = _page(site, "<p id=byline>static</p><script>document.getElementById('byline')"
                      ".textContent = 'By Ada Lovelace, ' + (6 * 7);</script>")
    out = renderer.render(url, LoopbackFetch(), limits=FAST)
    assert b"By Ada Lovelace, 42" in (out.dom or b"")
    assert out.document_status == 200 and out.final_url == url and out.complete
    assert out.browser_version and out.browser_version[0].isdigit()


def test_screenshot_is_a_png_of_the_whole_page(renderer: Renderer, site: TestServer) -> None:
    url = _page(site, "<div style='height:3000px;background:#369'>tall</div>")
    out = renderer.render(url, LoopbackFetch(), limits=FAST)
    assert out.screenshot is not None and out.screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_size(out.screenshot) == (FAST.viewport[0], 3000) == out.screenshot_size


def test_the_screenshot_shows_animations_at_rest(renderer: Renderer, site: TestServer) -> None:
    """One page, one picture: a finite animation and a transition are shown finished,
    an endless one as if it never ran (Playwright's ``animations="disabled"``)."""
    url = _page(site, "<style>@keyframes ripen{from{background:#f00}to{background:#0f0}}"
                      "@keyframes blink{from{background:#00f}to{background:#ff0}}"
                      "div{height:100px}#finite{animation:ripen 600s forwards}"
                      "#endless{animation:blink 2s infinite;background:#fff}"
                      "#moved{background:#f00;transition:background 600s}"
                      "#moved.on{background:#0f0}</style><div id=finite></div>"
                      "<div id=endless></div><div id=moved></div><script>"
                      "requestAnimationFrame(() => requestAnimationFrame(() => "
                      "document.getElementById('moved').className = 'on'))</script>")
    out = renderer.render(url, LoopbackFetch(), limits=FAST)
    assert out.screenshot is not None
    assert [png_pixel(out.screenshot, 10, y) for y in (50, 150, 250)] == [
        (0, 255, 0), (255, 255, 255), (0, 255, 0)]


def test_a_page_that_replaces_fonts_and_animations_cannot_hold_the_screenshot(
        renderer: Renderer, site: TestServer) -> None:
    """The waits before the screenshot run in a world of ours: a page whose
    ``document.fonts.ready`` never settles and whose ``getAnimations`` hides its
    animations still gets its screenshot promptly, its animation at rest."""
    url = _page(site, "<style>@keyframes ripen{from{background:#f00}to{background:#0f0}}"
                      "div{height:100px;animation:ripen 600s forwards}</style><div></div>"
                      "<script>Object.defineProperty(Document.prototype, 'fonts', "
                      "{get() { return {ready: new Promise(() => {}), status: 'loading'}; }});"
                      "Document.prototype.getAnimations = () => [];</script>")
    began = time.monotonic()
    out = renderer.render(url, LoopbackFetch(), limits=FAST)
    assert time.monotonic() - began < 10
    assert out.screenshot is not None and png_pixel(out.screenshot, 10, 50) == (0, 255, 0)
    assert not any("screenshot" in n for n in out.notes), out.notes


def test_the_dom_record_is_chromiums_own_serialization(renderer: Renderer,
                                                       site: TestServer) -> None:
    """A page script cannot make the DOM record lie by replacing the serializers a
    script would call; comments outside ``<html>`` are kept."""
    url = site.add_page("/forged", "<!-- from the outlet's CMS --><!doctype html><html><body>"
                        "<p>what the reader saw</p><script>"
                        "Object.defineProperty(Element.prototype, 'outerHTML', "
                        "{get() { return '<p>for' + 'ged</p>'; }});"
                        "XMLSerializer.prototype.serializeToString = () => 'forged';"
                        "</script></body></html>")
    out = renderer.render(url, LoopbackFetch(), limits=FAST)
    assert out.dom is not None and b"<p>forged</p>" not in out.dom
    assert out.dom.startswith(b"<!-- from the outlet's CMS --><!DOCTYPE html><html>")
    assert b"<p>what the reader saw</p>" in out.dom


def test_screenshot_height_is_bounded(renderer: Renderer, site: TestServer) -> None:
    url = _page(site, "<div style='height:9000px'>very tall</div>")
    limits = Limits(deadline=20, idle_wait=0.5, scroll_settle=0.2, scroll_step_pause=0.01,
                    max_screenshot_height=2500)
    out = renderer.render(url, LoopbackFetch(), limits=limits)
    assert out.screenshot_size == (limits.viewport[0], 2500)
    assert any("screenshot cut at 2500 px" in n for n in out.notes)


def test_lazy_images_below_the_fold_load_when_scrolled(renderer: Renderer,
                                                       site: TestServer) -> None:
    site.add_page("/top.png", minimal_png(), content_type="image/png")
    site.add_page("/lazy.png", minimal_png(), content_type="image/png")
    url = _page(site, "<img src=/top.png><div style='height:9000px'></div>"
                      "<img loading=lazy src=/lazy.png width=4 height=4>")
    out = renderer.render(url, LoopbackFetch(), limits=FAST)
    phases = {urlsplit(r.url).path: r.phase for r in out.requests}
    assert phases["/top.png"] == "load"
    assert phases["/lazy.png"] == "scroll"  # not requested before the page was scrolled


# Lazy loading as scripts do it: an IntersectionObserver with no margin sets src from
# data-src when the image comes into the viewport (what lazysizes and most themes do).
_IO_LAZY = """<script>
const io = new IntersectionObserver(entries => entries.forEach(e => {
  if (e.isIntersecting) { e.target.src = e.target.dataset.src; io.unobserve(e.target); }
}));
const watch = () => document.querySelectorAll("img[data-src]:not([src])")
  .forEach(img => io.observe(img));
watch();
</script>"""


def _gap(viewports: float) -> str:
    return f"<div style='height:{int(viewports * FAST.viewport[1])}px'></div>"


def test_default_scroll_loads_every_lazy_image_native_and_scripted(
        renderer: Renderer, site: TestServer) -> None:
    """With the default limits (each position held two frames, no fixed pause), every
    lazy image is fetched: native ones far below the fold and script-loaded ones
    (no margin) in the middle of the page, which only a step-by-step scroll shows."""
    names = ["io-2", "io-5", "native-7", "io-9", "native-14", "io-14"]
    for name in names:
        site.add_page(f"/{name}.png", minimal_png(), content_type="image/png")
    body = (_gap(2) + "<img data-src=/io-2.png width=4 height=4>" + _gap(3)
            + "<img data-src=/io-5.png width=4 height=4>" + _gap(2)
            + "<img loading=lazy src=/native-7.png width=4 height=4>" + _gap(2)
            + "<img data-src=/io-9.png width=4 height=4>" + _gap(5)
            + "<img loading=lazy src=/native-14.png width=4 height=4>"
            + "<img data-src=/io-14.png width=4 height=4>" + _IO_LAZY)
    url = _page(site, body)
    out = renderer.render(url, LoopbackFetch(), limits=Limits(deadline=20))
    served = {urlsplit(r.url).path: r for r in out.requests if r.outcome == "served"}
    for name in names:
        assert served[f"/{name}.png"].phase == "scroll", name  # none before scrolling
        assert f'src="/{name}.png"'.encode() in (out.dom or b""), name
    assert out.complete and out.timings.scroll < 10


def test_a_page_that_grows_at_its_end_is_scrolled_again(renderer: Renderer,
                                                        site: TestServer) -> None:
    """An infinite list: reaching the end fetches more, appended below; the scroll goes
    on until the page stops growing, so the lazy image at the new end is fetched."""
    more = (_gap(4) + "<img data-src=/appended.png width=4 height=4>").encode()

    def slow_more(request: Request, conn: Conn) -> None:  # arrives after the pass ends
        if conn.sleep(0.4):
            conn.respond(200, more)

    site.route("/more.html", slow_more)
    site.add_page("/appended.png", minimal_png(), content_type="image/png")
    url = _page(site, _gap(3) + "<div id=end style='height:2px'></div>" + _IO_LAZY + """
<script>
new IntersectionObserver((entries, me) => entries.forEach(e => {
  if (!e.isIntersecting) return;
  me.disconnect();
  fetch("/more.html").then(r => r.text()).then(html => {
    e.target.insertAdjacentHTML("afterend", html); watch();
  });
})).observe(document.getElementById("end"));
</script>""")
    out = renderer.render(url, LoopbackFetch(), limits=Limits(deadline=20))
    phases = {urlsplit(r.url).path: (r.phase, r.outcome) for r in out.requests}
    assert phases["/more.html"] == ("scroll", "served")
    assert phases["/appended.png"] == ("scroll", "served")
    assert b'src="/appended.png"' in (out.dom or b"")


# --------------------------------------------------------------------------- no own network

def test_every_request_goes_through_fetch(renderer: Renderer, site: TestServer) -> None:
    with TestServer(routes={}) as cdn:
        cdn.add_page("/style.css", "@import url(/more.css); body{background:url(/bg.png)}",
                     content_type="text/css")
        cdn.add_page("/more.css", "p{color:red}", content_type="text/css")
        cdn.add_page("/bg.png", minimal_png(), content_type="image/png")
        cdn.add_page("/logo.png", minimal_png(), content_type="image/png")
        cdn.add_page("/app.js", "fetch('/data.json').then(r => r.text())"
                                ".then(t => document.body.dataset.x = t)",
                     content_type="text/javascript")
        cdn.add_page("/data.json", '"ok"', content_type="application/json")
        cdn.route("/moved.png", _redirect("/logo.png"))
        cdn.add_page("/frame.html", "<img src=/logo.png?in-frame>")
        base = cdn.url("")
        url = _page(site, f"<link rel=stylesheet href={base}/style.css>"
                          f"<img src={base}/logo.png><img src={base}/moved.png>"
                          f"<script src={base}/app.js></script><p>text</p>"
                          f"<iframe src={base}/frame.html></iframe>")
        fetch = LoopbackFetch()
        out = renderer.render(url, fetch, limits=FAST)
        paths = sorted(urlsplit(r.target).path for r in cdn.requests)
        assert len(cdn.requests) == fetch.count(cdn.port) >= 8
        assert {"/style.css", "/more.css", "/bg.png", "/app.js", "/frame.html",
                "/moved.png", "/logo.png"} <= set(paths)
        assert len(site.requests) == fetch.count(site.port) >= 1  # the page (+ favicon)
        served = [r for r in out.requests if urlsplit(r.url).port == cdn.port]
        assert all(r.outcome == "served" for r in served) and len(served) == len(paths)


def test_redirects_are_hops_through_fetch(renderer: Renderer, site: TestServer) -> None:
    site.route("/start", _redirect("/middle"))
    site.route("/middle", _redirect("/article"))
    site.route("/old.png", _redirect("/new.png"))
    site.add_page("/new.png", minimal_png(), content_type="image/png")
    article = _page(site, "<h1>Harbour vote</h1><img src=/old.png>", "/article")
    fetch = LoopbackFetch()
    out = renderer.render(site.url("/start"), fetch, limits=FAST)
    assert out.final_url == article and b"Harbour vote" in (out.dom or b"")
    asked = [urlsplit(ex.url).path for ex in fetch.asked]
    assert asked[:3] == ["/start", "/middle", "/article"]
    assert {"/old.png", "/new.png"} <= set(asked)
    hops = {urlsplit(r.url).path: r for r in out.requests}
    assert hops["/middle"].redirect_from == site.url("/start")
    assert hops["/article"].redirect_from == site.url("/middle")
    assert hops["/article"].is_navigation and hops["/article"].status == 200
    assert hops["/new.png"].redirect_from == site.url("/old.png")
    assert hops["/new.png"].resource_type == "image"
    assert out.document_status == 200
    assert len(site.requests) == len(fetch.asked)


def test_a_refused_requisite_leaves_the_page_rendered(renderer: Renderer,
                                                      site: TestServer) -> None:
    site.add_page("/ok.png", minimal_png(), content_type="image/png")
    site.route("/go-private.png", _redirect("/private/admin.png"))
    url = _page(site, "<p>the article</p><img src=/private/secret.png>"
                      "<img src=/go-private.png><img src=/ok.png>")
    fetch = LoopbackFetch(refuse=lambda u: "private address (SSRF guard)"
                          if "/private/" in u else None)
    out = renderer.render(url, fetch, limits=FAST)
    assert b"the article" in (out.dom or b"")
    refused = {urlsplit(r.url).path: r.reason for r in out.requests if r.outcome == "refused"}
    assert refused == {"/private/secret.png": "private address (SSRF guard)",
                       "/private/admin.png": "private address (SSRF guard)"}
    assert _records(out, "/ok.png") == ["served"]
    assert not any("/private/" in r.target for r in site.requests)


def test_non_http_schemes_websockets_and_service_workers_are_refused(
        renderer: Renderer, site: TestServer) -> None:
    site.add_page("/sw.js", "self.addEventListener('fetch', () => {})",
                  content_type="text/javascript")
    url = _page(site, "<p id=sw>pending</p><script>"
                      "const p = document.getElementById('sw');"
                      "if (!navigator.serviceWorker) { p.textContent = 'sw: none'; } else {"
                      "navigator.serviceWorker.register('/sw.js')"
                      ".then(() => navigator.serviceWorker.getRegistrations())"
                      ".then(r => p.textContent = 'sw: registrations ' + r.length,"
                      "      e => p.textContent = 'sw: failed ' + e.name); }"
                      "try { new WebSocket('ws://127.0.0.1:9/live'); } catch (e) {}"
                      "</script><img src='ftp://127.0.0.1/x.png'>")
    fetch = LoopbackFetch()
    out = renderer.render(url, fetch, limits=FAST)
    dom = (out.dom or b"").decode()
    assert re.search(r"sw: (none|failed|registrations 0)<", dom)
    assert "/sw.js" not in [urlsplit(ex.url).path for ex in fetch.asked]
    kinds = {(r.resource_type, r.outcome) for r in out.requests
             if r.url.startswith(("ws:", "ftp:"))}
    assert ("websocket", "refused") in kinds
    assert all(not ex.url.startswith(("ws:", "ftp:")) for ex in fetch.asked)


def test_a_download_is_refused(renderer: Renderer, site: TestServer) -> None:
    site.add_page("/report.zip", b"PK\x03\x04 not really", content_type="application/zip",
                  headers=[("Content-Disposition", "attachment; filename=report.zip")])
    url = _page(site, "<p>page</p><a id=a href=/report.zip download>zip</a>"
                      "<script>document.getElementById('a').click()</script>")
    out = renderer.render(url, LoopbackFetch(), limits=FAST)
    assert any(n.startswith("download refused: ") and n.endswith("/report.zip")
               for n in out.notes)
    assert b"<p>page</p>" in (out.dom or b"")


# --------------------------------------------------------------------------- limits

def test_request_count_limit(renderer: Renderer, site: TestServer) -> None:
    site.route("/img/*", lambda _r, conn: conn.respond(200, minimal_png(),
                                                       content_type="image/png"))
    url = _page(site, "".join(f"<img src=/img/{i}.png>" for i in range(20)))
    fetch = LoopbackFetch()
    out = renderer.render(url, fetch, limits=Limits(deadline=20, max_requests=6,
                                                     idle_wait=1, scroll_settle=0.2))
    assert len(fetch.asked) == len(site.requests) == 6  # the page and five images
    over = [r for r in out.requests if r.outcome == "over-limit"]
    assert len(over) == 15 and all("more than 6 requests" in r.reason for r in over)


def test_body_and_total_size_limits(renderer: Renderer, site: TestServer) -> None:
    site.add_page("/big.png", b"\x89PNG" + b"0" * 50_000, content_type="image/png")
    for name in ("a", "b", "c"):
        site.add_page(f"/{name}.js", "//" + "x" * 3000, content_type="text/javascript")
    url = _page(site, "<p>sizes</p><img src=/big.png><script src=/a.js></script>"
                      "<script src=/b.js></script><script src=/c.js></script>")
    limits = Limits(deadline=20, max_body=20_000, max_total_bytes=8_000, idle_wait=1,
                    scroll_settle=0.2)
    out = renderer.render(url, LoopbackFetch(), limits=limits)
    big = next(r for r in out.requests if r.url.endswith("/big.png"))
    assert big.outcome == "over-limit" and "over the limit of 20000" in big.reason
    scripts = [r.outcome for r in out.requests if r.url.endswith(".js")]
    assert sorted(scripts) == ["over-limit", "served", "served"]  # page + 2 scripts < 8000
    assert sum(r.size for r in out.requests if r.outcome == "served") <= 8_000
    assert b"<p>sizes</p>" in (out.dom or b"")


def test_deadline_holds_with_a_requisite_that_never_ends(renderer: Renderer,
                                                         site: TestServer) -> None:
    site.route("/never.png", _silent)
    url = _page(site, "<p>still here</p><img src=/never.png>")
    began = time.monotonic()
    out = renderer.render(url, LoopbackFetch(), limits=Limits(deadline=6, idle_wait=1))
    assert time.monotonic() - began < 6 + 1.5
    assert not out.complete and b"still here" in (out.dom or b"") and out.screenshot
    never = next(r for r in out.requests if r.url.endswith("/never.png"))
    assert never.outcome == "failed" and "no answer" in never.reason


def test_popups_and_looping_scripts_end_within_the_deadline(renderer: Renderer,
                                                            site: TestServer) -> None:
    site.add_page("/ad.html", "<p>ad</p>")
    url = _page(site, "<p id=t>loading</p><script>"
                      "setInterval(() => window.open('/ad.html'), 100);"
                      "setTimeout(() => { document.getElementById('t').textContent = "
                      "'looping'; while (true) {} }, 800);</script>")
    began = time.monotonic()
    out = renderer.render(url, LoopbackFetch(), limits=Limits(deadline=8, idle_wait=1))
    assert time.monotonic() - began < 8 + 1.5
    assert b"looping" in (out.dom or b"") and out.screenshot_size is not None
    assert any(n.startswith("popup window refused") for n in out.notes)
    assert all(r.outcome == "refused" for r in out.requests if r.url.endswith("/ad.html"))
    assert not any(r.target.endswith("/ad.html") for r in site.requests)


# --------------------------------------------------------------------------- the process

def _in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on its own thread: Playwright's sync API allows one driver per
    thread, and the module's shared renderer holds this one's."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the test's thread
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


def test_no_chromium_process_outlives_the_renderer(site: TestServer) -> None:
    chromium_for_tests()
    before = set(_chromium_below(os.getpid()))
    url = _page(site, "<p>x</p>")

    def work() -> set[procs.Proc]:
        with Renderer() as own:
            own.render(url, LoopbackFetch(), limits=FAST)
            return set(_chromium_below(os.getpid())) - before

    during = _in_thread(work)
    assert during  # the check below can see Chromium
    assert not _still_alive(during)


def test_a_crash_is_one_line_and_the_next_page_gets_a_new_browser(site: TestServer) -> None:
    chromium_for_tests()
    before = set(_chromium_below(os.getpid()))

    def crash(ex: Exchange) -> None:
        if ex.url.endswith("/crash.png"):
            for proc in _chromium_below(os.getpid()):
                if proc not in before:
                    os.kill(proc[0], signal.SIGKILL)

    url = _page(site, "<img src=/crash.png>")
    after = _page(site, "<p>after</p>", "/after")

    def work() -> tuple[BrowserError, set[procs.Proc], Rendering]:
        with Renderer() as own:
            try:
                own.render(url, LoopbackFetch(on_request=crash), limits=FAST)
            except BrowserError as exc:
                error = exc
            else:
                raise AssertionError("the crash went unnoticed")
            left = set(_chromium_below(os.getpid())) - before
            return error, left, own.render(after, LoopbackFetch(), limits=FAST)

    error, left, again = _in_thread(work)
    assert "\n" not in str(error) and str(error).startswith("Chromium exited while rendering")
    assert not left
    assert b"after" in (again.dom or b"")
    assert not _still_alive(set(_chromium_below(os.getpid())) - before)


def test_a_hung_chromium_is_killed_after_the_deadline(site: TestServer) -> None:
    chromium_for_tests()
    before = set(_chromium_below(os.getpid()))

    def freeze(ex: Exchange) -> None:
        if ex.url.endswith("/freeze.png"):
            for proc in _chromium_below(os.getpid()):
                if proc not in before:
                    os.kill(proc[0], signal.SIGSTOP)

    url = _page(site, "<img src=/freeze.png>")

    def work() -> None:
        with Renderer(hang_grace=2) as own:
            own.render(url, LoopbackFetch(on_request=freeze), limits=Limits(deadline=4))

    began = time.monotonic()
    with pytest.raises(BrowserError) as caught:
        _in_thread(work)
    assert time.monotonic() - began < 4 + 2 + 5
    assert "did not answer within 6 s" in str(caught.value) and "\n" not in str(caught.value)
    assert not _still_alive(set(_chromium_below(os.getpid())) - before)


def test_missing_chromium_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(BrowserError) as caught:
        Renderer(tmp_path / "no-chromium").render("http://127.0.0.1:9/", LoopbackFetch())
    assert str(caught.value).startswith(f"no Chromium at {tmp_path / 'no-chromium'}: ")
    assert "ARCHIVE_CHROMIUM" in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 3


def test_our_disabled_features_keep_playwrights(renderer: Renderer) -> None:
    """Chromium keeps the last --disable-features: ours must include Playwright's."""
    renderer.start()
    lines = [procs.command(p[0]) for p in _chromium_below(os.getpid())]
    main = next(line for line in lines if "--disable-features=" in line
                and "--type=" not in line and "--host-resolver-rules" in line)
    lists = re.findall(r"--disable-features=(\S+)", main)
    assert len(lists) >= 2
    assert set(lists[0].split(",")) <= set(lists[-1].split(","))
    assert "Translate" in lists[-1].split(",")


def test_warc_target_uris_follow_browsertrix() -> None:
    assert screenshot_uri("https://example.org/a?b=1") == "urn:fullPage:https://example.org/a?b=1"
    assert dom_uri("https://example.org/a") == "urn:dom:https://example.org/a"
    assert png_size(minimal_png(7, 3)) == (7, 3) and png_size(b"GIF89a") is None
