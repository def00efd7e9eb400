"""The scanner: one forward pass over a WARC's records, checking framing, headers and
digests and collecting every problem with its offset (see :mod:`archive.warc.scan`).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from archive.warc.scan.block import BlockPass, check_trailer
from archive.warc.scan.cursor import (
    CHUNK,
    GZIP_MAGIC,
    HTTP_TYPES,
    KNOWN_VERSIONS,
    MAX_HEADER,
    MAX_PROBLEMS,
    ODD_EOL_RE,
    OTHER_MAGIC,
    PAYLOAD_TYPES,
    VERSION_RE,
    Cursor,
    GzipCursor,
    PlainCursor,
    Raw,
    RecordState,
)
from archive.warc.scan.digests import DeclaredDigest, check_declared, combine, show
from archive.warc.scan.results import (
    Compression,
    Format,
    ScannedRecord,
    ScanProblem,
    ScanReport,
    Severity,
    Verdict,
)

# --------------------------------------------------------------------------- the scan


class Scanner:
    """One forward pass over a WARC stream; :meth:`run` returns the report."""

    def __init__(self, stream: BinaryIO, path: Path | None) -> None:
        self.path = path
        self.raw = Raw(stream)
        self.problems: list[ScanProblem] = []
        self.errors = 0
        self.omitted = 0
        self.records: list[ScannedRecord] = []
        self.ids: dict[str, tuple[int, bytes, str | None]] = {}
        self.versions: Counter[str] = Counter()
        self.format: Format = "warc"
        self.compression: Compression = "none"
        self.refused = False
        self.cur: Cursor = PlainCursor(self.raw, b"")
        self.seen_record = False
        self.shared_members: set[int] = set()  # gzip members already reported as shared

    # ---- problems
    def _add(self, offset: int, code: str, text: str, severity: Severity = "error",
             rec: RecordState | None = None, listed: bool = True) -> None:
        p = ScanProblem(offset, f"offset {offset}: {text}", code, severity)
        if severity == "error":
            self.errors += 1
        if rec is not None:
            rec.problems.append(p)
        if not listed:
            return
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(p)
        else:
            self.omitted += 1

    def _take(self, rec: RecordState | None) -> None:
        """Route the cursor's transport findings to the record being read, or the file."""
        for off, code, text in self.cur.file_problems:
            self._add(off, code, text)
            if not self.seen_record:
                self.refused = True
        self.cur.file_problems.clear()
        for off, code, text in self.cur.data_problems:
            self._add(off, code, text, rec=rec)
        self.cur.data_problems.clear()

    # ---- driver
    def run(self) -> ScanReport:
        head = self.raw.read(8)
        if not head:
            self.format = "unknown"
            self._add(0, "empty-file", "the file is empty")
            return self._report()
        if head.startswith(GZIP_MAGIC):
            self.compression = "gzip"
            self.cur = GzipCursor(self.raw, head)
        else:
            for magic, name in OTHER_MAGIC.items():
                if head.startswith(magic):
                    self.compression = name
                    self.format = "unknown"
                    self._add(0, "unsupported-compression",
                              f"the file is {name}-compressed; only gzip (one member per "
                              "record) or uncompressed WARCs are read")
                    self.raw.drain()
                    return self._report()
            self.cur = PlainCursor(self.raw, head)
        cur = self.cur
        if cur.next_segment():
            self._take(None)
            if cur.peek(11) == b"filedesc://":
                self.format = "arc"
                self._add(0, "arc-format",
                          "this is an ARC file (first record 'filedesc://...'), not a WARC; "
                          "ARC files are not imported as WARC (convert them first)")
                self.raw.drain()
                return self._report()
        else:
            self._take(None)
            self.raw.drain()
            return self._report()
        self._loop()
        self.raw.drain()
        return self._report()

    def _loop(self) -> None:
        cur = self.cur
        while True:
            if cur.at_segment_end():
                self._take(None)
                if not cur.next_segment():
                    self._take(None)
                    return
                self._take(None)
                if cur.gzip and cur.at_segment_end() and cur.seg_state == "ok":
                    self._add(cur.seg_offset, "empty-gzip-member",
                              "gzip member holds no data", "warning")
                continue
            head = cur.peek(5)
            if head == b"WARC/":
                self._record()
                self.seen_record = True
                continue
            off, where = cur.file_offset(), cur.where()
            blank = self._skip_blank_lines()
            if blank:
                self._add(off, "extra-blank-lines",
                          f"{blank} bytes of extra blank lines between records{where}",
                          "warning")
                continue
            if len(head) < 5 and b"WARC/".startswith(head):
                # the file (or member) ends inside the first bytes of a record header
                cur.read(len(head))
                self._add(off, "truncated",
                          f"the {'gzip member' if cur.gzip else 'file'} ends inside a record "
                          f"header{where}")
                self.seen_record = True
                continue
            preview = cur.peek(16)
            skipped, found = cur.skip_to_record_start()
            nxt = f"; next record at offset {cur.file_offset()}" if found else ""
            nxt += cur.where() if found and cur.gzip else ""
            if not self.seen_record:
                self.refused = True
                self._add(off, "garbage",
                          f"the file does not start with a WARC record: {skipped} bytes of "
                          f"garbage (starting {show(preview, 60)}){where}{nxt}")
            else:
                self._add(off, "garbage",
                          f"{skipped} bytes of garbage between records (starting "
                          f"{show(preview, 60)}){where}{nxt}")

    def _skip_blank_lines(self) -> int:
        n = 0
        while (b := self.cur.peek(1)) and b in b"\r\n":
            self.cur.read(1)
            n += 1
        return n

    # ---- one record
    def _cross(self, rec: RecordState) -> bool:
        """At a segment end inside a record: may the record continue in the next member?

        Only when the member ended cleanly and the next one does not start a record:
        that is a record split over several members (wrong chunking). The record is
        flagged either way; its bytes are still read so that digests can be reported.
        """
        cur = self.cur
        self._take(rec)
        if not cur.gzip:
            rec.stop = "eof"
            return False
        if cur.seg_state != "ok":
            rec.stop = cur.seg_state
            return False
        assert isinstance(cur, GzipCursor)
        rec.closed_at = cur.member_end
        if not cur.next_segment():
            self._take(None)
            rec.stop = "eof"
            return False
        self._take(None)
        if cur.peek(5) == b"WARC/":
            rec.stop = "next-record"
            return False
        self._take(rec)
        rec.closed_at = None
        if not rec.split:
            rec.split = True
            self._add(rec.offset, "split-record",
                      f"record continues past the end of its gzip member into the member at "
                      f"offset {cur.seg_offset}: each record must be exactly one gzip member",
                      rec=rec)
        return True

    def _read(self, n: int, rec: RecordState) -> bytes:
        while True:
            data = self.cur.read(n)
            if data or not self._cross(rec):
                return data

    def _read_header(self, rec: RecordState) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.cur.readline(MAX_HEADER - size + 1)
            if not line:
                if self._cross(rec):
                    continue
                what = ("its gzip member ends" if rec.stop == "next-record" else
                        "the gzip member is damaged" if rec.stop in ("truncated", "corrupt") else
                        "the file ends")
                self._add(rec.offset, "truncated",
                          f"{what} inside the record header, after {size} bytes", rec=rec)
                return None
            parts.append(line)
            size += len(line)
            if size > MAX_HEADER:
                self._add(rec.offset, "header-too-large",
                          f"record header is longer than {MAX_HEADER} bytes", rec=rec)
                return None
            if line.endswith(b"\n") and not line.strip(b" \t\r\n") and len(parts) > 1:
                return b"".join(parts)

    def _record(self) -> None:
        cur = self.cur
        rec = RecordState(cur.file_offset())
        start_u = cur.useg
        where = cur.where()
        if cur.gzip and not cur.aligned():
            rec.shared = True
            self._add(rec.offset, "non-chunked-gzip",
                      f"record starts inside a gzip member{where}: several records share one "
                      "gzip member (non-chunked gzip)", rec=rec,
                      listed=rec.offset not in self.shared_members)
            self.shared_members.add(rec.offset)
        raw_header = self._read_header(rec)
        if raw_header is None:
            return
        vline, _, rest = raw_header.partition(b"\n")
        vline += b"\n"
        m = VERSION_RE.fullmatch(vline)
        version = vline.rstrip(b"\r\n").decode("latin-1")  # WARC/x.y once matched
        if m is None:
            self._add(rec.offset, "bad-header",
                      f"record does not start with a WARC/<major>.<minor> line{where} "
                      f"(found {show(vline.rstrip())})", rec=rec)
            self._resync(rec, "after the unreadable header")
            return
        self.versions[version] += 1
        if version not in KNOWN_VERSIONS:
            self._add(rec.offset, "unusual-version",
                      f"WARC version {version} is neither WARC/1.0 nor WARC/1.1", "warning",
                      rec=rec)
        if ODD_EOL_RE.search(raw_header):
            self._add(rec.offset, "header-line-ends",
                      f"record header lines do not end in a single CRLF{where}", "warning",
                      rec=rec)
        parser = StatusAndHeadersParser([], verify=False)
        headers = parser.parse(io.BytesIO(rest), full_statusline=vline.decode("latin-1"))
        self._read_body(rec, headers, raw_header, version, start_u)

    def _one(self, headers: StatusAndHeaders, name: str, rec: RecordState) -> str | None:
        values = [v for k, v in headers.headers if k.lower() == name.lower()]
        if len(set(values)) > 1:
            self._add(rec.offset, "conflicting-header",
                      f"{name} appears {len(values)} times with different values", rec=rec)
        return values[0] if values else None

    def _read_body(self, rec: RecordState, headers: StatusAndHeaders, header_bytes: bytes,
                   version: str, start_u: int) -> None:
        rtype = self._one(headers, "WARC-Type", rec)
        rid = self._one(headers, "WARC-Record-ID", rec)
        date = self._one(headers, "WARC-Date", rec)
        ctype = self._one(headers, "Content-Type", rec)
        target = self._one(headers, "WARC-Target-URI", rec)
        clen_text = self._one(headers, "Content-Length", rec)
        bd_text = self._one(headers, "WARC-Block-Digest", rec)
        pd_text = self._one(headers, "WARC-Payload-Digest", rec)
        segmented = self._one(headers, "WARC-Segment-Number", rec) is not None
        for name, value in (("WARC-Type", rtype), ("WARC-Record-ID", rid),
                            ("WARC-Date", date), ("Content-Length", clen_text)):
            if value is None:
                self._add(rec.offset, "missing-field",
                          f"record lacks the mandatory {name} field", rec=rec)
        if target is not None and (target.startswith("<") or re.search(r"\s", target)):
            self._add(rec.offset, "target-uri-quirk",
                      f"WARC-Target-URI {show(target)} is not a plain URI (kept verbatim, "
                      "used only as data)", "warning", rec=rec)

        clen: int | None = None
        if clen_text is not None:
            if re.fullmatch(r"[0-9]{1,18}", clen_text.strip()):
                clen = int(clen_text.strip())
            else:
                self._add(rec.offset, "bad-content-length",
                          f"Content-Length {show(clen_text)} is not a byte count", rec=rec)

        bd = DeclaredDigest("block", bd_text) if bd_text else None
        pd = DeclaredDigest("payload", pd_text) if pd_text else None
        payload_checkable = rtype not in ("revisit", "continuation") and not segmented
        for d in (bd, pd):
            if d is not None and d.problem is not None and (d is bd or payload_checkable):
                code, severity, text = d.problem
                self._add(rec.offset, code, text, severity, rec=rec)

        block_sha: str | None = None
        payload_sha: str | None = None
        incomplete = True
        if clen is not None:
            is_http = (rtype in HTTP_TYPES and (
                (ctype or "").strip().lower().startswith("application/http")
                or (ctype is None and (target or "").strip("<> ").lower().startswith(
                    ("http:", "https:")))))
            bp = BlockPass(is_http, bd, pd)
            while bp.got < clen:
                chunk = self._read(min(CHUNK, clen - bp.got), rec)
                if not chunk:
                    break
                bp.feed(chunk)
            got = bp.got
            incomplete = got < clen
            block_sha = bp.block_sha256()
            if rtype in PAYLOAD_TYPES:
                payload_sha = bp.payload_sha256()
            if incomplete:
                self._short_block(rec, clen, got)
            else:
                problem = check_trailer(self.cur, rec, lambda: self._cross(rec), clen,
                                        bp.embedded)
                if problem is not None:
                    self._add(rec.offset, *problem, rec=rec)
        else:
            self._resync(rec, "because the block length is unknown")

        incomplete_note = " (block incomplete)" if incomplete and clen is not None else ""
        bstat, pstat, found = check_declared(bd, pd, length_known=clen is not None,
                                             payload_checkable=payload_checkable,
                                             note=incomplete_note)
        for code, text in found:
            self._add(rec.offset, code, text, rec=rec)

        if rid is not None:
            self._check_duplicate(rec, rid, hashlib.sha256(header_bytes).digest(), block_sha)
        length = self._finish(rec, start_u)
        self.records.append(ScannedRecord(
            offset=rec.offset, length=length, record_id=rid, type=rtype, target_uri=target,
            date=date, content_type=ctype, content_length=clen,
            block_digest_declared=bd_text, payload_digest_declared=pd_text,
            block_sha256=block_sha, payload_sha256=payload_sha,
            digest_status=combine(bstat, pstat), problems=tuple(rec.problems),
            block_digest_status=bstat, payload_digest_status=pstat, warc_version=version))

    def _check_duplicate(self, rec: RecordState, rid: str, header_hash: bytes,
                         block_sha: str | None) -> None:
        """Flag a reused WARC-Record-ID (FAULTS 35) as a warning.

        Real writers do this (wget 1.14 gives two resource records one id; py-wacz repeats
        its warcinfo), and the bytes of both records are intact, so it does not make the
        file partial: custody keys records by (file hash, offset), never by record id.
        What it breaks is WARC-Refers-To / WARC-Concurrent-To links, hence the flag.
        """
        seen = self.ids.get(rid)
        if seen is None:
            self.ids[rid] = (rec.offset, header_hash, block_sha)
            return
        same = seen[1] == header_hash and seen[2] == block_sha
        self._add(rec.offset, "duplicate-record-id",
                  f"WARC-Record-ID {show(rid)} is also the id of the record at offset "
                  f"{seen[0]} ("
                  + ("an identical copy" if same else
                     "a different record: links to this id are ambiguous") + ")",
                  "warning", rec=rec)

    def _short_block(self, rec: RecordState, clen: int, got: int) -> None:
        if rec.stop == "next-record":
            self._add(rec.offset, "content-length-mismatch",
                      f"Content-Length {clen} is larger than the record: its gzip member ends "
                      f"after {got} block bytes and the next member starts a new record",
                      rec=rec)
        elif rec.stop == "corrupt":
            self._add(rec.offset, "truncated",
                      f"block unreadable after {got} of its {clen} bytes (corrupt gzip)",
                      rec=rec)
        else:
            self._add(rec.offset, "truncated",
                      f"truncated record: the file ends after {got} of the {clen} block bytes "
                      "its Content-Length declares", rec=rec)

    def _resync(self, rec: RecordState, why: str) -> None:
        skipped, found = self.cur.skip_to_record_start()
        if skipped:
            nxt = f" up to the next record at offset {self.cur.file_offset()}" if found else ""
            self._add(rec.offset, "skipped",
                      f"{skipped} bytes skipped {why}{nxt}", "warning", rec=rec)

    def _finish(self, rec: RecordState, start_u: int) -> int:
        """Check the record ends its gzip member; returns its length in the file."""
        cur = self.cur
        if not cur.gzip:
            return cur.file_offset() - rec.offset
        if rec.closed_at is not None:  # ended at a member end; the cursor is past it
            return 0 if rec.shared or start_u != 0 else rec.closed_at - rec.offset
        blank = self._skip_blank_lines()
        if blank:
            self._add(rec.offset, "extra-blank-lines",
                      f"{blank} bytes of extra blank lines after the record{cur.where()}",
                      "warning", rec=rec)
        ends_member = cur.at_segment_end()
        self._take(rec)
        if not ends_member:
            if not (rec.split or rec.shared) and cur.peek(5) == b"WARC/":
                self._add(rec.offset, "non-chunked-gzip",
                          "the gzip member holding this record continues with another record "
                          f"{cur.where().strip()}: several records share one gzip member "
                          "(non-chunked gzip), so they cannot be read by offset", rec=rec)
                self.shared_members.add(rec.offset)
            rec.shared = True
        if rec.shared or start_u != 0:
            return 0
        gz = cur
        assert isinstance(gz, GzipCursor)
        end = gz.member_end if gz.seg_state == "ok" else self.raw.pos
        return end - rec.offset

    def _report(self) -> ScanReport:
        cur = self.cur
        if (isinstance(cur, GzipCursor) and cur.members == 1 and len(self.records) > 1
                and 0 in self.shared_members):
            self.errors += 1
            self.problems.insert(0, ScanProblem(
                0, f"offset 0: whole-file gzip: the entire file is one gzip member holding "
                f"{len(self.records)} records, not one member per record (non-chunked gzip); "
                "no record but the first can be read by offset", "whole-file-gzip"))
        if self.omitted:
            self.problems.append(ScanProblem(
                self.raw.pos, f"offset {self.raw.pos}: {self.omitted} further problems not "
                "listed", "too-many-problems", "warning"))
        good = sum(1 for r in self.records if r.ok)
        if self.format == "warc" and self.refused and not self.records:
            self.format = "unknown"  # garbage from the start and no record anywhere
        verdict: Verdict
        if self.format != "warc" or self.refused or good == 0:
            verdict = "refused"
            if self.format == "warc" and not self.records and not self.errors:
                self._add(0, "no-records", "no WARC record found")
        elif self.errors:
            verdict = "partial"
        else:
            verdict = "valid"
        return ScanReport(
            path=self.path, sha256=self.raw.sha256, size=self.raw.pos, format=self.format,
            compression=self.compression, records=tuple(self.records),
            problems=tuple(self.problems), verdict=verdict,
            warc_versions=dict(self.versions), error_count=self.errors)


