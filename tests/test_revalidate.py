"""A run revalidates the shared requisites it already fetched (``archive.capture.revalidate``):
conditional requests, as a real loopback server sees them; a 304 written as a
``server-not-modified`` revisit of the earlier response; a changed requisite fetched
and stored in full; what has no strong validator fetched again in full.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from servers import ARTICLE, TestServer, Validating, minimal_png
from warcio.archiveiterator import ArchiveIterator

from archive.api import Archive
from archive.capture.manifest import build_manifest, capture_id
from archive.capture.results import CaptureResult
from archive.core.timeutil import iso_utc
from archive.errors import FetchError
from archive.page.fetching import fetch_requisites
from archive.proof.bundle_verify import verify_bundle
from archive.warc.writer import NOT_MODIFIED_PROFILE, PROVENANCE, about_uri

CSS_V1 = b"".join(b"/* v1 %d */\n" % n for n in range(300)) + b"h1{color:#123}\n"
CSS_V2 = b"".join(b"/* v2 %d */\n" % n for n in range(300)) + b"h1{color:#321}\n"
LOGO = minimal_png(9, 9)
OLD = "Sun, 01 Nov 2026 10:00:00 GMT"  # 20 days before the server's Date: strong enough


def _article(n: int, *refs: str) -> bytes:
    head = '<link rel="stylesheet" href="/site.css">'
    imgs = "".join(f'<img src="{r}">' for r in refs)
    return ARTICLE.replace(b"</head>", head.encode() + b"\n</head>", 1).replace(
        b"<body>", f"<body>\n{imgs}<p>page {n}</p>".encode(), 1)


def _capture(arc: Archive, urls: list[str]) -> list[CaptureResult]:
    got = arc.capture(urls, mode="page", concurrency=1)  # pages settle in order
    assert all(isinstance(r, CaptureResult) and r.status == "complete" for r in got), got
    return got  # type: ignore[return-value]


def _records(arc: Archive, res: CaptureResult, uri: str) -> list[tuple[Any, bytes]]:
    """(headers, block) of each record of the capture about ``uri`` (its manifest's)."""
    (shown,) = arc.show(res.capture_id)
    ids = {r.record_id for r in shown.records}
    out = []
    with open(res.warc_path, "rb") as f:
        for rec in ArchiveIterator(f, no_record_parse=True):
            if rec.rec_headers.get_header("WARC-Target-URI") == uri and \
                    rec.rec_headers.get_header("WARC-Record-ID") in ids:
                out.append((rec.rec_headers, rec.content_stream().read()))
    return out


def _requisite(arc: Archive, res: CaptureResult, url: str) -> dict[str, Any]:
    """The requisite as the capture's provenance (its metadata record) lists it."""
    with open(res.warc_path, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_headers.get_header("WARC-Target-URI") == about_uri(PROVENANCE,
                                                                         res.url):
                captured = json.loads(rec.content_stream().read())["requisites"]["captured"]
                return next(r for r in captured if r["url"] == url)  # type: ignore[no-any-return]
    raise AssertionError(f"no provenance for {res.url}")


def _warcio_check(path: str | Path) -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v",
                           str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_run_revalidates_shared_requisites_and_writes_not_modified_revisits(
        arc: Archive) -> None:
    css = Validating(CSS_V1, "text/css", etag='"css-1"', last_modified=OLD)
    logo = Validating(LOGO, "image/png", last_modified=OLD)  # Last-Modified alone
    weak = Validating(LOGO + b"w", "image/png", etag='W/"w-1"')  # same meaning, not bytes
    fresh = Validating(LOGO + b"f", "image/png",  # modified in the second of Date
                       last_modified="Sat, 21 Nov 2026 14:02:03 GMT")
    plain = Validating(LOGO + b"p", "image/png")  # no validator at all
    routes = {"/site.css": css, "/logo.png": logo, "/weak.png": weak, "/fresh.png": fresh,
              "/plain.png": plain}
    with TestServer(routes=routes) as site:  # type: ignore[arg-type]
        pages = [site.add_page(f"/a{n}", _article(n, "/logo.png", "/weak.png",
                                                  "/fresh.png", "/plain.png"))
                 for n in range(3)]
        results = _capture(arc, pages)
    style, logo_url = site.url("/site.css"), site.url("/logo.png")
    # nothing strong to ask with: fetched whole every time (and stored once, as
    # identical-payload revisits after the first)
    for server in (weak, fresh, plain):
        assert server.seen == [{"If-None-Match": None, "If-Modified-Since": None}] * 3
    for later in results[1:]:
        for path in ("/weak.png", "/fresh.png", "/plain.png"):
            listed = _requisite(arc, later, site.url(path))
            assert listed["http_status"] == 200 and "not_modified" not in listed
            assert listed["revisit_of_record"] is not None

    # the server saw one plain request, then conditions: the strong ETag, and for the
    # logo (no ETag, Last-Modified 20 days before Date) If-Modified-Since
    assert css.seen == [{"If-None-Match": None, "If-Modified-Since": None}] + \
        [{"If-None-Match": '"css-1"', "If-Modified-Since": None}] * 2
    assert logo.seen == [{"If-None-Match": None, "If-Modified-Since": None}] + \
        [{"If-None-Match": None, "If-Modified-Since": OLD}] * 2

    first = results[0]
    (orig_headers, orig_block), (req_headers, _) = _records(arc, first, style)
    assert orig_headers.get_header("WARC-Type") == "response"
    assert orig_block.endswith(CSS_V1) and req_headers.get_header("WARC-Type") == "request"
    css_digest = "sha256:" + hashlib.sha256(CSS_V1).hexdigest()
    assert orig_headers.get_header("WARC-Payload-Digest") == css_digest
    for later in results[1:]:
        recs = _records(arc, later, style)
        revisit = next(h for h, _ in recs if h.get_header("WARC-Type") == "revisit")
        block = next(b for h, b in recs if h.get_header("WARC-Type") == "revisit")
        request = next(b for h, b in recs if h.get_header("WARC-Type") == "request")
        assert revisit.get_header("WARC-Profile") == NOT_MODIFIED_PROFILE
        assert revisit.get_header("WARC-Refers-To") == orig_headers.get_header(
            "WARC-Record-ID")
        assert revisit.get_header("WARC-Refers-To-Target-URI") == style
        assert revisit.get_header("WARC-Refers-To-Date") == orig_headers.get_header(
            "WARC-Date")
        assert revisit.get_header("WARC-Payload-Digest") == css_digest
        assert block == b"" and revisit.get_header("Content-Length") == "0"
        assert b'\r\nIf-None-Match: "css-1"\r\n' in request  # the request as sent
        # the capture proves what the page needed: listed with the payload's digest and
        # the server's 304, byte for byte; the manifest holds the revisit's digests
        listed = _requisite(arc, later, style)
        assert listed["payload_digest"] == css_digest and listed["http_status"] == 304
        assert listed["revisit_of_record"] == orig_headers.get_header("WARC-Record-ID")
        assert listed["not_modified"]["asked"] == {"If-None-Match": '"css-1"'}
        assert listed["not_modified"]["response_head"].startswith("HTTP/1.1 304 ")
        assert 'ETag: "css-1"' in listed["not_modified"]["response_head"]
        (shown,) = arc.show(later.capture_id)
        manifest_rec = next(r for r in shown.records if r.target_uri == style
                            and r.type == "revisit")
        assert manifest_rec.payload_digest == css_digest
        logo_listed = _requisite(arc, later, logo_url)
        assert logo_listed["not_modified"]["asked"] == {"If-Modified-Since": OLD}
        _warcio_check(later.warc_path)
    assert arc.verify(None, deep=True).ok


def test_a_capture_with_a_not_modified_requisite_bundles_and_verifies(arc: Archive) -> None:
    arc.init()
    css = Validating(CSS_V1, "text/css", etag='"b-1"')
    with TestServer(routes={"/site.css": css}) as site:
        pages = [site.add_page(f"/a{n}", _article(n)) for n in range(2)]
        _, second = _capture(arc, pages)
    assert css.seen[1]["If-None-Match"] == '"b-1"'
    bundle = arc.bundle(second.capture_id)
    report = verify_bundle(bundle, trusted_key=arc.identity().fingerprint)
    assert report.ok, [c.line() for c in report.checks]
    manifest = json.loads(json.loads(bundle)["captures"][0]["manifest"])
    assert any(r["type"] == "revisit" and r["target_uri"] == site.url("/site.css")
               for r in manifest["records"])


def test_a_file_with_a_not_modified_revisit_is_adopted_after_a_crash(arc: Archive) -> None:
    """The writer dies between the durable file and its transaction: the reconciler
    adopts the page whose stylesheet was a 304, under the same capture id."""
    css = Validating(CSS_V1, "text/css", etag='"r-1"')
    agent = arc.agent()
    with TestServer(routes={"/site.css": css}) as site, arc.capture_session() as session:
        first, later = (site.add_page(f"/a{n}", _article(n)) for n in range(2))
        arc.capture([first], mode="page", session=session)  # the run learns the sheet

        def guarded(url: str, policy: Any, follow: bool = True,
                    headers: Any = None) -> Any:
            try:
                return session.fetcher.fetch(url, policy=policy, headers=headers)
            except FetchError as exc:
                return exc

        result = session.fetcher.fetch(later)
        found = fetch_requisites(result, guarded, arc.settings.page, session.requisites)
        assert [f.not_modified is not None for f in found.fetched] == [True]
        prepared = arc.recorder.prepare_fetch(result, agent, mode="page", requisites=found)
        stored, _moment, written = arc.recorder.write_file([prepared], agent)
        result.close()
        found.close()
    arc.store.release(stored.relpath)
    expected = capture_id(build_manifest(
        url=prepared.url, final_url=prepared.final_url,
        capture_time=iso_utc(prepared.started_at), kind="http", status=prepared.status,
        http_status=prepared.http_status, content_hash=prepared.content_hash,
        stored=stored, records=written[0], revisit_of=None))
    recovered = arc.reconcile()
    assert [a["captures"] for a in recovered.adopted] == [[expected]]
    (shown,) = arc.show(expected)
    assert [r.type for r in shown.records if r.target_uri == site.url("/site.css")
            ] == ["revisit", "request"]
    assert arc.verify(None, deep=True).ok


def test_a_changed_requisite_is_fetched_and_stored_in_full(arc: Archive) -> None:
    css = Validating(CSS_V1, "text/css", etag='"v1"', change_after=(2, CSS_V2, '"v2"'))
    with TestServer(routes={"/site.css": css}) as site:
        pages = [site.add_page(f"/a{n}", _article(n)) for n in range(4)]
        _, second, third, fourth = _capture(arc, pages)
    style = site.url("/site.css")
    # page 2: 304; page 3 asked with "v1", got 200 and the new bytes, stored whole
    assert [h.get_header("WARC-Type") for h, _ in _records(arc, second, style)] == \
        ["revisit", "request"]
    response = next((h, b) for h, b in _records(arc, third, style)
                    if h.get_header("WARC-Type") == "response")
    assert response[1].endswith(CSS_V2)
    assert response[0].get_header("WARC-Payload-Digest") == \
        "sha256:" + hashlib.sha256(CSS_V2).hexdigest()
    listed = _requisite(arc, third, style)
    assert listed["http_status"] == 200 and "not_modified" not in listed
    # and page 4 revalidates the new version: a revisit of that response
    revisit = next(h for h, _ in _records(arc, fourth, style)
                   if h.get_header("WARC-Type") == "revisit")
    assert revisit.get_header("WARC-Profile") == NOT_MODIFIED_PROFILE
    assert revisit.get_header("WARC-Refers-To") == response[0].get_header("WARC-Record-ID")
    assert css.seen == [{"If-None-Match": None, "If-Modified-Since": None},
                        {"If-None-Match": '"v1"', "If-Modified-Since": None},
                        {"If-None-Match": '"v1"', "If-Modified-Since": None},
                        {"If-None-Match": '"v2"', "If-Modified-Since": None}]
    assert arc.verify(None, deep=True).ok
