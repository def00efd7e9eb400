"""``browser`` capture mode: Debian's Chromium renders the page, every request it makes
answered by our guarded fetcher and recorded; the rendered DOM and a full-page
screenshot are resource records of the same capture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import chromium_for_tests
from servers import ARTICLE, Conn, Request, TestServer, minimal_png
from warcio.archiveiterator import ArchiveIterator

from archive.api import Archive
from archive.browser import dom_uri, png_size, screenshot_uri
from archive.capture.results import CaptureResult
from archive.cli import main
from archive.core.hashing import sha256_bytes
from archive.errors import BrowserError
from archive.metadata import extract

ROOT = Path(__file__).resolve().parents[1]
PNG = minimal_png(6, 6)
SCRIPT = (b"var p = document.createElement('p'); p.className = 'byline';"
          b"p.textContent = 'By Ada Scriptwright';"
          b"document.querySelector('article').prepend(p);")


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    chromium_for_tests()


PLAIN = (b"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Storm closes the "
         b"harbour</title>%s</head><body><article><h1>Storm closes the harbour</h1>"
         b"<p>Ferries stayed in port for a second day.</p></article>%s</body></html>")


def _article(head: str, body: str) -> bytes:
    return ARTICLE.replace(b"</head>", head.encode() + b"\n</head>", 1).replace(
        b"<body>", b"<body>\n" + body.encode(), 1)


def _record(path: str, target: str) -> tuple[str, str | None, bytes]:
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_headers.get_header("WARC-Target-URI") == target:
                return (rec.rec_type, rec.rec_headers.get_header("Content-Type"),
                        rec.content_stream().read())
    raise AssertionError(f"no record for {target} in {path}")


def test_a_browser_capture_keeps_the_rendered_dom_and_a_screenshot(
        archive_factory, tmp_path: Path) -> None:
    arc: Archive = archive_factory(home=tmp_path / "b", fetch={
        "allow_private_networks": True, "deadline": 10.0})

    def to_metadata(_req: Request, conn: Conn) -> None:
        conn.respond(302, b"", [("Location", "http://169.254.169.254/latest/meta-data/")])

    with TestServer(routes={}) as site:
        site.add_page("/app.js", SCRIPT, content_type="text/javascript")
        site.add_page("/logo.png", PNG, content_type="image/png")
        site.add_page("/s.css", b"body { background: #fff }", content_type="text/css")
        site.route("/bounce.png", to_metadata)
        page = site.add_page("/story", PLAIN % (
            b'<link rel="stylesheet" href="/s.css">',
            b'<img src="/logo.png"><img src="http://169.254.169.254/latest/iam.png">'
            b'<img src="/bounce.png"><script src="/app.js"></script>'))
        (res,) = arc.capture([page], mode="browser")
    assert isinstance(res, CaptureResult) and res.status == "complete", res
    assert res.mode == "browser"
    (shown,) = arc.show(res.capture_id)
    prov = shown["provenance"]
    assert prov["mode"] == "browser" and prov["browser"]["version"]

    # the DOM record holds what the script inserted; the metadata is read from it
    kind, ctype, dom = _record(res.warc_path, dom_uri(page))
    assert kind == "resource" and ctype is not None and ctype.startswith("text/html")
    assert b"By Ada Scriptwright" in dom
    meta = arc.extract_metadata(res.capture_id)
    assert meta["authors"]["value"] == ["Ada Scriptwright"]
    served = extract(PLAIN % (b"", b""), url=page, content_type="text/html")
    assert not served.to_json()["authors"]["value"]  # the served HTML names none

    # the screenshot is a PNG of the page, and its hash is what show and the result say
    kind, ctype, shot = _record(res.warc_path, screenshot_uri(page))
    assert kind == "resource" and ctype == "image/png"
    size = png_size(shot)
    assert size is not None and size[0] > 100 and size[1] > 100
    assert res.screenshot == sha256_bytes(shot) == shown["screenshot"]
    assert arc.screenshot(res.capture_id) == (res.screenshot, shot)

    # every request the browser made went through our fetcher and is recorded
    targets = {r["target_uri"] for r in shown["records"] if r["type"] == "response"}
    assert {site.url("/app.js"), site.url("/logo.png"), site.url("/s.css"),
            site.url("/bounce.png"), page} <= targets
    # the SSRF-refused <img> and the redirect hop to the metadata address: refused
    failed = {r["url"]: r["reason"] for r in shown["requisites"]["list"]
              if r["status"] == "failed"}
    assert "169.254.169.254" in failed["http://169.254.169.254/latest/iam.png"]
    assert "169.254.169.254" in failed["http://169.254.169.254/latest/meta-data/"]
    assert not [t for t in targets if "169.254" in t]
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v",
                           res.warc_path], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert arc.verify(None, deep=True).ok


def test_archive_screenshot_writes_the_png_or_says_there_is_none(
        archive_factory, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "home"))
    arc: Archive = archive_factory(home=tmp_path / "home", fetch={
        "allow_private_networks": True, "deadline": 10.0})
    with TestServer(routes={}) as site:
        page = site.add_page("/story", PLAIN % (b"", b""))
        (shot_capture,) = arc.capture([page], mode="browser")
        (plain,) = arc.capture([page], mode="html")
    assert isinstance(shot_capture, CaptureResult) and isinstance(plain, CaptureResult)
    out = tmp_path / "shot.png"
    assert main(["screenshot", shot_capture.capture_id, "-o", str(out)]) == 0
    assert sha256_bytes(out.read_bytes()) == shot_capture.screenshot
    assert capsys.readouterr().out.startswith(f"{shot_capture.screenshot} written to {out}")
    assert main(["screenshot", plain.capture_id, "-o", str(tmp_path / "x.png")]) == 6
    assert "no browser capture with a screenshot" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_without_chromium_browser_mode_fails_in_one_line_or_falls_back(
        archive_factory, tmp_path: Path, monkeypatch, capsys) -> None:
    """FAULTS 44: no Chromium: one clear line, nothing captured; with
    ARCHIVE_BROWSER_FALLBACK=page the capture is made in page mode and says why."""
    monkeypatch.setenv("ARCHIVE_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with TestServer(routes={}) as site:
        site.add_page("/logo.png", PNG, content_type="image/png")
        page = site.add_page("/story", _article("", '<img src="/logo.png">'))
        arc: Archive = archive_factory(home=tmp_path / "a", fetch={
            "allow_private_networks": True})
        with pytest.raises(BrowserError, match="no Chromium at") as err:
            arc.capture([page], mode="browser")
        assert "\n" not in err.value.message
        assert arc.list_captures() == []

        monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "cli"))
        assert main(["capture", "--mode", "browser", "--allow-private-networks",
                     "--no-metadata", page]) == 3
        err_lines = capsys.readouterr().err.strip().splitlines()
        assert len(err_lines) == 1 and "no Chromium at" in err_lines[0]

        monkeypatch.setenv("ARCHIVE_BROWSER_FALLBACK", "page")
        assert main(["capture", "--mode", "browser", "--allow-private-networks",
                     "--no-metadata", "--json", page]) == 0
        (out,) = json.loads(capsys.readouterr().out)
    assert out["mode"] == "page" and out["requisites_captured"] == 1


def test_the_resolver_shows_a_browser_captures_screenshot(archive_factory, tmp_path: Path
                                                          ) -> None:
    """``archive serve``'s capture page shows the screenshot, served from its record and
    checked against the manifest's digest; the DOM and screenshot are not requisites."""
    import urllib.request

    from servekit import serving

    arc: Archive = archive_factory(home=tmp_path / "s", fetch={
        "allow_private_networks": True, "deadline": 10.0})
    with TestServer(routes={}) as site:
        site.add_page("/logo.png", PNG, content_type="image/png")
        page = site.add_page("/story", PLAIN % (b"", b'<img src="/logo.png">'))
        (res,) = arc.capture([page], mode="browser")
    assert isinstance(res, CaptureResult) and res.status == "complete", res
    digest, png = arc.screenshot(res.capture_id)
    with serving(arc.settings) as run:
        app = run.app  # http://127.0.0.1:<port>
        with urllib.request.urlopen(f"{app}/c/{res.capture_id}", timeout=30) as r:  # noqa: S310
            html = r.read().decode()
        with urllib.request.urlopen(f"{app}/c/{res.capture_id}/screenshot.png",  # noqa: S310
                                    timeout=30) as r:
            assert r.headers["Content-Type"] == "image/png"
            served = r.read()
    assert served == png and sha256_bytes(served) == digest
    assert f'src="/c/{res.capture_id}/screenshot.png"' in html and digest in html
    requisites = html.split("Requisites", 1)[1] if "Requisites" in html else ""
    assert "urn:fullPage:" not in requisites and "urn:dom:" not in requisites
    assert "/logo.png" in requisites
