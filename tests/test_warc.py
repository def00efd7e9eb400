"""WARC records: digests, gzip members, readability by warcio, and a golden file."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.warc.writer import Block, WarcWriter, digests

GOLDEN = Path(__file__).parent / "data" / "golden"


def test_payload_digest_starts_after_http_headers() -> None:
    block = b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nhello"
    bd, pd = digests(Block.of(block, payload_offset=block.index(b"\r\n\r\n") + 4))
    assert bd == "sha256:" + hashlib.sha256(block).hexdigest()
    assert pd == "sha256:" + hashlib.sha256(b"hello").hexdigest()


def test_declared_length_must_match_the_stream() -> None:
    with pytest.raises(ValueError, match="declared"):
        digests(Block(io.BytesIO(b"abc"), 5))


def test_each_record_is_one_gzip_member_that_warcio_verifies() -> None:
    out = io.BytesIO()
    w = WarcWriter(out)
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    r1 = w.write("response", [("WARC-Target-URI", "http://example.com/")],
                 Block.of(resp, payload_offset=resp.index(b"\r\n\r\n") + 4),
                 record_id="<urn:uuid:1>", date="2026-01-01T00:00:00.000000Z",
                 content_type="application/http; msgtype=response")
    r2 = w.write("resource", [("WARC-Target-URI", "urn:x")], Block.of(b"doc", 0),
                 record_id="<urn:uuid:2>", date="2026-01-01T00:00:00.000000Z",
                 content_type="text/plain")
    data = out.getvalue()
    assert r1.offset == 0 and r2.offset == r1.length and len(data) == r1.length + r2.length
    # every member decompresses on its own: readers can seek to an offset
    member = zlib.decompress(data[r2.offset:r2.offset + r2.length], 31)
    assert member.startswith(b"WARC/1.1\r\nWARC-Type: resource\r\n")
    recs = list(ArchiveIterator(io.BytesIO(data), check_digests="raise"))
    assert [r.rec_type for r in recs] == ["response", "resource"]
    assert recs[0].rec_headers.get_header("WARC-Payload-Digest") == \
        "sha256:" + hashlib.sha256(b"hi").hexdigest()


def test_ingest_writes_the_golden_warc_byte_for_byte(archive_factory) -> None:
    """Injected clock, ids and name: the uncompressed WARC equals tests/data/golden."""
    from helpers import StepClock, counter_ids, fixed_name

    arc = archive_factory(clock=StepClock(), new_id=counter_ids(), namer=fixed_name,
                          hostname="testhost", operator="golden")
    doc = arc.settings.home / "note.txt"
    doc.write_bytes(b"Rubrik\nPublicerad 2016-05-03\nEn kort text.\n")
    (res,) = arc.ingest([doc], url="https://news.example/2016/05/03/note")
    raw = zlib.decompress(Path(res.warc_path).read_bytes(), 31)  # first member only
    whole = b""
    data = Path(res.warc_path).read_bytes()
    while data:
        d = zlib.decompressobj(31)
        whole += d.decompress(data)
        data = d.unused_data
    assert raw and whole.startswith(raw)
    golden = GOLDEN / "document.warc"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(whole)
        (GOLDEN / "document.capture_id").write_text(res.capture_id + "\n")
    assert whole == golden.read_bytes()
    assert res.capture_id == (GOLDEN / "document.capture_id").read_text().strip()


def test_warcio_check_accepts_what_we_write(archive_factory) -> None:
    arc = archive_factory()
    doc = arc.settings.home / "a.html"
    doc.write_text("<html><title>x</title></html>")
    (res,) = arc.ingest([doc])
    warcio = str(Path(sys.executable).parent / "warcio")
    proc = subprocess.run([warcio, "check", "-v", res.warc_path], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "digest pass" in proc.stdout


def test_a_file_written_before_provenance_urns_is_adopted_imported_and_verified(
        archive_factory, db_url: str, tmp_path: Path) -> None:
    """tests/data/golden/document-old-form.warc.gz is, byte for byte, what the golden
    ingest wrote when the provenance metadata record carried the document's own URL as
    its WARC-Target-URI. Found in a store without a row (a crash before the commit),
    it is adopted under the capture id it was written with, and it imports as valid."""
    old = GOLDEN / "document-old-form.warc.gz"
    arc = archive_factory(db_url=db_url)
    orphan = arc.settings.warc_dir / "2026" / "01" / "02" / \
        "ARCHIVE-20260102030405678-000000000001-testhost.warc.gz"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(old.read_bytes())
    report = arc.reconcile()
    expected = (GOLDEN / "document-old-form.capture_id").read_text().strip()
    assert [a["captures"] for a in report.adopted] == [[expected]]
    (shown,) = arc.show(expected)
    meta = next(r for r in shown.records if r.type == "metadata")
    assert meta.target_uri == "https://news.example/2016/05/03/note"  # the old form
    assert shown.provenance["original_url"] == "https://news.example/2016/05/03/note"
    assert arc.verify(expected, deep=True).ok
    copy = tmp_path / "old.warc.gz"
    copy.write_bytes(old.read_bytes())
    imported = arc.import_warc(copy)
    assert imported.verdict == "valid" and imported.record_counts["metadata"] == 1
