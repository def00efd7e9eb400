"""The foreign-WARC scanner: the shared corpus, generated faults, and random truncation.

Fixtures are built here, byte by byte, so each test shows exactly which fault it plants
(and no corpus file is copied into the repository). The corpus tests read
../shared/corpus/warc/ and its truth.jsonl; without it they skip, saying why (and fail
under CI=true).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import SHARED, each, missing_path, require
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator

from archive.errors import ConfigError, WarcFormatError
from archive.warc.scan import ScanReport, scan_stream, scan_warc
from archive.warc.writer import Block, WarcWriter, warc_fields

CORPUS = SHARED / "corpus" / "warc"
TRUTH = CORPUS / "truth.jsonl"
MISSING = missing_path(TRUTH, "the shared WARC corpus's truth.jsonl")


def _truth() -> list[dict[str, Any]]:
    if MISSING:
        return []
    return [json.loads(line) for line in TRUTH.read_text().splitlines() if line.strip()]


def _file(row: dict[str, Any]) -> str:
    return str(row["file"])


TRUTH_ROWS = _truth()


@pytest.fixture
def warc_corpus() -> None:
    """The corpus tests' prerequisite: skipped without it, failed without it in CI."""
    require(MISSING)


needs_corpus = pytest.mark.usefixtures("warc_corpus")

# ----------------------------------------------------------------------------- builders

HTTP_BODY = b"<html>hello</html>\n"
HTTP_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 19\r\n\r\n"
                 + HTTP_BODY)


def digest(algo: str, enc: str, data: bytes) -> str:
    raw = hashlib.new(algo, data).digest()
    value = {
        "base32": lambda: base64.b32encode(raw).decode(),
        "base16": raw.hex,
        "base64": lambda: base64.b64encode(raw).decode(),
        "base64url": lambda: base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }[enc]()
    return f"{algo}:{value}"


def record(
    rtype: str = "resource",
    block: bytes = b"hello world\n",
    *,
    rid: str | None = None,
    uri: str | None = "http://example.com/",
    ctype: str | None = "text/plain",
    algo: str = "sha1",
    enc: str = "base32",
    payload: bytes | None = None,
    block_digest: str | None = "auto",
    payload_digest: str | None = "auto",
    clen: int | None = None,
    extra: Sequence[tuple[str, str]] = (),
    trailer: bytes = b"\r\n\r\n",
) -> bytes:
    """One uncompressed WARC/1.1 record; digests computed unless given (None: omitted)."""
    rid = rid or f"<urn:uuid:{hashlib.sha256(block + rtype.encode()).hexdigest()[:32]}>"
    fields = [("WARC-Type", rtype), ("WARC-Record-ID", rid),
              ("WARC-Date", "2026-01-01T00:00:00Z")]
    if uri is not None:
        fields.append(("WARC-Target-URI", uri))
    if ctype is not None:
        fields.append(("Content-Type", ctype))
    fields.extend(extra)
    if block_digest == "auto":
        block_digest = digest(algo, enc, block)
    if block_digest is not None:
        fields.append(("WARC-Block-Digest", block_digest))
    if payload_digest == "auto":
        payload_digest = digest(algo, enc, payload) if payload is not None else None
    if payload_digest is not None:
        fields.append(("WARC-Payload-Digest", payload_digest))
    fields.append(("Content-Length", str(len(block) if clen is None else clen)))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    return head.encode("utf-8") + block + trailer


def response(**kw: Any) -> bytes:
    return record("response", HTTP_RESPONSE, ctype="application/http; msgtype=response",
                  payload=HTTP_BODY, **kw)


