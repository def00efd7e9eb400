"""``page`` capture mode against real loopback servers: a page and everything it needs,
fetched through the same guarded fetcher, in one WARC file and one capture.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from servers import ARTICLE, Conn, Request, TestServer, minimal_png
from warcio.archiveiterator import ArchiveIterator

from archive.api import Archive
from archive.capture.manifest import build_manifest, capture_id
from archive.capture.results import CaptureResult
from archive.cli import main
from archive.core.config import PageLimits
from archive.core.timeutil import iso_utc
from archive.errors import FetchError
from archive.ledger.queries import RecordEntry
from archive.page.fetching import fetch_requisites
from archive.proof.bundle_verify import verify_bundle

PNG = minimal_png(6, 6)
FONT = b"wOF2" + b"\0" * 60


def _article(head: str, body: str) -> bytes:
    return ARTICLE.replace(b"</head>", head.encode() + b"\n</head>", 1).replace(
        b"<body>", b"<body>\n" + body.encode(), 1)


def _serve_static(site: TestServer, paths: dict[str, tuple[bytes, str]]) -> None:
    for path, (body, ctype) in paths.items():
        site.add_page(path, body, content_type=ctype)


def _counting(site: TestServer) -> dict[str, int]:
    """Requests per path, as the server saw them."""
    hits: dict[str, int] = {}
    original = site._handler

    def handler(path: str) -> Any:
        hits[path] = hits.get(path, 0) + 1
        return original(path)

    site._handler = handler  # type: ignore[method-assign]
    return hits


def _capture(arc: Archive, urls: list[str], **kw: Any) -> list[CaptureResult]:
    got = arc.capture(urls, mode="page", **kw)
    assert all(isinstance(r, CaptureResult) for r in got), got
    return got  # type: ignore[return-value]


def _warc_records(path: str) -> list[tuple[str, str, str | None]]:
    with open(path, "rb") as f:
        return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                 r.rec_headers.get_header("WARC-Refers-To")) for r in ArchiveIterator(f)]


def _warcio_check(path: str | Path) -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v",
                           str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- discovery


def test_every_kind_of_reference_is_captured_with_the_page_in_one_file(arc: Archive) -> None:
    with TestServer(routes={}) as site:
        hits = _counting(site)
        _serve_static(site, {
            "/s/site.css": (b"@import url(/s/imported.css);\n"
                            b"body { background: url(/i/bg.png) }\n"
                            b"@font-face { font-family: X; src: url(/f/x.woff2) }\n",
                            "text/css"),
            "/s/imported.css": (b"h1 { background-image: url('/i/from-import.png') }",
                                "text/css"),
            "/i/bg.png": (PNG, "image/png"), "/i/from-import.png": (PNG, "image/png"),
            "/f/x.woff2": (FONT, "font/woff2"), "/i/photo.png": (PNG, "image/png"),
            "/i/photo-2x.png": (PNG, "image/png"), "/i/pic.png": (PNG, "image/png"),
            "/i/poster.png": (PNG, "image/png"), "/js/app.js": (b"var a = 1;", "text/javascript"),
            "/favicon.png": (PNG, "image/png"), "/f/pre.woff2": (FONT, "font/woff2"),
            "/i/inline.png": (PNG, "image/png"),
            "/other-article": (b"<html>not a requisite</html>", "text/html"),
        })
        page = site.add_page("/2026/story", _article(
            '<link rel="stylesheet" href="/s/site.css"><link rel="icon" href="/favicon.png">'
            '<link rel="preload" as="font" href="/f/pre.woff2"><script src="/js/app.js">'
            '</script>',
            '<img src="/i/photo.png" srcset="/i/photo-2x.png 2x">'
            '<picture><source srcset="/i/pic.png"><img src="/i/photo.png"></picture>'
            '<video poster="/i/poster.png"></video>'
            '<div style="background: url(/i/inline.png)"></div>'
            '<a href="/other-article">more</a>'))
        (res,) = _capture(arc, [page])
    wanted = {"/s/site.css", "/s/imported.css", "/i/bg.png", "/i/from-import.png",
              "/f/x.woff2", "/i/photo.png", "/i/photo-2x.png", "/i/pic.png",
              "/i/poster.png", "/js/app.js", "/favicon.png", "/f/pre.woff2", "/i/inline.png"}
    assert res.status == "complete"
    assert {p for p in hits if p in wanted} == wanted
    assert all(hits[p] == 1 for p in wanted), hits
    assert "/other-article" not in hits  # an <a> link is never followed
    (shown,) = arc.show(res.capture_id)
    assert shown.mode == "page"
    captured = {r.url.removeprefix(site.url("/")[:-1]) for r in shown.requisites.entries
                if r.status == "captured"}
    assert captured == wanted and shown.requisites.failed == 0
    found_at = {r["url"].rsplit("/", 1)[-1]: r["found_at"]
                for r in shown.provenance["requisites"]["captured"]}
    assert found_at["imported.css"] == "css:@import"
    assert found_at["from-import.png"] == "css:url()"
    assert found_at["photo-2x.png"] == "img@srcset"
    # one file holds every record of the capture; the manifest lists each one
    records = _warc_records(res.warc_path)
    responses = {uri for kind, uri, _ in records if kind == "response"}
    assert {site.url(p) for p in wanted} | {page} == responses
    listed = [(r["type"], r["target_uri"]) for r in shown.manifest["records"]]
    assert [(k, u) for k, u, _ in records] == listed
    # the page's own exchange is the capture's last, before its provenance
    assert listed[-3:] == [("response", page), ("request", page),
                           ("metadata", "urn:provenance-archive:provenance:" + page)]
    _warcio_check(res.warc_path)
    assert arc.verify(None, deep=True).ok


def test_html_mode_fetches_the_document_alone(arc: Archive) -> None:
    with TestServer(routes={}) as site:
        hits = _counting(site)
        site.add_page("/s.css", b"body{}", content_type="text/css")
        page = site.add_page("/a", _article('<link rel="stylesheet" href="/s.css">', ""))
        (res,) = arc.capture([page], mode="html")
    assert isinstance(res, CaptureResult)
    assert "/s.css" not in hits
    (shown,) = arc.show(res.capture_id)
    assert shown.mode == "html" and shown.requisites.entries == ()


# --------------------------------------------------------------------------- failures


def test_a_private_address_or_refused_scheme_is_refused_the_rest_captured(
        arc: Archive) -> None:
    """FAULTS 42: the page is on an allowed host (loopback, allowed by the test's
    policy); its <img>, stylesheet and a redirect point at the cloud metadata address
    (refused even where private networks are allowed) or at a refused scheme."""
    def to_file(_req: Request, conn: Conn) -> None:
        conn.respond(302, b"", [("Location", "file:///etc/passwd")])

    def to_metadata(_req: Request, conn: Conn) -> None:
        conn.respond(302, b"", [("Location", "http://169.254.169.254/latest/meta-data/")])

    with TestServer(routes={}) as site:
        site.route("/redir-file.png", to_file)
        site.route("/redir-meta.css", to_metadata)
        site.add_page("/ok.png", PNG, content_type="image/png")
        page = site.add_page("/a", _article(
            '<link rel="stylesheet" href="/redir-meta.css">'
            '<link rel="stylesheet" href="http://169.254.169.254/latest/x.css">',
            '<img src="http://169.254.169.254/latest/meta-data/iam.png">'
            '<img src="/redir-file.png"><img src="/ok.png">'))
        (res,) = _capture(arc, [page])
    assert res.status == "complete"
    (shown,) = arc.show(res.capture_id)
    failed = {r.url: r.reason for r in shown.requisites.entries
              if r.status == "failed"}
    assert set(failed) == {"http://169.254.169.254/latest/meta-data/iam.png",
                           "http://169.254.169.254/latest/x.css", site.url("/redir-file.png"),
                           site.url("/redir-meta.css")}
    assert all("169.254.169.254" in failed[u] for u in failed if "169.254" in u)
    assert "file" in failed[site.url("/redir-file.png")]
    assert "169.254.169.254" in failed[site.url("/redir-meta.css")]
    captured = [r.url for r in shown.requisites.entries if r.status == "captured"]
    assert captured == [site.url("/ok.png")]
    # nothing was ever sent towards the refused targets
    assert not [r for r in shown.records if "169.254" in (r.target_uri or "")]


def test_a_missing_requisite_is_recorded_as_sent_and_listed_failed(arc: Archive, capsys,
                                                                   monkeypatch) -> None:
    with TestServer(routes={}) as site:
        site.add_page("/ok.png", PNG, content_type="image/png")
        page = site.add_page("/a", _article("", '<img src="/gone.png"><img src="/ok.png">'))
        (res,) = _capture(arc, [page])
    assert res.status == "complete"
    (shown,) = arc.show(res.capture_id)
    failed = [r for r in shown.requisites.entries if r.status == "failed"]
    assert [(r.url, r.reason) for r in failed] == [
        (site.url("/gone.png"), "HTTP 404 Not Found")]
    assert site.url("/gone.png") in {r.target_uri for r in shown.records
                                     if r.type == "response"}  # archived as sent
    # `archive show` lists the requisites, captured and failed with the reason
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    assert main(["show", res.capture_id]) == 0
    out = capsys.readouterr().out
    assert "requisites: 1 captured, 1 failed" in out
    assert f"failed    {site.url('/gone.png')}: HTTP 404 Not Found" in out
    assert f"captured  {site.url('/ok.png')}" in out


# --------------------------------------------------------------------------- limits


def _limited(archive_factory: Any, tmp_path: Path, **limits: Any) -> Archive:
    arc: Archive = archive_factory(home=tmp_path / "lim", fetch={
        "allow_private_networks": True, "deadline": 10.0})
    arc.settings = replace(arc.settings, page=PageLimits(**limits))
    arc.recorder.settings = arc.settings
    return arc


def test_requisites_over_the_count_are_listed_not_fetched(archive_factory, tmp_path) -> None:
    arc = _limited(archive_factory, tmp_path, max_requisites=2)
    with TestServer(routes={}) as site:
        hits = _counting(site)
        for n in range(4):
            site.add_page(f"/{n}.png", PNG, content_type="image/png")
        page = site.add_page("/a", _article("", "".join(f'<img src="/{n}.png">'
                                                        for n in range(4))))
        (res,) = _capture(arc, [page])
    assert sorted(p for p in hits if p.endswith(".png")) == ["/0.png", "/1.png"]
    (shown,) = arc.show(res.capture_id)
    failed = {r.url: r.reason for r in shown.requisites.entries
              if r.status == "failed"}
    assert failed == {site.url(f"/{n}.png"): "over the limit of 2 requisites per page"
                      for n in (2, 3)}


def test_bytes_and_time_per_page_are_bounded(archive_factory, tmp_path) -> None:
    """FAULTS 43: a requisite that never ends stops at the page's deadline; past the
    page's bytes, requisites are cut or not fetched; the capture stands."""
    def endless(_req: Request, conn: Conn) -> None:
        conn.head(200, [("Content-Type", "image/png"), ("Content-Length", "100000000")])
        while conn.sleep(0.05):
            try:
                conn.send(b"x" * 10)
            except OSError:
                return

    arc = _limited(archive_factory, tmp_path, max_bytes=3000, deadline=1.5)
    with TestServer(routes={}) as site:
        site.add_page("/big.png", b"p" * 2500, content_type="image/png")
        site.add_page("/big2.png", b"q" * 2500, content_type="image/png")
        site.add_page("/small.png", PNG, content_type="image/png")
        site.route("/endless.png", endless)
        page = site.add_page("/a", _article("", '<img src="/big.png"><img src="/big2.png">'
                                                '<img src="/small.png">'
                                                '<img src="/endless.png">'))
        began = time.monotonic()
        (res,) = _capture(arc, [page])
        took = time.monotonic() - began
    assert res.status == "complete"
    assert took < 1.5 + 5  # the deadline held (the page's own fetch aside)
    (shown,) = arc.show(res.capture_id)
    reqs = {r.url.rsplit("/", 1)[-1]: r for r in shown.requisites.entries}
    assert reqs["big.png"].status == "captured"
    assert reqs["big2.png"].status == "failed"
    assert reqs["big2.png"].reason.startswith("over the limit of 3000 bytes per page")
    assert reqs["small.png"].reason == "over the limit of 3000 bytes per page"
    assert reqs["endless.png"].reason == "over the limit of 3000 bytes per page"

    arc2 = _limited(archive_factory, tmp_path / "t", deadline=1.0)
    with TestServer(routes={}) as site:
        site.route("/endless.png", endless)
        site.add_page("/small.png", PNG, content_type="image/png")
        page = site.add_page("/a", _article("", '<img src="/endless.png">'
                                                '<img src="/small.png">'))
        began = time.monotonic()
        (res,) = _capture(arc2, [page])
        took = time.monotonic() - began
    assert took < 1.0 + 5
    (shown,) = arc2.show(res.capture_id)
    reqs = {r.url.rsplit("/", 1)[-1]: r for r in shown.requisites.entries}
    assert "per page" in reqs["endless.png"].reason
    assert "1 s" in reqs["endless.png"].reason
    assert reqs["small.png"].reason == "over the limit of 1 s per page"
    assert arc2.verify(None, deep=True).ok


