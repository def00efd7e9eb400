"""``archive serve`` in Debian's Chromium (Playwright, ``executable_path``): the capture
page, the history page and a memento show what a reader needs, and an archived page's
script cannot reach anything outside the archive: neither another loopback server
standing in for the live web, nor the resolver's own pages. Screenshots go to
test-output/."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from archfixtures import make_settings as settings_for
from helpers import chromium_for_tests
from servekit import CHANGED, fill, serving
from servers import TestServer, article_html
from test_dagster_ui import CHROMIUM_ARGS, OUTPUT

from archive.api import Archive
from archive.serve.memento import timestamp


class Spy:
    """A loopback listener that records every connection anyone makes to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


ESCAPE = """<div id="probe">probe: waiting</div>
<script>
// no-cors: an opaque answer still resolves, so "reached" means the request got through
(function () {
  var out = document.getElementById("probe");
  var results = [];
  function done(name, how) {
    results.push(name + ":" + how);
    if (results.length === 3) out.textContent = "probe: " + results.sort().join(" ");
  }
  var app = location.protocol + "//" + location.hostname + ":" + (Number(location.port) - 1);
  function probe(name, url) {
    fetch(url, {mode: "no-cors"}).then(function () { done(name, "reached"); },
                                       function () { done(name, "blocked"); });
  }
  probe("live", "http://127.0.0.1:SPY/fetched");
  probe("app", app + "/search?q=storm");
  var img = new Image();
  img.onload = function () { done("img", "reached"); };
  img.onerror = function () { done("img", "blocked"); };
  img.src = "http://127.0.0.1:SPY/pixel.png";
})();
</script>"""


@pytest.fixture
def spy() -> Iterator[Spy]:
    s = Spy()
    yield s
    s.close()


def test_capture_history_and_contained_memento_in_chromium(tmp_path: Path, spy: Spy) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_for_tests()
    settings = settings_for(tmp_path / "home").with_fetch(allow_private_networks=True,
                                                          deadline=10.0)
    with TestServer() as site, Archive.open(settings) as arc:
        story = fill(arc, site)
        escape_url = site.add_page("/escape", article_html(title="Escape attempt").replace(
            "</article>", "</article>" + ESCAPE.replace("SPY", str(spy.port))))
        (escape,) = arc.capture([escape_url])
        escape_ts = timestamp(arc.records_for_uri(escape_url)[0]["date"])
        first_ts = timestamp(arc.records_for_uri(story.article_url)[0]["date"])
        OUTPUT.mkdir(exist_ok=True)
        with serving(settings) as run, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(executable), headless=True,
                                         args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(30_000)

                page.goto(f"{run.app}/c/{story.first}")
                expect(page.locator("h1")).to_have_text(
                    "Storm closes the harbour for a second day")
                expect(page.get_by_text("Verified:")).to_be_visible()
                expect(page.get_by_text(story.first).first).to_be_visible()
                expect(page.locator("button.copy").first).to_be_visible()  # the script ran
                page.screenshot(path=str(OUTPUT / "serve-capture-page.png"))  # docs/ shows it

                page.goto(f"{run.app}/history/{story.article_url}")
                expect(page.locator("li.added")).to_contain_text(CHANGED)
                page.screenshot(path=str(OUTPUT / "serve-history.png"), full_page=True)

                page.goto(f"{run.app}/web/{first_ts}/{story.article_url}")
                frame = page.frame_locator("iframe.replay")
                expect(frame.locator("h1")).to_have_text(
                    "Storm closes the harbour for a second day")
                expect(page.locator(".banner")).to_contain_text(story.first)
                page.screenshot(path=str(OUTPUT / "serve-memento.png"), full_page=True)

                page.goto(f"{run.app}/web/{escape_ts}/{escape_url}")
                probe = page.frame_locator("iframe.replay").locator("#probe")
                expect(probe).to_have_text("probe: app:blocked img:blocked live:blocked")
                page.screenshot(path=str(OUTPUT / "serve-contained.png"), full_page=True)

                # opened directly (no frame), the replay origin's CSP alone contains it
                page.goto(f"{run.replay}/web/{escape_ts}/{escape_url}")
                expect(page.locator("#probe")).to_have_text(
                    "probe: app:blocked img:blocked live:blocked")
            finally:
                browser.close()
    assert spy.connections == 0
    assert escape.capture_id  # type: ignore[union-attr]
