"""Our WARCs replay in a standard tool: pywb's ``wayback`` over a collection made with
``wb-manager``, serving what a reader saw (the article, its stylesheet, its image), never
the provenance JSON we write beside them.

pywb is GPL-3.0: a test-time tool in its own virtual environment (.venv-pywb, made by
scripts/ensure-pywb), run as separate processes and never imported, so it is no runtime
dependency of this Apache-2.0 project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import free_port, require, wait_for_http
from servers import ARTICLE, TestServer, Validating, minimal_png
from warcio.archiveiterator import ArchiveIterator

from archive.api import Archive
from archive.capture.results import CaptureResult
from archive.capture.scheduler import open_session
from archive.warc.writer import NOT_MODIFIED_PROFILE, PROVENANCE, about_uri

ROOT = Path(__file__).resolve().parents[1]
PYWB_BIN = Path(os.environ.get("ARCHIVE_PYWB_BIN") or ROOT / ".venv-pywb" / "bin")

# --------------------------------------------------------------------------- pywb


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Wayback:
    """A running ``wayback`` on 127.0.0.1 over the collections under ``root``."""

    root: Path
    url: str

    def add(self, files: list[Path]) -> str:
        """A new collection holding ``files`` (``wb-manager init`` + ``add``); its name."""
        coll = "c" + uuid.uuid4().hex[:10]
        for args in (["init", coll], ["add", coll, *map(str, files)]):
            proc = subprocess.run([str(PYWB_BIN / "wb-manager"), *args], cwd=self.root,
                                  capture_output=True, text=True, check=False, timeout=120)
            assert proc.returncode == 0, f"wb-manager {args[0]}: {proc.stdout}{proc.stderr}"
        return coll

    def get(self, path: str) -> Reply:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as resp:  # noqa: S310
                return Reply(resp.status, resp.headers.get("Content-Type", ""), resp.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.headers.get("Content-Type", ""), err.read())


@pytest.fixture(scope="session")
def wayback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wayback]:
    """pywb's wayback on a free loopback port, over an empty collections root; stopped
    at the end of the session."""
    if not (PYWB_BIN / "wayback").exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-pywb")], check=False)
    if not (PYWB_BIN / "wayback").exists() or not (PYWB_BIN / "wb-manager").exists():
        require(f"no pywb at {PYWB_BIN} and scripts/ensure-pywb could not install it "
                "(see its message above and /tmp/ensure-pywb.log)")
    root = tmp_path_factory.mktemp("pywb")
    (root / "collections").mkdir()
    port = free_port()
    log = (root / "wayback.log").open("wb")
    proc = subprocess.Popen([str(PYWB_BIN / "wayback"), "-b", "127.0.0.1", "-p", str(port),
                             "-d", str(root)], cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", proc, "wayback")
        yield Wayback(root, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()

# --------------------------------------------------------------------------- the test


STYLE = b"body { font-family: serif; color: #222; }\narticle h1 { font-size: 2em; }\n"
LOGO = minimal_png(8, 8)


def _page(style: str, logo: str) -> bytes:
    """The test article with a stylesheet and an image, each its own URL."""
    head = f'<link rel="stylesheet" href="{style}">\n</head>'.encode()
    body = f'<body>\n<img src="{logo}" alt="Harbour Gazette">'.encode()
    return ARTICLE.replace(b"</head>", head, 1).replace(b"<body>", body, 1)


def _timestamp(warc_date: str) -> str:
    """The 14-digit timestamp replay tools index a record under (from its WARC-Date)."""
    return "".join(c for c in warc_date[:19] if c.isdigit())


def _refers_to(path: str, record_id: str) -> str | None:
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_headers.get_header("WARC-Record-ID") == record_id:
                return rec.rec_headers.get_header("WARC-Refers-To")
    raise AssertionError(f"no record {record_id} in {path}")


def _warcio_check(path: Path) -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v",
                           str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pywb_replays_page_stylesheet_and_image_not_our_provenance(
        archive_factory, wayback: Wayback) -> None:
    """One ``page`` capture (the article, its stylesheet and its image in one capture
    and one WARC file) replays in pywb: each URL with its own bytes and type."""
    arc: Archive = archive_factory(fetch={"allow_private_networks": True, "deadline": 10.0})
    with TestServer(routes={}) as site:
        style, logo = site.url("/static/site.css"), site.url("/static/logo.png")
        page = site.add_page("/2026/11/20/storm", _page(style, logo))
        site.add_page("/static/site.css", STYLE, content_type="text/css")
        site.add_page("/static/logo.png", LOGO, content_type="image/png")
        (res,) = arc.capture([page], mode="page")
        assert isinstance(res, CaptureResult) and res.status == "complete"
        # the article's metadata, as the pipeline stores it: a later WARC file of its own
        arc.extract_metadata(res.capture_id)

    files = sorted(arc.settings.warc_dir.rglob("*.warc.gz"))
    assert len(files) >= 2
    for path in files:
        _warcio_check(path)
    coll = wayback.add(files)

    shown = arc.show(res.capture_id)[0]
    assert shown.requisites.captured == 2
    # the provenance is still there, under its own URN, linked to the page's response
    meta = next(r for r in shown.records if r.type == "metadata")
    page_response = next(r for r in shown.records if r.type == "response"
                         and r.target_uri == page)
    assert meta.target_uri == about_uri(PROVENANCE, page)
    assert _refers_to(res.warc_path, meta.record_id) == page_response.record_id
    expected = {page: (_page(style, logo), "text/html"), style: (STYLE, "text/css"),
                logo: (LOGO, "image/png")}
    for url, (body, ctype) in expected.items():
        response = next(r for r in shown.records if r.type == "response"
                        and r.target_uri == url)
        ts = _timestamp(response.date)
        # the capture's own second, and the newest capture (what a reader is shown first)
        for when in (ts, "29991231235959"):
            got = wayback.get(f"/{coll}/{when}id_/{url}")
            assert got.status == 200, (url, when, got)
            assert got.content_type.split(";")[0].strip() == ctype, (url, when, got)
            assert got.body == body, (url, when, got.body[:200])
            assert not got.body.lstrip().startswith(b"{"), "provenance JSON replayed"


def test_pywb_replays_a_requisite_revalidated_by_a_304(archive_factory,
                                                        wayback: Wayback) -> None:
    """Two pages of one run share a stylesheet with an ETag: the second page's copy is a
    ``server-not-modified`` revisit (the server answered 304); at that capture's own
    second, pywb serves the stylesheet's bytes and type, not the 304."""
    arc: Archive = archive_factory(fetch={"allow_private_networks": True, "deadline": 10.0})
    css = Validating(STYLE, "text/css", etag='"style-1"')
    with TestServer(routes={"/static/site.css": css}) as site:
        style, logo = site.url("/static/site.css"), site.url("/static/logo.png")
        site.add_page("/static/logo.png", LOGO, content_type="image/png")
        pages = [site.add_page(f"/2026/11/2{n}/story", _page(style, logo)) for n in range(2)]
        with open_session(arc.settings) as session:  # one run, two calls a second apart
            (first,) = arc.capture(pages[:1], mode="page", session=session)
            time.sleep(1.1)  # so that the revisit has a second (an index key) of its own
            (second,) = arc.capture(pages[1:], mode="page", session=session)
        assert isinstance(first, CaptureResult) and isinstance(second, CaptureResult)
    assert css.seen[1]["If-None-Match"] == '"style-1"'
    shown = arc.show(second.capture_id)[0]
    revisit = next(r for r in shown.records if r.target_uri == style)
    assert revisit.type == "revisit"
    with open(second.warc_path, "rb") as f:
        profile = next(r.rec_headers.get_header("WARC-Profile") for r in ArchiveIterator(f)
                       if r.rec_headers.get_header("WARC-Record-ID") == revisit.record_id)
    assert profile == NOT_MODIFIED_PROFILE
    files = sorted({Path(first.warc_path), Path(second.warc_path)})
    for path in files:
        _warcio_check(path)
    coll = wayback.add(files)
    index = wayback.get(f"/{coll}/cdx?output=json&url={style}")
    lines = [json.loads(line) for line in index.body.splitlines() if line.strip()]
    assert sorted(line["mime"] for line in lines) == ["text/css", "warc/revisit"], lines
    assert _timestamp(revisit.date) == max(line["timestamp"] for line in lines)
    for when in (_timestamp(revisit.date), "29991231235959"):
        got = wayback.get(f"/{coll}/{when}id_/{style}")
        assert got.status == 200, (when, got)
        assert got.content_type.split(";")[0].strip() == "text/css", (when, got)
        assert got.body == STYLE, (when, got.body[:200])