# --------------------------------------------------------------------------- dedup


def test_a_shared_stylesheet_is_stored_once_then_as_revisits(arc: Archive) -> None:
    css = b"".join(b"/* %s */\n" % hashlib.sha256(b"%d" % n).hexdigest().encode()
                   for n in range(200))  # does not compress away
    with TestServer(routes={}) as site:
        site.add_page("/site.css", css, content_type="text/css")
        site.add_page("/logo.png", PNG, content_type="image/png")
        head = '<link rel="stylesheet" href="/site.css">'
        pages = [site.add_page(f"/a{n}", _article(head, f'<img src="/logo.png"><p>{n}</p>'))
                 for n in range(3)]
        first, second = _capture(arc, pages[:2])  # one batch: one file
        (third,) = _capture(arc, pages[2:])       # a later run
    style = site.url("/site.css")

    def style_record(res: CaptureResult) -> RecordEntry:
        (shown,) = arc.show(res.capture_id)
        return next(r for r in shown.records if r.target_uri == style
                    and r.type in ("response", "revisit"))

    # in one batch, whichever page was written first holds the bytes (fetches run on
    # threads); every later one refers to it
    both = [style_record(first), style_record(second)]
    assert sorted(r.type for r in both) == ["response", "revisit"]
    original = next(r for r in both if r.type == "response")
    for later in (second, third) if both[0] is original else (first, third):
        rec = style_record(later)
        assert rec.type == "revisit", later
        assert rec.length < original.length / 4  # the headers, not the bytes again
        assert rec.payload_digest == original.payload_digest
        refers = {r[1]: r[2] for r in _warc_records(later.warc_path)
                  if r[0] == "revisit"}
        assert refers[style] == original.record_id
        (shown,) = arc.show(later.capture_id)
        listed = next(r for r in shown.requisites.entries if r.url == style)
        assert listed.revisit is True
    for path in {first.warc_path, third.warc_path}:
        _warcio_check(path)
    assert arc.verify(None, deep=True).ok