def gz(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def sample_records() -> list[bytes]:
    info = warc_fields([("software", "test"), ("format", "WARC File Format 1.1")])
    return [
        record("warcinfo", info, uri=None, ctype="application/warc-fields"),
        record("request", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
               ctype="application/http; msgtype=request", payload=b""),
        response(),
        record("resource", b"plain text resource\n", uri="urn:x:1", algo="sha256",
               enc="base16", payload=b"plain text resource\n"),
    ]


def join(parts: Iterable[bytes], compress: bool) -> bytes:
    return b"".join(gz(p) if compress else p for p in parts)


def scan_bytes(data: bytes) -> ScanReport:
    return scan_stream(io.BytesIO(data))


def codes(report: ScanReport) -> Counter[str]:
    return Counter(p.code for p in report.problems)


def only(report: ScanReport, code: str) -> Any:
    found = [p for p in report.problems if p.code == code]
    assert len(found) == 1, (code, report.problems)
    return found[0]


def assert_messages_well_formed(report: ScanReport) -> None:
    for p in report.problems:
        assert p.message.startswith(f"offset {p.offset}: "), p
        assert "\n" not in p.message and "\r" not in p.message, p
        assert 0 <= p.offset <= report.size, p
    for r in report.records:
        for p in r.problems:
            assert p.message.startswith(f"offset {p.offset}: "), p


# ----------------------------------------------------------------------------- corpus

# The record types that carry a payload (the rest have payload_sha256 None).
PAYLOAD_TYPES = ("response", "request", "resource", "conversion")

# What each non-"valid" corpus file must give: verdict and the reason (code, offset).
CORPUS_EXPECT: dict[str, tuple[str, str, int]] = {
    "warcio/example-bad-non-chunked.warc.gz": ("refused", "whole-file-gzip", 0),
    "warcio/example-wrong-chunks.warc.gz": ("refused", "split-record", 0),
    "warcio/example-trunc.warc": ("partial", "content-length-mismatch", 1197),
    "warcio/example-digest.warc": ("partial", "payload-digest-mismatch", 0),
    "warcio/example.arc.gz": ("refused", "arc-format", 0),
    # quirky: readable; the payload digest claims an HTTP body the record does not hold
    "cdxj-indexer/missing-http.warc.gz": ("partial", "payload-digest-mismatch", 0),
}


def digest_counts(report: ScanReport) -> dict[str, int]:
    """Pass/fail per record as warcio counts them (it skips revisit records)."""
    counted = [r.digest_status for r in report.records if r.type != "revisit"]
    return {"pass": counted.count("pass"), "fail": counted.count("fail")}


@needs_corpus
@pytest.mark.parametrize("row", each(TRUTH_ROWS, MISSING, _file))
def test_corpus_file(row: dict[str, Any]) -> None:
    path = CORPUS / row["file"]
    data = path.read_bytes()
    assert hashlib.sha1(data).hexdigest() == row["sha1"]  # noqa: S324 - the truth's hash
    report = scan_warc(path)
    assert report.path == path
    assert report.size == row["bytes"] == len(data)
    assert report.sha256 == "sha256:" + hashlib.sha256(data).hexdigest()
    assert report.compression == row["compression"]
    assert report.format == row["format"]
    assert_messages_well_formed(report)

    verdict, code, offset = CORPUS_EXPECT.get(row["file"], ("valid", "", 0))
    assert report.verdict == verdict, report.problems
    if code:
        assert any(p.code == code and p.offset == offset for p in report.errors), report.errors
    if row["format"] == "arc":
        assert report.records == ()
        return
    if row["status"] == "malformed":
        # warcio stops at the first fatal error; we read on, so its records are a prefix
        got = Counter(r.type for r in report.records)
        assert all(got[t] >= n for t, n in row["record_counts"].items())
    else:
        assert report.record_counts == row["record_counts"]
        assert report.warc_versions == row["warc_versions"]
    if row["status"] != "malformed" or row["file"].endswith(("trunc.warc", "digest.warc")):
        assert digest_counts(report) == row["digests"]
    for problem in row.get("digest_problems", []):  # warcio's complaint, at our offset
        declared = problem.rsplit(" ", 1)[-1]
        assert any(declared in p.message and p.code.endswith("digest-mismatch")
                   for p in report.errors), (declared, report.errors)
    if verdict == "valid" and report.compression == "gzip":
        # offsets and lengths tile the file: each record is one member, readable alone
        assert sum(r.length for r in report.records) == report.size
        for r in report.records:
            member = zlib.decompressobj(31)
            assert member.decompress(data[r.offset : r.offset + r.length]).startswith(b"WARC/")
            assert member.eof and not member.unused_data
    if verdict == "valid" and report.compression == "none":
        assert sum(r.length for r in report.records) == report.size
        for r in report.records:
            assert data[r.offset : r.offset + r.length].startswith(b"WARC/")


@needs_corpus
@pytest.mark.parametrize("row", each([r for r in TRUTH_ROWS if r["status"] == "valid"
                                      and r["format"] == "warc"], MISSING, _file))
def test_corpus_payload_hashes_agree_with_warcio(row: dict[str, Any]) -> None:
    """Our payload boundary (after the HTTP headers) is the one warcio reads."""
    path = CORPUS / row["file"]
    report = scan_warc(path)
    with path.open("rb") as f:
        theirs = [(rec.rec_type, "sha256:" + hashlib.sha256(rec.raw_stream.read()).hexdigest())
                  for rec in ArchiveIterator(f)]
    ours = [(r.type, r.payload_sha256) for r in report.records]
    assert len(ours) == len(theirs)
    for (otype, opay), (ttype, tpay) in zip(ours, theirs, strict=True):
        assert otype == ttype
        if otype in PAYLOAD_TYPES:
            assert opay == tpay
        else:  # warcinfo, metadata, revisit: their blocks carry no payload
            assert opay is None


@needs_corpus
def test_corpus_quirks_are_data_not_paths() -> None:
    space = scan_warc(CORPUS / "warcio/example-space-in-target-uri.warc.gz")
    assert "file:///example with spaces.png" in [r.target_uri for r in space.records]
    wget = scan_warc(CORPUS / "warcio/example-wget-bad-target-uri.warc.gz")
    assert "<http://example.com/>" in [r.target_uri for r in wget.records]
    assert codes(wget)["target-uri-quirk"] == 5 and wget.verdict == "valid"


@needs_corpus
def test_corpus_trunc_names_the_real_fault() -> None:
    """example-trunc.warc: Content-Length 973, but 975 block bytes precede CRLF CRLF."""
    report = scan_warc(CORPUS / "warcio/example-trunc.warc")
    p = only(report, "content-length-mismatch")
    assert "offset 2560" in p.message and "offset 2566" in p.message
    bad = next(r for r in report.records if r.offset == 1197)
    assert bad.type == "response" and bad.digest_status == "fail" and not bad.ok
    assert [r.ok for r in report.records] == [True, True, False, True]


# ----------------------------------------------------------------------------- generated


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_generated_sample_is_valid(compress: bool) -> None:
    data = join(sample_records(), compress)
    report = scan_bytes(data)
    assert report.verdict == "valid", report.problems
    assert report.problems == ()
    assert report.compression == ("gzip" if compress else "none")
    assert [r.type for r in report.records] == ["warcinfo", "request", "response", "resource"]
    assert [r.digest_status for r in report.records] == ["pass"] * 4
    assert report.warc_versions == {"WARC/1.1": 4}
    resp = report.records[2]
    assert resp.payload_sha256 == "sha256:" + hashlib.sha256(HTTP_BODY).hexdigest()
    assert resp.block_sha256 == "sha256:" + hashlib.sha256(HTTP_RESPONSE).hexdigest()
    assert report.records[0].payload_sha256 is None  # warcinfo: no payload meant
    assert sum(r.length for r in report.records) == len(data)


def test_sha1_base32_and_sha256_hex_both_pass() -> None:
    data = join([record(block=b"a", algo="sha1", enc="base32", payload=b"a"),
                 record(block=b"b", algo="sha256", enc="base16", payload=b"b")], True)
    report = scan_bytes(data)
    assert report.verdict == "valid"
    assert [r.block_digest_status for r in report.records] == ["pass", "pass"]
    assert [r.payload_digest_status for r in report.records] == ["pass", "pass"]
    assert report.records[0].block_digest_declared.startswith("sha1:")  # type: ignore[union-attr]
    assert report.records[1].block_digest_declared == digest("sha256", "base16", b"b")


@pytest.mark.parametrize(("algo", "enc"), [
    ("sha256", "base64"), ("sha512", "base64url"), ("md5", "base16"), ("sha1", "base16"),
    ("sha3_256", "base32"), ("blake2b", "base16")])
def test_any_hashlib_algorithm_in_any_rfc4648_encoding(algo: str, enc: str) -> None:
    report = scan_bytes(record(block=b"x" * 100, algo=algo, enc=enc, payload=b"x" * 100))
    assert report.records[0].digest_status == "pass", report.problems


def test_digest_labels_are_case_and_hyphen_insensitive() -> None:
    block = b"data"
    label = digest("sha256", "base16", block).replace("sha256", "SHA-256")
    report = scan_bytes(record(block=block, block_digest=label))
    assert report.records[0].block_digest_status == "pass"


def test_unknown_algorithm_is_unverified_with_offset() -> None:
    first = record(block=b"one")
    second = record(block=b"two", block_digest="whirlpool9:ABCDEF", payload_digest=None)
    report = scan_bytes(first + second)
    rec = report.records[1]
    assert rec.digest_status == "unverified" and rec.block_digest_status == "unverified"
    p = only(report, "digest-unverified")
    assert p.offset == len(first) and p.severity == "warning"
    assert "whirlpool9" in p.message and "not verified" in p.message
    assert report.verdict == "valid"  # unverified is said, not failed


def test_flipped_block_digest_fails_at_the_record_offset() -> None:
    recs = sample_records()
    good = recs[3]
    i = good.index(b"WARC-Block-Digest: sha256:") + len(b"WARC-Block-Digest: sha256:")
    flipped = good[:i] + (b"0" if good[i:i + 1] != b"0" else b"1") + good[i + 1:]
    recs[3] = flipped
    data = join(recs, True)
    report = scan_bytes(data)
    assert report.verdict == "partial"
    p = only(report, "block-digest-mismatch")
    assert p.offset == sum(len(gz(r)) for r in recs[:3])
    assert p.message.startswith(f"offset {p.offset}: block digest 'sha256:")
    computed = hashlib.sha256(b"plain text resource\n").hexdigest()
    assert f"does not match the record (computed sha256:{computed})" in p.message
    assert report.records[3].digest_status == "fail"
    assert report.records[3].payload_digest_status == "pass"  # only the block claim is wrong


def test_a_changed_payload_byte_fails_both_digests() -> None:
    raw = response()
    tampered = raw.replace(b"hello</html>", b"jello</html>")
    report = scan_bytes(record(block=b"first") + tampered)
    assert report.verdict == "partial"
    assert codes(report)["block-digest-mismatch"] == 1
    assert codes(report)["payload-digest-mismatch"] == 1
    assert report.records[0].ok and not report.records[1].ok


def test_content_length_too_small_is_reported_and_the_next_record_recovered() -> None:
    first = record(block=b"first")
    bad = record(block=b"0123456789", clen=5)
    last = record(block=b"last")
    report = scan_bytes(first + bad + last)
    assert report.verdict == "partial"
    p = only(report, "content-length-mismatch")
    assert p.offset == len(first)
    block_end = len(first) + bad.index(b"0123456789") + 5
    assert f"not followed by CRLF CRLF at offset {block_end}" in p.message
    assert f"at offset {len(first) + len(bad)}" in p.message  # where the next record starts
    assert [r.ok for r in report.records] == [True, False, True]
    assert report.records[2].offset == len(first) + len(bad)


def test_content_length_too_large_plain_names_the_embedded_record() -> None:
    first = record(block=b"first")
    bad = record(block=b"0123456789", clen=40)
    report = scan_bytes(first + bad + record(block=b"last") + record(block=b"more"))
    p = only(report, "content-length-mismatch")
    assert p.offset == len(first)
    assert "record header starts inside the block" in p.message
    assert report.verdict == "partial"


def test_content_length_too_large_in_a_gzip_member() -> None:
    recs = [record(block=b"first"), record(block=b"0123456789", clen=15), record(block=b"x")]
    report = scan_bytes(join(recs, True))
    p = only(report, "content-length-mismatch")
    assert p.offset == len(gz(recs[0]))
    assert "gzip member ends after 14 block bytes" in p.message  # 10 + the CRLF CRLF
    assert [r.ok for r in report.records] == [True, False, True]


def test_truncated_last_gzip_member() -> None:
    recs = sample_records()
    data = join(recs, True)
    last = sum(len(gz(r)) for r in recs[:3])
    report = scan_bytes(data[:-10])
    assert report.verdict == "partial"
    p = only(report, "gzip-truncated")
    assert p.offset == last and "truncated" in p.message
    assert [r.ok for r in report.records] == [True, True, True, False]
    assert report.records[3].offset == last


def test_gzip_member_cut_inside_its_header() -> None:
    recs = sample_records()
    data = join(recs, True)
    cut = sum(len(gz(r)) for r in recs[:2]) + 5
    report = scan_bytes(data[:cut])
    assert report.verdict == "partial"
    assert only(report, "gzip-truncated").offset == cut - 5
    assert len(report.records) == 2


def test_corrupt_gzip_member_crc() -> None:
    recs = sample_records()
    members = [gz(r) for r in recs]
    crc_at = len(members[1]) - 8
    members[1] = members[1][:crc_at] + bytes([members[1][crc_at] ^ 0xFF]) + members[1][crc_at + 1:]
    report = scan_bytes(b"".join(members))
    p = only(report, "gzip-corrupt")
    assert p.offset == len(members[0])
    assert [r.ok for r in report.records] == [True, False, True, True]
    assert report.verdict == "partial"


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_garbage_between_records(compress: bool) -> None:
    recs = sample_records()
    junk = b"JUNK JUNK JUNK\n"
    head = join(recs[:2], compress)
    data = head + junk + join(recs[2:], compress)
    report = scan_bytes(data)
    assert report.verdict == "partial"
    p = only(report, "garbage")
    assert p.offset == len(head) and f"{len(junk)} bytes" in p.message
    assert len(report.records) == 4 and all(r.ok for r in report.records)
    assert report.records[2].offset == len(head) + len(junk)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_garbage_at_the_start_is_refused(compress: bool) -> None:
    junk = b"\x00\x01 not a warc \n" if not compress else b"PK\x03\x04 zip-ish"
    report = scan_bytes(junk + join(sample_records(), compress))
    assert report.verdict == "refused"
    assert only(report, "garbage").offset == 0


def test_not_a_warc_at_all() -> None:
    report = scan_bytes(b"<!doctype html><html><body>hello</body></html>\n" * 50)
    assert (report.format, report.verdict) == ("unknown", "refused")
    assert only(report, "garbage").offset == 0 and report.records == ()


def test_trailing_garbage_after_the_last_record() -> None:
    data = join(sample_records(), True)
    report = scan_bytes(data + b"\x00" * 100)
    assert report.verdict == "partial"
    assert only(report, "garbage").offset == len(data)


def test_extra_blank_lines_are_a_warning() -> None:
    a, b = record(block=b"a"), record(block=b"b")
    report = scan_bytes(a + b"\r\n\r\n" + b)
    assert report.verdict == "valid"
    assert only(report, "extra-blank-lines").severity == "warning"


def test_duplicate_record_ids_are_flagged() -> None:
    rid = "<urn:uuid:11111111-1111-4111-8111-111111111111>"
    a = record(block=b"a", rid=rid)
    b = record(block=b"b")
    c = record(block=b"c", rid=rid)
    report = scan_bytes(a + b + c)
    p = only(report, "duplicate-record-id")
    assert p.offset == len(a) + len(b)
    assert "record at offset 0" in p.message and "different record" in p.message
    assert p in report.records[2].problems
    assert report.verdict == "valid"  # flagged; bytes and digests intact (see docstring)


def test_whole_file_gzip_is_refused() -> None:
    data = gz(b"".join(sample_records()))
    report = scan_bytes(data)
    assert report.verdict == "refused"
    assert report.problems[0].code == "whole-file-gzip" and report.problems[0].offset == 0
    assert len(report.records) == 4 and not any(r.ok for r in report.records)
    assert all(r.length == 0 for r in report.records[1:])


def test_some_records_sharing_a_member_make_the_file_partial() -> None:
    recs = sample_records()
    data = gz(recs[0]) + gz(recs[1] + recs[2]) + gz(recs[3])
    report = scan_bytes(data)
    assert report.verdict == "partial"
    assert [r.ok for r in report.records] == [True, False, False, True]
    assert {p.offset for p in report.errors} == {len(gz(recs[0]))}


def test_record_split_over_two_members() -> None:
    rec = record(block=b"A" * 300)
    cut = rec.index(b"AAAA") + 100
    data = gz(record(block=b"first")) + gz(rec[:cut]) + gz(rec[cut:])
    report = scan_bytes(data)
    p = only(report, "split-record")
    assert p.offset == len(gz(record(block=b"first")))
    assert report.records[1].digest_status == "pass"  # bytes all there, chunking wrong
    assert report.verdict == "partial"


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_arc_given_as_warc(compress: bool) -> None:
    arc = (b"filedesc://x.arc 0.0.0.0 20140101000000 text/plain 76\n"
           b"1 0 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n\n")
    report = scan_bytes(gz(arc) if compress else arc)
    assert report.format == "arc" and report.verdict == "refused"
    assert only(report, "arc-format").offset == 0
    assert report.size == len(gz(arc) if compress else arc)


def test_empty_and_unsupported_compression_are_refused() -> None:
    assert scan_bytes(b"").verdict == "refused"
    assert codes(scan_bytes(b""))["empty-file"] == 1
    zst = scan_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 40)
    assert zst.verdict == "refused" and zst.compression == "zstd"


