"""End-to-end captures through the archive: WARC, hashes, rows and events, on both DBs."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from servers import ARTICLE, Conn, Request, TestServer
from sqlalchemy import text
from warcio.archiveiterator import ArchiveIterator

from archive.capture.results import CaptureFailure, CaptureResult
from archive.cli import main
from archive.core.urls import url_key
from archive.errors import RefusedURLError
from archive.ledger.custody import events_for
from archive.ledger.queries import search_captures


def _records(path: str) -> list:
    with open(path, "rb") as f:
        out = []
        for r in ArchiveIterator(f, check_digests="raise"):
            out.append((r.rec_type, r.rec_headers, r.http_headers,
                        r.content_stream().read()))
        return out


def _one(arc, url: str) -> CaptureResult:
    (res,) = arc.capture([url])
    assert isinstance(res, CaptureResult), res.to_json()
    return res


def _warcio_check(path: str) -> None:
    proc = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", path],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_article_capture_stores_wire_bytes_hashes_and_provenance(arc, http_server) -> None:
    url = http_server.url("/article")
    res = _one(arc, url)
    assert res.status == "complete" and res.http_status == 200 and res.ok
    recs = _records(res.warc_path)
    assert [r[0] for r in recs] == ["warcinfo", "response", "request", "metadata"]
    body = recs[1][3]
    assert res.content_hash == "sha256:" + hashlib.sha256(body).hexdigest()
    assert recs[1][1].get_header("WARC-IP-Address") == "127.0.0.1"
    assert b"User-Agent: provenance-archive/" in recs[2][3] or \
        recs[2][2].get_header("User-Agent").startswith("provenance-archive/")
    prov = json.loads(recs[3][3])
    assert prov["requested_url"] == url and prov["http_status"] == 200
    assert prov["remote_ip"] == "127.0.0.1" and prov["policy"]["allow_private_networks"]
    assert prov["capture"]["content_hash"] == res.content_hash
    _warcio_check(res.warc_path)
    assert arc.verify(deep=True).ok
    (shown,) = arc.show(res.capture_id)
    assert [e.type for e in shown.events] == ["capture", "message digest calculation"]
    assert url_key(url) in shown.events[0].objects


def test_redirect_chain_keeps_every_hop(arc, http_server) -> None:
    res = _one(arc, http_server.url("/chain/1"))
    recs = _records(res.warc_path)
    types = [r[0] for r in recs]
    assert types.count("response") == 4 and types.count("request") == 4
    statuses = [r[2].get_statuscode() for r in recs if r[0] == "response"]
    assert statuses == ["302", "301", "307", "200"]
    assert res.final_url == http_server.url("/article")
    prov = json.loads(recs[-1][3])
    assert [h["status"] for h in prov["redirects"]] == [302, 301, 307]


@pytest.mark.parametrize("code", [404, 410, 500])
def test_http_errors_are_archived_with_status_and_not_counted_ok(arc, http_server,
                                                                 code: int) -> None:
    """FAULTS 7: archived as sent, status in the database, never a successful capture."""
    res = _one(arc, http_server.url(f"/status/{code}"))
    assert res.status == "http-error" and res.http_status == code and not res.ok
    with arc.engine.connect() as c:
        row = c.execute(text("SELECT status, http_status FROM captures")).one()
    assert tuple(row) == ("http-error", code)
    (shown,) = arc.show(res.capture_id)
    assert shown.events[0].outcome == "warning"


def test_oversized_response_is_truncated_and_says_so(archive_factory, db_url,
                                                     http_server) -> None:
    """FAULTS 4: WARC-Truncated: length; the capture's status says truncated."""
    arc = archive_factory(db_url=db_url, fetch={"allow_private_networks": True,
                                                "max_bytes": 200_000, "deadline": 10.0})
    res = _one(arc, http_server.url("/large?size=3000000"))
    assert res.status == "truncated" and not res.ok
    recs = _records(res.warc_path)
    resp = next(r for r in recs if r[0] == "response")
    assert resp[1].get_header("WARC-Truncated") == "length"
    assert arc.verify(deep=True).ok


def _payload(res: CaptureResult) -> bytes:
    """The final response record's payload as a WARC reader gets it (chunking undone)."""
    return next(r for r in _records(res.warc_path) if r[0] == "response")[3]