# --------------------------------------------------------------------------- custody


def test_a_page_capture_bundles_verifies_and_is_adopted_after_a_crash(
        arc: Archive, tmp_path: Path) -> None:
    arc.init()
    with TestServer(routes={}) as site:
        site.add_page("/s.css", b"body{color:red}", content_type="text/css")
        site.add_page("/p.png", PNG, content_type="image/png")
        page = site.add_page("/a", _article('<link rel="stylesheet" href="/s.css">',
                                            '<img src="/p.png"><img src="/404.png">'))
        (res,) = _capture(arc, [page])
        bundle = arc.bundle(res.capture_id)
        report = verify_bundle(bundle, trusted_key=arc.identity().fingerprint)
        assert report.ok, [c.line() for c in report.checks]
        assert len(json.loads(bundle)["captures"]) == 1

        # a crash between the durable file and its transaction: the reconciler adopts
        # the page-mode file with every requisite's record, under the same capture id
        agent = arc.agent()
        with arc.capture_session() as session:
            result = session.fetcher.fetch(page)

            def guarded(url: str, policy: Any) -> Any:
                try:
                    return session.fetcher.fetch(url, policy=policy)
                except FetchError as exc:
                    return exc

            found = fetch_requisites(result, guarded, arc.settings.page)
            prepared = arc.recorder.prepare_fetch(result, agent, mode="page",
                                                  requisites=found)
            stored, _moment, written = arc.recorder.write_file([prepared], agent)
            result.close()
            found.close()
    arc.store.release(stored.relpath)  # the writer dies before its commit
    expected = capture_id(build_manifest(
        url=prepared.url, final_url=prepared.final_url,
        capture_time=iso_utc(prepared.started_at), kind="http", status=prepared.status,
        http_status=prepared.http_status, content_hash=prepared.content_hash,
        stored=stored, records=written[0],
        revisit_of=prepared.revisit_of))
    recovered = arc.reconcile()
    assert [a["captures"] for a in recovered.adopted] == [[expected]]
    (shown,) = arc.show(expected)
    assert shown.requisites.captured == 2 and shown.requisites.failed == 1
    assert len([r for r in shown.records if r.type in ("response", "revisit")]) == 4
    assert arc.verify(None, deep=True).ok
    assert arc.fixity().ok


@pytest.mark.parametrize("mode", ["html", "page"])
def test_cli_mode_and_the_sources_file_mode(tmp_path: Path, monkeypatch, capsys,
                                            mode: str) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "home"))
    with TestServer(routes={}) as site:
        hits = _counting(site)
        site.add_page("/s.css", b"body{}", content_type="text/css")
        page = site.add_page("/a", _article('<link rel="stylesheet" href="/s.css">', ""))
        other = site.add_page("/b", _article('<link rel="stylesheet" href="/s.css">', "b"))
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"sources:\n  - url: {other}\n    mode: {mode}\n")
        code = main(["capture", "--allow-private-networks", "--no-metadata", "--json",
                     "--mode", "html", "--sources", str(sources), page])
    assert code == 0, capsys.readouterr()
    out = json.loads(capsys.readouterr().out)
    assert [o["url"] for o in out] == [page, other]
    assert hits.get("/s.css", 0) == (1 if mode == "page" else 0)
