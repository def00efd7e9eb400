"""An imported WARC's response and resource records are captures like any other: list,
show, metadata, cite, verify, bundle + verify-bundle and the Dagster catalogue find them.

The WARC is written here with warcio (a foreign writer: sha1 base32 digests, its own
record ids), per-record gzip and uncompressed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zlib
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from pipelinekit import deployment_env, write_sources
from servers import article_html
from sqlalchemy import func, select
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.api import Archive
from archive.cli import main
from archive.ledger.tables import captures, events
from archive.proof.bundle_verify import verify_bundle
from pipelines.assets import catalog
from pipelines.resources import resources_from_env

TITLE = "Lighthouse keepers return to the northern cape"
PAGE_URL = "https://news.example/2024/05/14/lighthouse.html"
NOTE_URL = "https://news.example/notes/tide-table.txt"
PAGE = article_html(TITLE, "2024-05-14T09:30:00Z").encode("utf-8")
NOTE = b"High tide 06:12, low tide 12:25.\n"


def _foreign_warc(path: Path, *, gzip: bool) -> Path:
    """warcinfo, request + response of an article, a resource record: as warcio writes."""
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=gzip)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "someone-else/1.0"}))
        req = StatusAndHeaders("GET /2024/05/14/lighthouse.html HTTP/1.1",
                               [("Host", "news.example")], is_http_request=True)
        w.write_record(w.create_warc_record(PAGE_URL, "request", http_headers=req))
        resp = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                           ("Content-Length", str(len(PAGE)))],
                                protocol="HTTP/1.1")
        # lengths given: else warcio spools each payload to a file it never closes
        w.write_record(w.create_warc_record(PAGE_URL, "response", payload=io.BytesIO(PAGE),
                                            length=len(PAGE), http_headers=resp))
        w.write_record(w.create_warc_record(NOTE_URL, "resource", payload=io.BytesIO(NOTE),
                                            length=len(NOTE), warc_content_type="text/plain"))
    return path


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip-per-record", "uncompressed"])
def test_imported_records_are_listed_shown_cited_verified_and_bundled(arc: Archive,
                                                                      tmp_path: Path,
                                                                      gzip: bool) -> None:
    src = _foreign_warc(tmp_path / ("crawl.warc.gz" if gzip else "crawl.warc"), gzip=gzip)
    res = arc.import_warc(src)
    assert res.verdict == "valid" and len(res.captures) == 2

    listed = {c.url: c for c in arc.list_captures()}
    assert set(listed) == {PAGE_URL, NOTE_URL}
    page, note = listed[PAGE_URL], listed[NOTE_URL]
    assert page.kind == note.kind == "imported"
    assert page.status == "complete" and page.http_status == 200
    assert page.content_hash == _sha(PAGE) and note.content_hash == _sha(NOTE)
    assert page.warc_file == res.stored_path and res.captures == [page.capture_id,
                                                                    note.capture_id]

    (shown,) = arc.show(page.capture_id)
    assert [r["type"] for r in shown.manifest["records"]] == ["warcinfo", "response"]
    assert shown.manifest["warc_file"]["sha256"] == res.sha256
    assert shown.provenance["type"] == "warc-import"
    assert shown.provenance["imported_from"] == src.name
    ingest = [e for e in shown.events if e.type == "ingestion"
              and page.capture_id in e.objects]
    assert len(ingest) == 1 and ingest[0].detail["imported_from"] == src.name
    assert ingest[0].detail["warc_record_id"] == shown.manifest["records"][1]["record_id"]
    assert arc.show(_sha(NOTE))[0].capture_id == note.capture_id  # by content hash

    assert arc.extract_metadata(page.capture_id).record["title"]["value"] == TITLE
    cited = arc.cite(page.capture_id)
    assert TITLE in cited and PAGE_URL in cited
    assert page.content_hash in cited and page.capture_id in cited

    assert arc.verify().ok
    assert arc.verify(page.capture_id, deep=True).ok

    ident = arc.init()
    for cap in (page, note):
        report = verify_bundle(arc.bundle(cap.capture_id), trusted_key=ident.fingerprint)
        assert report.ok, [c.line() for c in report.failures]
        assert report.capture_id == cap.capture_id
        assert any(c.name == "content" and c.status == "ok" for c in report.checks)

    with arc.engine.connect() as conn:
        before = (conn.execute(select(func.count()).select_from(captures)).scalar(),
                  conn.execute(select(func.count()).select_from(events)).scalar())
    again = arc.import_warc(src)  # idempotent by file hash: nothing new, same captures
    assert again.already_imported and again.captures == res.captures
    with arc.engine.connect() as conn:
        after = (conn.execute(select(func.count()).select_from(captures)).scalar(),
                 conn.execute(select(func.count()).select_from(events)).scalar())
    assert after == before


def test_an_edited_imported_record_fails_its_bundle(arc: Archive, tmp_path: Path) -> None:
    """A foreign record carries sha1 digests; the manifest's sha256 still pins its bytes:
    a re-compressed, edited response (member hash and length made consistent) fails."""
    src = _foreign_warc(tmp_path / "crawl.warc.gz", gzip=True)
    res = arc.import_warc(src)
    ident = arc.init()
    doc = json.loads(arc.bundle(res.captures[0]))
    rec = doc["captures"][0]["records"][1]
    raw = zlib.decompress(base64.b64decode(rec["gzip_base64"]), 31)
    assert b"Lighthouse keepers" in raw
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    forged = packer.compress(raw.replace(b"Lighthouse keepers", b"Lighthouse robbers")) + \
        packer.flush()
    rec.update(gzip_base64=base64.b64encode(forged).decode(), length=len(forged),
               sha256=_sha(forged))
    report = verify_bundle(json.dumps(doc).encode(), trusted_key=ident.fingerprint)
    assert not report.ok
    failed = {c.name for c in report.failures}
    assert f"record {rec['record_id']} (response at offset {rec['offset']} of " \
           f"{doc['captures'][0]['warc_file']['name']})" in failed


def test_cli_import_then_list_show_cite_bundle_verify_bundle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARCHIVE_DATABASE_URL", raising=False)
    src = _foreign_warc(tmp_path / "crawl.warc.gz", gzip=True)
    assert main(["import", "--json", str(src)]) == 0
    (imported,) = json.loads(capsys.readouterr().out)
    page_id = imported["captures"][0]
    assert main(["list", "--json"]) == 0
    assert page_id in {c["capture_id"] for c in json.loads(capsys.readouterr().out)}
    assert main(["show", page_id]) == 0
    assert PAGE_URL in capsys.readouterr().out
    assert main(["cite", page_id]) == 0
    assert TITLE in capsys.readouterr().out  # metadata was extracted at import
    assert main(["init", "--json"]) == 0
    fingerprint = json.loads(capsys.readouterr().out)["fingerprint"]
    bundle = tmp_path / "page.bundle.json"
    assert main(["bundle", page_id, "-o", str(bundle)]) == 0
    capsys.readouterr()
    assert main(["verify-bundle", str(bundle), "--key", fingerprint]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_the_catalog_asset_lists_imported_captures(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = deployment_env(home, write_sources(tmp_path / "sources.yaml", [PAGE_URL]))
    src = _foreign_warc(tmp_path / "crawl.warc.gz", gzip=True)
    with Archive.open(resources_from_env(env)["archive"].settings()) as arc:
        res = arc.import_warc(src)
        arc.extract_metadata_many(res.captures)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([catalog], instance=instance, resources=resources_from_env(env))
    assert result.success
    rows = [json.loads(line) for line in
            (home / "catalog" / "catalog.jsonl").read_text("utf-8").splitlines()]
    by_url = {r["url"]: r for r in rows}
    assert set(by_url) == {PAGE_URL, NOTE_URL}
    assert by_url[PAGE_URL]["title"] == TITLE
    assert by_url[PAGE_URL]["capture_id"] == res.captures[0]
    assert by_url[PAGE_URL]["content_hash"] == _sha(PAGE)
    assert res.captures[0] in by_url[PAGE_URL]["citation"]