def test_missing_mandatory_field_and_bad_content_length() -> None:
    no_date = record(block=b"x").replace(b"WARC-Date: 2026-01-01T00:00:00Z\r\n", b"")
    report = scan_bytes(record(block=b"ok") + no_date)
    assert only(report, "missing-field").offset == len(record(block=b"ok"))
    bad_len = record(block=b"x").replace(b"Content-Length: 1", b"Content-Length: -1")
    report = scan_bytes(record(block=b"ok") + bad_len + record(block=b"z"))
    assert only(report, "bad-content-length").offset == len(record(block=b"ok"))
    assert report.verdict == "partial"


def test_revisit_payload_digest_is_not_checked_and_says_so() -> None:
    headers = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    rev = record("revisit", headers, ctype="application/http; msgtype=response",
                 payload_digest=digest("sha1", "base32", b"the original body"),
                 extra=[("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/"
                                         "identical-payload-digest")])
    r = scan_bytes(rev).records[0]
    assert r.payload_digest_status == "not-checked" and r.block_digest_status == "pass"
    assert r.digest_status == "pass" and r.payload_sha256 is None


def test_target_uri_and_filename_are_only_data(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    evil = "../../../../../tmp/owned"
    info = record("warcinfo", b"software: x\r\n", uri=None, ctype="application/warc-fields",
                  extra=[("WARC-Filename", "../../evil.warc.gz")])
    data = info + record(block=b"x", uri=evil)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "in.warc"
    path.write_bytes(data)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    report = scan_warc(path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert report.records[1].target_uri == evil and report.verdict == "valid"


def test_our_own_writer_scans_valid(tmp_path: Path) -> None:
    out = io.BytesIO()
    w = WarcWriter(out)
    date = "2026-01-01T00:00:00.000000Z"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhi"
    req = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    written = [
        w.write("warcinfo", [], Block.of(warc_fields([("software", "archive")])),
                record_id="<urn:uuid:0>", date=date, content_type="application/warc-fields",
                compute_payload_digest=False),
        w.write("request", [("WARC-Target-URI", "http://example.com/")],
                Block.of(req, payload_offset=len(req)), record_id="<urn:uuid:1>", date=date,
                content_type="application/http; msgtype=request"),
        w.write("response", [("WARC-Target-URI", "http://example.com/")],
                Block.of(resp, payload_offset=resp.index(b"\r\n\r\n") + 4),
                record_id="<urn:uuid:2>", date=date,
                content_type="application/http; msgtype=response"),
        w.write("resource", [("WARC-Target-URI", "urn:x")], Block.of(b"doc", 0),
                record_id="<urn:uuid:3>", date=date, content_type="text/plain"),
    ]
    path = tmp_path / "ours.warc.gz"
    path.write_bytes(out.getvalue())
    report = scan_warc(path)
    assert report.verdict == "valid" and report.problems == ()
    assert report.warc_versions == {"WARC/1.1": 4}
    for ours, rec in zip(written, report.records, strict=True):
        assert (rec.offset, rec.length, rec.record_id) == (ours.offset, ours.length,
                                                           ours.record_id)
        assert rec.block_sha256 == ours.block_digest
        assert rec.block_digest_status == "pass"
        if ours.payload_digest is not None:
            assert rec.payload_digest_status == "pass"
            assert rec.payload_sha256 == ours.payload_digest


def gzip_member_with_header_fields(data: bytes) -> bytes:
    """A gzip member using FEXTRA, FNAME, FCOMMENT and FHCRC (RFC 1952 allows all four)."""
    header = b"\x1f\x8b\x08" + bytes([4 | 8 | 16 | 2]) + b"\x00\x00\x00\x00\x00\xff"
    header += (4).to_bytes(2, "little") + b"ab\x01\x02" + b"name.warc\x00" + b"note\x00"
    header += (zlib.crc32(header) & 0xFFFF).to_bytes(2, "little")
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    trailer = zlib.crc32(data).to_bytes(4, "little") + len(data).to_bytes(4, "little")
    return header + body + trailer


def test_gzip_header_fields_are_parsed() -> None:
    recs = sample_records()
    data = gz(recs[0]) + gzip_member_with_header_fields(recs[1]) + gz(recs[2])
    report = scan_bytes(data)
    assert report.verdict == "valid", report.problems
    assert [r.length for r in report.records] == [len(gz(recs[0])),
                                                   len(gzip_member_with_header_fields(recs[1])),
                                                   len(gz(recs[2]))]


def test_large_gzip_members_keep_exact_offsets() -> None:
    """Members far larger than one read: ISA-L reads ahead and hands bytes back at the end
    of the deflate stream; the next member must still start at the right offset."""
    noisy = os.urandom(1 << 17) + b"z" * (1 << 18) + os.urandom(50_000)
    recs = [record(block=noisy, algo="sha256", enc="base16", payload=noisy),
            record(block=b"small"), record(block=noisy[::-1])]
    data = join(recs, True)
    report = scan_bytes(data)
    assert report.verdict == "valid", report.problems
    assert [r.length for r in report.records] == [len(gz(r)) for r in recs]


def test_missing_trailer_at_a_gzip_member_end_is_a_warning() -> None:
    """Old IA writers omit CRLF CRLF in per-record gzip (pywb corpus has one)."""
    recs = [record(block=b"first", trailer=b""), record(block=b"second")]
    report = scan_bytes(join(recs, True))
    assert report.verdict == "valid"
    assert only(report, "missing-trailer").offset == 0
    assert scan_bytes(b"".join(recs)).verdict == "partial"  # uncompressed: nothing delimits


def test_line_end_only_trailer_is_a_warning() -> None:
    recs = [record(block=b"first", trailer=b"\r\r\n\r\r\n"), record(block=b"second")]
    report = scan_bytes(b"".join(recs))
    assert report.verdict == "valid"
    assert only(report, "odd-trailer").offset == 0


def test_stream_variant_needs_no_seek() -> None:
    data = join(sample_records(), True)

    class ReadOnly(io.RawIOBase):
        def __init__(self) -> None:
            self._f = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            chunk = self._f.read(min(len(b), 7))  # tiny reads: boundaries everywhere
            b[: len(chunk)] = chunk
            return len(chunk)

    streamed = scan_stream(ReadOnly())  # type: ignore[arg-type]
    assert streamed == scan_bytes(data)


def test_large_block_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    body = os.urandom(1 << 16) * 128  # 8 MiB
    path = tmp_path / "big.warc"
    path.write_bytes(record(block=body, algo="sha256", enc="base16", payload=body))
    tracemalloc.start()
    try:
        report = scan_warc(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.verdict == "valid"
    assert peak < 2 * 1024 * 1024, peak


def test_raise_for_verdict_and_bad_path(tmp_path: Path) -> None:
    data = gz(b"".join(sample_records()))
    report = scan_bytes(data)
    with pytest.raises(WarcFormatError, match="whole-file gzip") as info:
        report.raise_for_verdict()
    assert info.value.context["offset"] == 0
    scan_bytes(join(sample_records(), True)).raise_for_verdict()
    partial = scan_bytes(join(sample_records(), True) + b"junk")
    partial.raise_for_verdict(allow_partial=True)
    with pytest.raises(WarcFormatError):
        partial.raise_for_verdict()
    with pytest.raises(ConfigError):
        scan_warc(tmp_path / "missing.warc")


# ----------------------------------------------------------------------------- properties

PLAIN = join(sample_records(), False)
GZIP = join(sample_records(), True)


def boundaries(compress: bool) -> set[int]:
    out, pos = set(), 0
    for r in sample_records():
        pos += len(gz(r) if compress else r)
        out.add(pos)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compress=st.booleans(), data=st.data())
def test_random_truncation_never_crashes_nor_passes_as_valid(compress: bool,
                                                            data: st.DataObject) -> None:
    full = GZIP if compress else PLAIN
    cut = data.draw(st.integers(min_value=0, max_value=len(full)), label="cut")
    report = scan_bytes(full[:cut])
    assert report.size == cut
    assert_messages_well_formed(report)
    if report.verdict == "valid":
        assert cut in boundaries(compress), (cut, report.records)
    elif cut in boundaries(compress):
        pytest.fail(f"cut at a record boundary ({cut}) should be valid: {report.problems}")


@settings(max_examples=200, deadline=None)
@given(compress=st.booleans(), data=st.data())
def test_random_byte_damage_never_crashes(compress: bool, data: st.DataObject) -> None:
    full = bytearray(GZIP if compress else PLAIN)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        i = data.draw(st.integers(0, len(full) - 1))
        full[i] = data.draw(st.integers(0, 255))
    report = scan_bytes(bytes(full))
    assert_messages_well_formed(report)
    assert report.size == len(full)