def _bundle_verifies_and_verify_deep_agrees(arc, res: CaptureResult, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("ARCHIVE_HOME", str(arc.settings.home)),
                        ("ARCHIVE_DATABASE_URL", arc.settings.database_url),
                        ("ARCHIVE_LOG_ORIGIN", arc.origin)):
        monkeypatch.setenv(name, value)
    arc.init()
    out = tmp_path / "bundle.json"
    assert main(["bundle", res.capture_id, "-o", str(out)]) == 0
    assert main(["verify-bundle", str(out), "--key", arc.identity().fingerprint]) == 0
    assert main(["verify", "--deep"]) == 0


def test_capped_body_hash_covers_the_stored_payload_and_its_bundle_verifies(
        archive_factory, sqlite_url, http_server, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12.5: a body over the size limit is stored and hashed up to the limit alike."""
    arc = archive_factory(db_url=sqlite_url, fetch={"allow_private_networks": True,
                                                    "max_bytes": 200_000, "deadline": 10.0})
    res = _one(arc, http_server.url("/large?size=3000000"))
    assert res.status == "truncated"
    payload = _payload(res)
    assert len(payload) == 200_000
    assert res.content_hash == "sha256:" + hashlib.sha256(payload).hexdigest()
    _bundle_verifies_and_verify_deep_agrees(arc, res, tmp_path, monkeypatch)


def test_bad_chunk_hash_covers_the_chunks_stored_and_the_reason_names_it(
        archive_factory, sqlite_url, http_server, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12.5: the good chunks before a bad chunk-size line are the content."""
    arc = archive_factory(db_url=sqlite_url, fetch={"allow_private_networks": True,
                                                    "deadline": 10.0})
    res = _one(arc, http_server.url("/bad-chunk"))
    assert res.status == "truncated"
    assert any("invalid chunk size line 'zz'" in p and "after 1000 bytes" in p
               for p in res.problems), res.problems
    assert _payload(res) == ARTICLE[:1000]
    assert res.content_hash == "sha256:" + hashlib.sha256(ARTICLE[:1000]).hexdigest()
    _bundle_verifies_and_verify_deep_agrees(arc, res, tmp_path, monkeypatch)


def test_complete_capture_is_never_a_revisit_of_a_truncated_one(arc, http_server) -> None:
    """Issue 12.5: the first answer declares 1000 bytes and sends 100 (truncated); the
    second sends the same 100 bytes as a whole page: a capture of its own."""
    served: list[int] = []

    def prefix_then_whole(request, conn) -> None:
        served.append(1)
        declared = 1000 if len(served) == 1 else 100
        conn.head(200, [("Content-Type", "text/html"), ("Content-Length", str(declared)),
                        ("Connection", "close")])
        conn.send(ARTICLE[:100])

    path = f"/t/prefix-then-whole/{id(arc)}"
    http_server.route(path, prefix_then_whole)
    first = _one(arc, http_server.url(path))
    second = _one(arc, http_server.url(path))
    assert first.status == "truncated"
    assert second.status == "complete" and second.revisit_of is None
    assert [r[0] for r in _records(second.warc_path)].count("revisit") == 0


def test_trickling_server_is_recorded_as_truncated_by_time(archive_factory, db_url,
                                                           http_server) -> None:
    """FAULTS 1: the total deadline ends the fetch; never called complete.

    The server sends the headers at once, then a body byte every 0.5 s (well inside the
    5 s read timeout), so only the 2 s deadline can end it, and only while reading the
    body: the capture is truncated, never failed. robots.txt is not asked (the override),
    so this is the only fetch that runs against a deadline."""
    arc = archive_factory(db_url=db_url, fetch={"allow_private_networks": True,
                                                "deadline": 2.0, "read_timeout": 5.0})
    (res,) = arc.capture([http_server.url("/trickle-body?interval=0.5")],
                         ignore_robots={"*": "test: the deadline alone is under test"})
    assert isinstance(res, CaptureResult), res.to_json()
    assert res.status == "truncated" and not res.ok
    (problem,) = res.problems
    assert problem.startswith("response truncated (time) after ")
    resp = next(r for r in _records(res.warc_path) if r[0] == "response")
    assert resp[1].get_header("WARC-Truncated") == "time"
    assert 0 < len(resp[3]) < len(ARTICLE) and ARTICLE.startswith(resp[3])


@pytest.mark.parametrize("path", ["/silent", "/close", "/loop/a"])
def test_no_response_means_no_record_but_a_failure_event(archive_factory, db_url,
                                                         http_server, path: str) -> None:
    """FAULTS 2, 3: a clear error, no WARC record claiming a response, custody says why."""
    arc = archive_factory(db_url=db_url, fetch={"allow_private_networks": True,
                                                "deadline": 2.0, "read_timeout": 1.0})
    url = http_server.url(path)
    (res,) = arc.capture([url])
    assert isinstance(res, CaptureFailure) and res.status == "failed"
    assert "\n" not in str(res.error) and url.split("?")[0].rsplit("/", 1)[0] in str(res.error)
    assert list(arc.store.iter_files()) == []
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM captures")).scalar() == 0
        (ev,) = events_for(c, url_key(url))
    assert ev.type == "capture" and ev.outcome == "failure"


def test_private_address_is_refused_before_connecting(archive_factory, db_url,
                                                      http_server) -> None:
    """FAULTS 28 through the archive: default settings refuse loopback."""
    arc = archive_factory(db_url=db_url)
    before = http_server.connections
    (res,) = arc.capture([http_server.url("/article")])
    assert isinstance(res, CaptureFailure) and isinstance(res.error, RefusedURLError)
    assert http_server.connections == before
    assert list(arc.store.iter_files()) == []


def test_gzip_page_stores_gzip_bytes_and_hashes_the_decoded_content(arc, http_server) -> None:
    res = _one(arc, http_server.url("/gzip"))
    with open(res.warc_path, "rb") as f:
        resp = next(r for r in ArchiveIterator(f) if r.rec_type == "response")
        raw_payload = resp.raw_stream.read()
        assert resp.http_headers.get_header("Content-Encoding") == "gzip"
    decoded = zlib.decompress(raw_payload, 31)
    assert res.content_hash == "sha256:" + hashlib.sha256(decoded).hexdigest()


def test_gzip_bomb_is_stored_raw_and_decoding_is_capped(archive_factory, db_url,
                                                       http_server) -> None:
    """FAULTS 9: raw bytes stored as sent; the cap is reported; the capture stays valid."""
    arc = archive_factory(db_url=db_url, fetch={"allow_private_networks": True,
                                                "max_decoded_bytes": 5_000_000,
                                                "deadline": 20.0})
    res = _one(arc, http_server.url("/gzip-bomb"))
    assert res.content_hash is None
    assert any("exceeds cap of 5000000" in p for p in res.problems)
    _warcio_check(res.warc_path)
    assert arc.verify(deep=True).ok


def test_identical_payload_becomes_a_revisit_naming_its_original(arc, http_server) -> None:
    """FAULTS 15: a revisit record (identical-payload-digest) and a new custody event."""
    url = http_server.url("/article-2")
    first = _one(arc, url)
    second = _one(arc, url)
    assert second.status == "revisit" and second.revisit_of == first.capture_id
    assert second.content_hash == first.content_hash and second.ok
    orig_resp = next(r for r in _records(first.warc_path) if r[0] == "response")
    rev = next(r for r in _records(second.warc_path) if r[0] == "revisit")
    assert rev[1].get_header("WARC-Refers-To") == orig_resp[1].get_header("WARC-Record-ID")
    assert rev[1].get_header("WARC-Profile").endswith("revisit/identical-payload-digest")
    assert rev[1].get_header("WARC-Payload-Digest") == \
        orig_resp[1].get_header("WARC-Payload-Digest")
    _warcio_check(second.warc_path)
    md = arc.extract_metadata(second.capture_id)  # follows the revisit to its original
    assert md.record["title"]["value"] == "Second article"
    assert arc.verify(deep=True).ok


def test_revisits_are_found_per_batch_and_always_name_the_original(arc, http_server) -> None:
    """One batch mixing plain, chunked (payload digest over the framed bytes) and new
    URLs: each repeat is a revisit of its own first capture, also on the third run."""
    urls = [http_server.url(p) for p in ("/article-2", "/chunked", "/article")]
    first = arc.capture(urls[:2], batch_size=8)
    second = arc.capture(urls, batch_size=8)
    third = arc.capture(urls, batch_size=8)
    assert [r.status for r in first] == ["complete", "complete"]
    assert [r.status for r in second] == ["revisit", "revisit", "complete"]
    assert [r.status for r in third] == ["revisit"] * 3
    originals = [first[0].capture_id, first[1].capture_id, second[2].capture_id]
    assert [r.revisit_of for r in second[:2]] == originals[:2]
    assert [r.revisit_of for r in third] == originals
    for r in [*first, *second, *third]:
        _warcio_check(r.warc_path)
    assert arc.verify(deep=True).ok


def test_two_workers_capturing_one_url_write_separate_files(arc, http_server) -> None:
    """FAULTS 27: two captures (or a revisit), never two writers in one WARC file."""
    url = http_server.url("/article")
    results: list = []

    def work() -> None:
        results.extend(arc.capture([url]))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and all(isinstance(r, CaptureResult) for r in results)
    assert results[0].capture_id != results[1].capture_id
    assert results[0].warc_path != results[1].warc_path
    for r in results:
        _warcio_check(r.warc_path)
    assert arc.verify().ok


def test_https_capture_records_tls_from_the_same_connection(archive_factory, db_url,
                                                            https_server, tls_material) -> None:
    arc = archive_factory(db_url=db_url, fetch={"allow_private_networks": True})
    arc.settings = replace(arc.settings, ca_bundle=str(tls_material.ca_path))
    res = _one(arc, https_server.url("/article"))
    prov = json.loads(_records(res.warc_path)[-1][3])
    cert = "sha256:" + hashlib.sha256(tls_material.good.der).hexdigest()
    assert prov["tls"]["peer_certificate_sha256"] == cert
    assert prov["tls"]["version"].startswith("TLS") and prov["tls_verified"] is True


def test_pdf_is_archived_and_metadata_marked_not_applicable(arc, http_server) -> None:
    """FAULTS 13 through the archive."""
    res = _one(arc, http_server.url("/pdf-as-html"))
    assert res.status == "complete"
    md = arc.extract_metadata(res.capture_id)
    assert md.record["content_kind"] == "not-applicable"
    assert md.record["title"]["value"] is None and md.record["published"]["value"] is None


def test_cli_capture_json_contract_and_verify(tmp_path, http_server, monkeypatch,
                                              capsys) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARCHIVE_DATABASE_URL", raising=False)
    url = http_server.url("/article")
    assert main(["capture", "--json", "--allow-private-networks", url]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    for key in ("capture_id", "content_hash", "url", "status", "warc_path"):
        assert key in item
    assert item["capture_id"].startswith("sha256:") and len(item["capture_id"]) == 71
    assert item["content_hash"].startswith("sha256:") and item["url"] == url
    assert Path(item["warc_path"]).exists()
    assert item["metadata"]["title"] == "Storm closes the harbour for a second day"
    assert main(["verify"]) == 0
    assert main(["capture", "--json", url]) == 3  # loopback refused without the flag
    out = capsys.readouterr().out
    assert "RefusedURLError" in out


def test_warc_bytes_match_what_sha256sum_says(arc, http_server) -> None:
    res = _one(arc, http_server.url("/article"))
    out = subprocess.run(["sha256sum", res.warc_path], capture_output=True, text=True,
                         check=True).stdout.split()[0]
    assert res.warc_sha256 == "sha256:" + out
    data = Path(res.warc_path).read_bytes()
    assert zlib.decompressobj(31).decompress(data).startswith(b"WARC/1.1\r\n")
    assert io.BytesIO(data).read(2) == b"\x1f\x8b"


def test_a_retry_in_the_same_run_does_not_capture_again(arc, http_server) -> None:
    """FAULTS 18: committed, but the orchestrator never saw success; the retry reuses it."""
    url = http_server.url("/article")
    agent = arc.agent(run_id="run-1234", partition_key="abc")
    (first,) = arc.capture([url], agent=agent)
    with arc.engine.connect() as c:
        before = (c.execute(text("SELECT count(*) FROM captures")).scalar(),
                  c.execute(text("SELECT count(*) FROM events")).scalar())
    served = len(http_server.requests)
    (again,) = arc.capture([url], agent=agent)
    assert again.capture_id == first.capture_id and again.warc_path == first.warc_path
    assert len(http_server.requests) == served  # nothing fetched
    with arc.engine.connect() as c:
        after = (c.execute(text("SELECT count(*) FROM captures")).scalar(),
                 c.execute(text("SELECT count(*) FROM events")).scalar())
    assert after == before
    (other_run,) = arc.capture([url], agent=arc.agent(run_id="run-5678"))
    assert other_run.capture_id != first.capture_id  # a new run captures anew


def test_a_retry_in_the_same_run_fetches_transient_failures_again(arc, http_server) -> None:
    url = http_server.url("/status/503")
    agent = arc.agent(run_id="run-503")
    (first,) = arc.capture([url], agent=agent)
    assert first.http_status == 503
    (again,) = arc.capture([url], agent=agent)
    assert again.capture_id != first.capture_id


def test_a_retry_in_the_same_run_keeps_permanent_failures_and_refetches_transient_ones(
        arc, http_server) -> None:
    """Run idempotency covers failures too (one record, the ledger; the pipeline keeps no
    journal of its own): a redirect loop failed for good and is not fetched again by a
    retry of the same run; a dropped connection is; another run tries both anew."""
    loop, dropped = http_server.url("/loop/a"), http_server.url("/close")
    agent = arc.agent(run_id="run-failures")
    first = arc.capture([loop, dropped], agent=agent)
    assert [type(o) for o in first] == [CaptureFailure, CaptureFailure]
    assert first[0].to_json()["error"] == "RedirectError"
    served = len(http_server.requests)
    again = arc.capture([loop, dropped], agent=agent)
    assert again[0].to_json() == {**first[0].to_json(), "url": loop}
    paths = [r.path for r in http_server.requests[served:]]
    assert "/close" in paths and not any(p.startswith("/loop/") for p in paths)
    served = len(http_server.requests)
    arc.capture([loop], agent=arc.agent(run_id="run-other"))
    assert "/loop/a" in [r.path for r in http_server.requests[served:]]


def test_one_fetch_at_a_time_keeps_order_batches_and_failures(arc, http_server) -> None:
    """concurrency=1 fetches on the calling thread: outcomes stay in input order, a
    failure keeps its place, and pages are written in batches of batch_size."""
    tag = hashlib.sha256(b"inline").hexdigest()[:8]
    urls = [http_server.add_page(f"/inline/{tag}/{i}", f"<html>page {i}</html>")
            for i in range(5)]
    urls.insert(2, http_server.url("/close"))  # closes without a response
    outcomes = arc.capture(urls, concurrency=1, batch_size=2)
    assert [o.url for o in outcomes] == urls
    assert isinstance(outcomes[2], CaptureFailure)
    kept = [o for o in outcomes if isinstance(o, CaptureResult)]
    assert len(kept) == 5 and len({o.warc_path for o in kept}) == 3  # 2 + 2 + 1


def test_one_fetch_at_a_time_writes_what_it_has_after_a_slow_fetch(arc, http_server) -> None:
    """A fetch that took half a second or more: the pages already fetched are written
    before the next fetch starts, as they are when threads wait that long."""
    tag = hashlib.sha256(b"lull").hexdigest()[:8]
    written: dict[str, float] = {}
    asked: dict[str, float] = {}

    def slow(request, conn) -> None:
        conn.sleep(0.6)
        conn.respond(200, b"<html>slow</html>")

    def last(request, conn) -> None:
        asked["last"] = time.monotonic()
        conn.respond(200, b"<html>last</html>")

    first = http_server.add_page(f"/lull/{tag}/first", "<html>first</html>")
    http_server.route(f"/lull/{tag}/slow", slow)
    http_server.route(f"/lull/{tag}/last", last)
    urls = [first, http_server.url(f"/lull/{tag}/slow"), http_server.url(f"/lull/{tag}/last")]
    outcomes = arc.capture(urls, concurrency=1, batch_size=10,
                           on_done=lambda o: written.setdefault(o.url, time.monotonic()))
    assert all(o.ok for o in outcomes)
    assert written[urls[0]] < asked["last"] and written[urls[1]] < asked["last"]
    assert len({o.warc_path for o in outcomes}) == 2  # first + slow, then last


def test_captures_are_listed_newest_first_by_capture_time(arc) -> None:
    """A run's fetches overlap and are stored by batch: the page that started first and
    answered last is the older capture, listed (and searched) after the one that
    started later, though it was stored after it."""
    def slow(request: Request, conn: Conn) -> None:
        conn.sleep(0.8)
        conn.respond(200, ARTICLE)

    def fast(request: Request, conn: Conn) -> None:
        conn.sleep(0.2)  # started after slow, answered before it
        conn.respond(200, ARTICLE.replace(b"Storm", b"Calm"))

    with TestServer(routes={"/slow": slow, "/fast": fast}) as site:
        urls = [site.url("/slow"), site.url("/fast")]
        out = arc.capture(urls, concurrency=2, per_host=2, batch_size=8)
    assert [o.ok for o in out] == [True, True]
    started = {o.url: o.started_at for o in out}
    assert started[urls[0]] < started[urls[1]]
    assert [c.url for c in arc.list_captures()] == [urls[1], urls[0]]
    found = [c.url for batch in arc.search_captures(["127.0.0.1"]) for c in batch]
    assert found == [urls[1], urls[0]]
    by_one = [c.url for b in search_captures(arc.engine, [], batch=1) for c in b]
    assert by_one == [urls[1], urls[0]]
