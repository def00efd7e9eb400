"""robots.txt is obeyed by default (RFC 9309); an override is recorded with its reason."""

from __future__ import annotations

import json

from servers import TestServer, article_html
from warcio.archiveiterator import ArchiveIterator

from archive.capture.results import CaptureFailure, CaptureResult
from archive.errors import RefusedURLError


def _provenance(res: CaptureResult) -> dict:
    with open(res.warc_path, "rb") as f:
        bodies = [r.content_stream().read() for r in ArchiveIterator(f)
                  if r.rec_type == "metadata"]
    return json.loads(bodies[-1])


def test_disallowed_page_is_refused_and_override_is_recorded(arc) -> None:
    with TestServer() as server:
        server.add_page("/robots.txt", "User-agent: *\nDisallow: /private/\n",
                        content_type="text/plain")
        server.add_page("/private/a", article_html("Hidden"))
        server.add_page("/public/a", article_html("Open"))
        (refused,) = arc.capture([server.url("/private/a")])
        assert isinstance(refused, CaptureFailure)
        assert isinstance(refused.error, RefusedURLError)
        assert "disallowed by robots.txt" in str(refused.error)
        assert list(arc.store.iter_files()) == []
        (ok,) = arc.capture([server.url("/public/a")])
        assert isinstance(ok, CaptureResult)
        robots = _provenance(ok)["robots"]
        assert robots["policy"] == "obey" and robots["allowed"] and robots["status"] == 200
        assert robots["sha256"].startswith("sha256:")
        (forced,) = arc.capture([server.url("/private/a")],
                                ignore_robots={"*": "court order 12/2026 requires a copy"})
        assert isinstance(forced, CaptureResult)
        assert _provenance(forced)["robots"] == {
            "policy": "ignored", "reason": "court order 12/2026 requires a copy"}


def test_robots_server_error_means_disallow_and_404_means_allow(arc) -> None:
    with TestServer() as server:
        server.add_page("/robots.txt", "oops", status=503, content_type="text/plain")
        server.add_page("/a", article_html("A"))
        (res,) = arc.capture([server.url("/a")])
        assert isinstance(res, CaptureFailure) and "RFC 9309" in str(res.error)
    with TestServer() as server:
        server.add_page("/a", article_html("A"))
        (res,) = arc.capture([server.url("/a")])
        assert isinstance(res, CaptureResult)
        assert _provenance(res)["robots"]["status"] == 404
