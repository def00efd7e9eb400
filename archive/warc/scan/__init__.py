"""Read a foreign WARC file completely and say exactly what is wrong with it, and where.

Importing somebody else's WARC puts it under our custody, so we must never accept a
file we have not read to its last byte. warcio is a forgiving *reader* (it skips blank
lines, tolerates wrong lengths with a warning, and reports problems without offsets);
here every check is made by us, in one forward pass, so that each problem carries the
byte offset an operator needs to look at the file:

* compression from the magic bytes: one gzip member per record (the standard), a
  whole-file gzip (one member holding many records, FAULTS 34), or none; each gzip
  member is decompressed to its end and its CRC checked, so a truncated last member is
  found (FAULTS 32);
* every record's ``Content-Length`` against the bytes present and the ``CRLF CRLF``
  that must follow the block (FAULTS 33); garbage between records (FAULTS 34);
* ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` for any algorithm hashlib knows,
  in base32, base16 or base64; an unknown algorithm is *unverified*, never a pass;
* an ARC file given as a WARC (FAULTS 34) and duplicate ``WARC-Record-ID`` values
  (FAULTS 35).

The scanner is pure: no database, no writes. ``WARC-Target-URI`` and ``WARC-Filename``
are kept as opaque strings and never touch the file system. Memory stays bounded: blocks
are streamed through the hashers in 64 KiB pieces; only headers (at most 1 MiB) are
held. Offsets in a gzip file are those of the gzip member (the only places a reader
can seek to); positions inside a member are given as uncompressed byte counts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from isal import isal_zlib
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from archive.core.hashing import PREFIX
from archive.errors import ConfigError, StorageError, WarcFormatError

__all__ = [
    "Compression",
    "DigestStatus",
    "ScanProblem",
    "ScanReport",
    "ScannedRecord",
    "Verdict",
    "scan_stream",
    "scan_warc",
]

Verdict = Literal["valid", "partial", "refused"]
Format = Literal["warc", "arc", "unknown"]
Compression = Literal["gzip", "none", "bzip2", "xz", "zstd"]
DigestStatus = Literal["pass", "fail", "unverified", "absent"]
# per digest: "not-checked" = declared but by definition not computable from this record
# (revisit payloads, segmented records)
OneDigestStatus = Literal["pass", "fail", "unverified", "absent", "not-checked"]
Severity = Literal["error", "warning"]

_CHUNK = 1 << 16
_MAX_HEADER = 1 << 20  # a WARC header block larger than this is refused, not buffered
_MAX_PROBLEMS = 1000  # report-level list; the verdict still counts every error
_GZIP_MAGIC = b"\x1f\x8b"
# isal's stub declares ``error`` as an instance; at run time it is the IsalError class
_GZIP_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]
_CRLF2 = b"\r\n\r\n"
_KNOWN_VERSIONS = ("WARC/1.0", "WARC/1.1")
_VERSION_RE = re.compile(rb"WARC/([0-9]+)\.([0-9]+)\r*\n")
_ODD_EOL_RE = re.compile(rb"(?<!\r)\n|\r\r+\n")
_RECORD_START_RE = re.compile(rb"\nWARC/[0-9]")
_WARC_START_RE = re.compile(rb"WARC/[0-9]")
_BLANK_LINE_RE = re.compile(rb"\n[ \t\r]*\n")
_HTTP_TYPES = ("response", "request", "revisit")
_PAYLOAD_TYPES = ("response", "request", "resource", "conversion")
_OTHER_MAGIC: dict[bytes, Compression] = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ScanProblem:
    """One finding. ``message`` is one line and starts with ``offset N:``.

    ``code`` is a stable machine-readable reason, so the importer and tests need not
    parse prose. Errors: ``empty-file``, ``unsupported-compression``, ``arc-format``,
    ``garbage``, ``whole-file-gzip``, ``non-chunked-gzip``, ``split-record``,
    ``gzip-truncated``, ``gzip-corrupt``, ``truncated``, ``bad-header``,
    ``header-too-large``, ``missing-field``, ``conflicting-header``,
    ``bad-content-length``, ``content-length-mismatch``, ``block-digest-mismatch``,
    ``payload-digest-mismatch``, ``malformed-digest``, ``no-records``. Warnings (they
    never change the verdict): ``digest-unverified``, ``duplicate-record-id``,
    ``target-uri-quirk``, ``extra-blank-lines``, ``odd-trailer``, ``missing-trailer``,
    ``header-line-ends``, ``unusual-version``, ``empty-gzip-member``, ``skipped``,
    ``too-many-problems``. For a gzip file ``offset`` is the member's offset.
    """

    offset: int
    message: str
    code: str = "error"
    severity: Severity = "error"


@dataclass(frozen=True)
class ScannedRecord:
    """What one record declares, what its bytes hash to, and what is wrong with it.

    ``offset`` is where the record starts in the file (for gzip: its member's offset).
    ``length`` is its bytes in the file (compressed for gzip); 0 when the record does not
    occupy whole gzip members of its own (non-chunked gzip), since then no byte range
    holds it alone. ``block_sha256`` covers the block exactly as stored;
    ``payload_sha256`` is the HTTP entity body (as stored, transfer coding kept) for
    HTTP records and the whole block for resource/conversion records; None for
    warcinfo, metadata and revisit records, whose blocks carry no payload.
    ``digest_status`` sums up ``block_digest_status`` and ``payload_digest_status``;
    ``not-checked`` there means the digest is by definition not computable from this
    record (a revisit's payload lives in another record; a segment's payload spans
    several): the record's status is then that of its block digest, or "unverified"
    when it has none.
    """

    offset: int
    length: int
    record_id: str | None
    type: str | None
    target_uri: str | None
    date: str | None
    content_type: str | None
    content_length: int | None
    block_digest_declared: str | None
    payload_digest_declared: str | None
    block_sha256: str | None
    payload_sha256: str | None
    digest_status: DigestStatus
    problems: tuple[ScanProblem, ...] = ()
    block_digest_status: OneDigestStatus = "absent"
    payload_digest_status: OneDigestStatus = "absent"
    warc_version: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing about this record is an error (warnings allowed)."""
        return not any(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class ScanReport:
    """The whole file: its hash, every record, every problem and the verdict.

    ``refused``: nothing trustworthy could be read (ARC, whole-file gzip, garbage at the
    start, unsupported compression, empty, or no record without errors). ``partial``:
    some records are good, others (or bytes between them) are not. ``valid``: no errors.
    """

    path: Path | None
    sha256: str
    size: int
    format: Format
    compression: Compression
    records: tuple[ScannedRecord, ...]
    problems: tuple[ScanProblem, ...]
    verdict: Verdict
    warc_versions: dict[str, int] = field(default_factory=dict, hash=False)
    error_count: int = 0

    @property
    def errors(self) -> tuple[ScanProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[ScanProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def record_counts(self) -> dict[str, int]:
        """Records per WARC-Type (``None`` types counted as ``"?"``)."""
        return dict(Counter(r.type or "?" for r in self.records))

    @property
    def reason(self) -> str | None:
        """The first error's message: why the file is refused or partial."""
        errs = self.errors
        return errs[0].message if errs else None

    def raise_for_verdict(self, *, allow_partial: bool = False) -> None:
        """Raise :class:`WarcFormatError` unless the verdict is acceptable to the caller."""
        if self.verdict == "valid" or (self.verdict == "partial" and allow_partial):
            return
        first = self.errors[0] if self.errors else None
        where = f"{self.path}: " if self.path is not None else ""
        raise WarcFormatError(
            f"{where}WARC {self.verdict}: {first.message if first else 'no records'}",
            path=self.path, offset=first.offset if first else None, sha256=self.sha256)


# --------------------------------------------------------------------------- digests


class _Hasher(Protocol):
    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def _new_hasher(name: str) -> _Hasher | None:
    """A hashlib object for a WARC digest label (``sha1``, ``SHA-256``, ``sha3-256``...).

    Variable-length algorithms (SHAKE) have no fixed digest to compare: unknown.
    """
    base = name.strip().lower()
    for cand in dict.fromkeys((base, base.replace("-", ""), base.replace("-", "_"))):
        if not cand or cand.startswith("shake"):
            continue
        try:
            h: _Hasher = hashlib.new(cand, usedforsecurity=False)
        except (ValueError, TypeError):
            continue
        return h
    return None


def _decode_digest_value(value: str, size: int) -> list[tuple[str, bytes]]:
    """Every RFC 4648 reading of ``value`` that yields ``size`` bytes.

    The WARC standard names no encoding; base32 (sha1), base16 and base64 (standard or
    URL-safe, padded or not) are all found in the wild. Each candidate must decode to
    the full digest length, so accepting several readings does not weaken the check.
    """
    out: list[tuple[str, bytes]] = []
    s = value.strip()
    if len(s) == 2 * size and re.fullmatch(r"[0-9A-Fa-f]+", s):
        out.append(("base16", bytes.fromhex(s)))
    t = s.upper().rstrip("=")
    if len(t) == -(-size * 8 // 5) and re.fullmatch(r"[A-Z2-7]+", t):
        try:
            raw = base64.b32decode(t + "=" * (-len(t) % 8))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == size:
            out.append(("base32", raw))
    t = s.rstrip("=")
    if len(t) == -(-size * 4 // 3):
        std = re.fullmatch(r"[A-Za-z0-9+/]+", t) is not None
        url = re.fullmatch(r"[A-Za-z0-9_-]+", t) is not None
        if std or url:
            try:
                raw = base64.b64decode(t + "=" * (-len(t) % 4), altchars=None if std else b"-_")
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) == size:
                out.append(("base64", raw))
    return out


def _encode(raw: bytes, encoding: str) -> str:
    if encoding == "base16":
        return raw.hex()
    if encoding == "base64":
        return base64.b64encode(raw).decode("ascii")
    return base64.b32encode(raw).decode("ascii")


class _DeclaredDigest:
    """A declared ``algorithm:value`` digest, the hasher that checks it, and its result."""

    def __init__(self, which: str, declared: str) -> None:
        self.which = which
        self.declared = declared
        self.hasher: _Hasher | None = None
        self.candidates: list[tuple[str, bytes]] = []
        algo, sep, value = declared.strip().partition(":")
        self.algo = algo.strip()
        self.problem: tuple[str, Severity, str] | None = None
        if not sep or not value.strip() or not self.algo:
            self.problem = ("malformed-digest", "error",
                            f"{which} digest {_show(declared)} is not 'algorithm:value'")
            return
        hasher = _new_hasher(self.algo)
        if hasher is None:
            self.problem = ("digest-unverified", "warning",
                            f"{which} digest algorithm {_show(self.algo)} is unknown: "
                            f"{_show(declared)} not verified")
            return
        # an undecodable value cannot match: it is checked (and fails) like any other,
        # so the report still shows what the digest should have been
        self.candidates = _decode_digest_value(value, hasher.digest_size)
        self.hasher = hasher

    def update(self, data: bytes) -> None:
        if self.hasher is not None:
            self.hasher.update(data)

    def result(self) -> tuple[OneDigestStatus, str | None]:
        """(status, computed value in the declared encoding) once the bytes are all in."""
        if self.problem is not None:
            return ("unverified" if self.problem[1] == "warning" else "fail"), None
        assert self.hasher is not None
        raw = self.hasher.digest()
        if self.candidates:
            encoding = self.candidates[0][0]
        else:  # WARC custom: base32 for sha1, else hex
            encoding = "base32" if self.algo.lower().replace("-", "") == "sha1" else "base16"
        computed = f"{self.algo}:{_encode(raw, encoding)}"
        if any(raw == cand for _, cand in self.candidates):
            return "pass", computed
        if not self.candidates:
            computed += (f"; the declared value is not a {self.algo} digest in base32, base16 "
                         "or base64")
        return "fail", computed


def _combine(block: OneDigestStatus, payload: OneDigestStatus) -> DigestStatus:
    """One status per record: any failure wins; a passing digest beside an unknown
    algorithm is still "unverified" (a declared claim went unchecked)."""
    both = (block, payload)
    if "fail" in both:
        return "fail"
    if "unverified" in both:
        return "unverified"
    if "pass" in both:
        return "pass"
    if "not-checked" in both:
        return "unverified"
    return "absent"


def _show(value: str | bytes, limit: int = 120) -> str:
    """A header value made safe for a one-line message (control characters escaped)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- byte sources


class _Raw:
    """The file, read strictly forward; hashes and counts every byte it hands out."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._sha = hashlib.sha256()
        self.pos = 0

    def read(self, n: int = _CHUNK) -> bytes:
        try:
            data = self._stream.read(n)
        except OSError as exc:
            raise StorageError(f"reading the WARC failed at offset {self.pos}: {exc}") from exc
        self._sha.update(data)
        self.pos += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def sha256(self) -> str:
        return PREFIX + self._sha.hexdigest()


class _Cursor:
    """The decompressed stream, one *segment* at a time.

    A segment is the whole file for an uncompressed WARC and one gzip member for a
    gzip one. Reads never cross a segment end silently: the scanner must decide (and
    report) whether a record may continue into the next member.
    """

    gzip = False

    def __init__(self, raw: _Raw) -> None:
        self.raw = raw
        self._buf = bytearray()
        self._pos = 0
        self.useg = 0  # uncompressed offset, within the segment, of the next unread byte
        self.seg_offset = 0  # file offset of the current segment
        self.seg_state: Literal["ok", "truncated", "corrupt"] = "ok"
        self.data_problems: list[tuple[int, str, str]] = []  # (offset, code, text)
        self.file_problems: list[tuple[int, str, str]] = []

    # subclasses supply the next piece of the current segment (b"" at its end)
    def _more(self) -> bytes:
        raise NotImplementedError

    def next_segment(self) -> bool:
        """Move to the next segment (skipping what is left of this one)."""
        raise NotImplementedError

    def file_offset(self) -> int:
        """The seekable file offset for the current position."""
        raise NotImplementedError

    def aligned(self) -> bool:
        """True when the current position is where a reader could seek to."""
        raise NotImplementedError

    def where(self) -> str:
        """Human text for the current position (empty for an uncompressed file)."""
        return ""

    def _avail(self) -> int:
        return len(self._buf) - self._pos

    def _fill(self, n: int) -> bool:
        while self._avail() < n:
            chunk = self._more()
            if not chunk:
                return False
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0
            self._buf += chunk
        return True

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return bytes(self._buf[self._pos : self._pos + n])

    def read(self, n: int) -> bytes:
        if not self._avail():
            self._fill(1)
        k = min(n, self._avail())
        out = bytes(self._buf[self._pos : self._pos + k])
        self._pos += k
        self.useg += k
        return out

    def readline(self, limit: int) -> bytes:
        """Up to and including ``\\n``, at most ``limit`` bytes, within the segment."""
        start = 0
        while True:
            i = self._buf.find(b"\n", self._pos + start, self._pos + limit)
            if i >= 0:
                return self.read(i + 1 - self._pos)
            start = self._avail()
            if start >= limit or not self._fill(start + 1):
                return self.read(min(limit, self._avail()))

    def at_segment_end(self) -> bool:
        return not self._fill(1)

    def skip_segment(self) -> int:
        n = 0
        while chunk := self.read(_CHUNK):
            n += len(chunk)
        return n

    def skip_to_record_start(self) -> tuple[int, bool]:
        """Skip to the next ``WARC/<digit>`` at a line start within the segment.

        Returns (bytes skipped, found). Used only to resynchronise after an error.
        """
        skipped = 0
        if _WARC_START_RE.match(self.peek(6)):
            return 0, True
        while True:
            if not self._fill(7):
                rest = self._avail()
                self.read(rest)
                return skipped + rest, False
            m = _RECORD_START_RE.search(self._buf, self._pos)
            if m:
                k = m.start() + 1 - self._pos
                self.read(k)
                return skipped + k, True
            k = self._avail() - 6
            self.read(k)
            skipped += k
            if not self._fill(self._avail() + 1):
                rest = self._avail()
                self.read(rest)
                return skipped + rest, False


class _PlainCursor(_Cursor):
    def __init__(self, raw: _Raw, initial: bytes) -> None:
        super().__init__(raw)
        self._buf += initial
        self._started = False

    def _more(self) -> bytes:
        return self.raw.read(_CHUNK)

    def next_segment(self) -> bool:
        if not self._started:  # the whole file is the one segment
            self._started = True
            return True
        self.skip_segment()
        return False

    def file_offset(self) -> int:
        return self.useg

    def aligned(self) -> bool:
        return True


class _GzipCursor(_Cursor):
    """Decompresses one gzip member at a time, tracking member offsets.

    The gzip header and trailer are parsed here and the deflate data is inflated raw
    (ISA-L), so every decoded byte reaches the scanner before the CRC32/ISIZE check;
    zlib's own gzip mode would discard a whole call's output on a CRC error and the
    record in that member would vanish from the report instead of being marked.
    """

    gzip = True

    def __init__(self, raw: _Raw, initial: bytes) -> None:
        super().__init__(raw)
        self._in = initial  # compressed bytes read but not yet consumed
        self._in_off = 0  # file offset of self._in[0]
        self._d: isal_zlib.Decompress | None = None
        self._phase: Literal["header", "body", "trailer"] = "header"
        self._crc = 0
        self._done = True  # current member finished (or none started yet)
        self.member_end = 0  # file offset just past the last finished member
        self.members = 0
        self.useg_total = 0  # uncompressed bytes produced by the current member so far

    def _read_in(self) -> bool:
        more = self.raw.read(_CHUNK)
        self._in += more
        return bool(more)

    def _need(self, n: int) -> bool:
        while len(self._in) < n:
            if not self._read_in():
                return False
        return True

    def _consume(self, n: int) -> None:
        self._in = self._in[n:]
        self._in_off += n

    def _more(self) -> bytes:
        while not self._done:
            if self._phase == "header":
                self._header()
                continue
            if self._phase == "trailer":
                self._trailer()
                continue
            if not self._in and not self._read_in():
                return self._truncated("inside its deflate data")
            d = self._d
            assert d is not None
            try:
                out = d.decompress(self._in, _CHUNK)
            except _GZIP_ERROR as exc:
                return self._corrupt(f"deflate data: {exc}", resync=True)
            eof = d.eof
            # ISA-L may read ahead and hand bytes back in unused_data at the end of the
            # stream, so "consumed" can be negative: the remainder it reports is the truth
            rest = d.unused_data if eof else d.unconsumed_tail
            consumed = len(self._in) - len(rest)
            if consumed == 0 and not out and not eof:
                return self._corrupt("deflate data: no progress", resync=True)
            self._in = rest
            self._in_off += consumed
            if eof:
                self._phase = "trailer"
            if out:
                self._crc = isal_zlib.crc32(out, self._crc)
                self.useg_total += len(out)
                return out
        return b""

    def _header(self) -> None:
        """Parse the RFC 1952 member header (flags, extra field, name, comment, CRC16)."""
        if not self._need(10):
            self._truncated("inside its gzip header")
            return
        method, flags = self._in[2], self._in[3]
        if method != 8 or flags & 0xE0:
            self._corrupt(f"gzip header: method {method}, flags {flags:#x}", resync=True)
            return
        pos = 10
        if flags & 4:  # FEXTRA
            if not self._need(pos + 2):
                self._truncated("inside its gzip header")
                return
            pos += 2 + int.from_bytes(self._in[pos : pos + 2], "little")
        for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
            if flags & bit:
                while self._in.find(b"\0", pos) < 0:
                    if len(self._in) - pos > _MAX_HEADER:
                        self._corrupt("gzip header: unterminated name or comment", resync=True)
                        return
                    if not self._read_in():
                        self._truncated("inside its gzip header")
                        return
                pos = self._in.find(b"\0", pos) + 1
        if flags & 2:  # FHCRC
            pos += 2
        if not self._need(pos):
            self._truncated("inside its gzip header")
            return
        if flags & 2:
            want = int.from_bytes(self._in[pos - 2 : pos], "little")
            if isal_zlib.crc32(self._in[: pos - 2]) & 0xFFFF != want:
                self._corrupt("gzip header CRC16 mismatch", resync=True)
                return
        self._consume(pos)
        self._d = isal_zlib.decompressobj(-15)
        self._crc = 0
        self._phase = "body"

    def _trailer(self) -> None:
        if not self._need(8):
            self._truncated("inside its gzip trailer (CRC32 and size)")
            return
        crc = int.from_bytes(self._in[:4], "little")
        size = int.from_bytes(self._in[4:8], "little")
        self._consume(8)
        self._done = True
        self.member_end = self._in_off
        if crc != self._crc:
            self._corrupt(f"CRC32 {crc:08x} in the trailer, {self._crc:08x} computed",
                          resync=False)
        elif size != self.useg_total & 0xFFFFFFFF:
            self._corrupt(f"size {size} in the trailer, {self.useg_total} decoded",
                          resync=False)

    def _truncated(self, where: str) -> bytes:
        self._done = True
        self.seg_state = "truncated"
        self._consume(len(self._in))
        self.member_end = self._in_off
        self.data_problems.append((
            self.seg_offset, "gzip-truncated",
            f"gzip member is truncated: the file ends {where}, after {self.useg_total} "
            "uncompressed bytes"))
        return b""

    def _corrupt(self, why: str, *, resync: bool) -> bytes:
        self._done = True
        self.seg_state = "corrupt"
        self.data_problems.append((
            self.seg_offset, "gzip-corrupt",
            f"gzip member is corrupt ({why}) after {self.useg_total} uncompressed bytes"))
        if resync and self._in_off <= self.seg_offset:  # search on past this member's magic
            self._consume(self.seg_offset + 1 - self._in_off)
        if resync:
            self.member_end = self._in_off
        return b""

    def next_segment(self) -> bool:
        if not self._done:
            self.skip_segment()
        self._buf.clear()
        self._pos = 0
        self.useg = 0
        self.useg_total = 0
        self.seg_state = "ok"
        while len(self._in) < 3 and self._read_in():
            pass
        if not self._in:
            return False
        if not self._in.startswith(_GZIP_MAGIC) and not self._skip_garbage():
            return False
        self.seg_offset = self._in_off
        self._phase = "header"
        self._done = False
        self.members += 1
        return True

    def _skip_garbage(self) -> bool:
        """Report non-gzip bytes between members and find the next member, if any."""
        start = self._in_off
        preview = self._in[:16]
        while True:
            i = self._in.find(b"\x1f\x8b\x08", 1 if self._in_off == start else 0)
            if i >= 0:
                self._in_off += i
                self._in = self._in[i:]
                self.file_problems.append((
                    start, "garbage",
                    f"{self._in_off - start} bytes between gzip members are not gzip data "
                    f"(starting {_show(preview, 60)})"))
                return True
            keep = min(2, len(self._in))
            self._in_off += len(self._in) - keep
            self._in = self._in[len(self._in) - keep :]
            if not self._read_in():
                end = self._in_off + len(self._in)
                if end - start < 3 and b"\x1f\x8b\x08".startswith(preview):
                    self.file_problems.append((
                        start, "gzip-truncated",
                        f"gzip member is truncated: the file ends {end - start} byte(s) "
                        "into its header"))
                else:
                    self.file_problems.append((
                        start, "garbage",
                        f"{end - start} bytes at the end of the file are not gzip data "
                        f"(starting {_show(preview, 60)})"))
                self._in_off = end
                self._in = b""
                return False

    def file_offset(self) -> int:
        return self.seg_offset

    def aligned(self) -> bool:
        return self.useg == 0

    def where(self) -> str:
        return f" (uncompressed byte {self.useg} of the gzip member at offset {self.seg_offset})"


# --------------------------------------------------------------------------- the scan


class _HeadEnd:
    """Finds where HTTP headers end inside a streamed block (first blank line).

    Mirrors warcio, which reads header lines until one is empty after stripping
    whitespace; only the current line's whitespace-only tail is kept between chunks.
    """

    def __init__(self) -> None:
        self._carry = b"\n"  # as if the block started after a newline
        self._carry_at = -1  # block offset of self._carry[0]

    def feed(self, chunk: bytes, at: int) -> int | None:
        data = self._carry + chunk
        base = self._carry_at if self._carry else at
        m = _BLANK_LINE_RE.search(data)
        if m:
            return base + m.end()
        nl = data.rfind(b"\n")
        tail = data[nl:] if nl >= 0 else b""
        if tail and len(tail) < 4096 and not tail[1:].strip(b" \t\r"):
            self._carry, self._carry_at = tail, base + nl
        else:
            self._carry, self._carry_at = b"", at + len(chunk)
        return None


@dataclass
class _RecordState:
    """Mutable bookkeeping while one record is read."""

    offset: int
    problems: list[ScanProblem] = field(default_factory=list)
    split: bool = False
    shared: bool = False  # shares a gzip member with another record
    stop: str = ""  # why a read ended early: eof, truncated, corrupt, next-record
    closed_at: int | None = None  # the member end where reading stopped (cursor moved on)


class _Scanner:
    def __init__(self, stream: BinaryIO, path: Path | None) -> None:
        self.path = path
        self.raw = _Raw(stream)
        self.problems: list[ScanProblem] = []
        self.errors = 0
        self.omitted = 0
        self.records: list[ScannedRecord] = []
        self.ids: dict[str, tuple[int, bytes, str | None]] = {}
        self.versions: Counter[str] = Counter()
        self.format: Format = "warc"
        self.compression: Compression = "none"
        self.refused = False
        self.cur: _Cursor = _PlainCursor(self.raw, b"")
        self.seen_record = False
        self.shared_members: set[int] = set()  # gzip members already reported as shared

    # ---- problems
    def _add(self, offset: int, code: str, text: str, severity: Severity = "error",
             rec: _RecordState | None = None, listed: bool = True) -> None:
        p = ScanProblem(offset, f"offset {offset}: {text}", code, severity)
        if severity == "error":
            self.errors += 1
        if rec is not None:
            rec.problems.append(p)
        if not listed:
            return
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(p)
        else:
            self.omitted += 1

    def _take(self, rec: _RecordState | None) -> None:
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
        if head.startswith(_GZIP_MAGIC):
            self.compression = "gzip"
            self.cur = _GzipCursor(self.raw, head)
        else:
            for magic, name in _OTHER_MAGIC.items():
                if head.startswith(magic):
                    self.compression = name
                    self.format = "unknown"
                    self._add(0, "unsupported-compression",
                              f"the file is {name}-compressed; only gzip (one member per "
                              "record) or uncompressed WARCs are read")
                    self.raw.drain()
                    return self._report()
            self.cur = _PlainCursor(self.raw, head)
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
                          f"garbage (starting {_show(preview, 60)}){where}{nxt}")
            else:
                self._add(off, "garbage",
                          f"{skipped} bytes of garbage between records (starting "
                          f"{_show(preview, 60)}){where}{nxt}")

    def _skip_blank_lines(self) -> int:
        n = 0
        while (b := self.cur.peek(1)) and b in b"\r\n":
            self.cur.read(1)
            n += 1
        return n

    # ---- one record
    def _cross(self, rec: _RecordState) -> bool:
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
        assert isinstance(cur, _GzipCursor)
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

    def _read(self, n: int, rec: _RecordState) -> bytes:
        while True:
            data = self.cur.read(n)
            if data or not self._cross(rec):
                return data

    def _read_header(self, rec: _RecordState) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.cur.readline(_MAX_HEADER - size + 1)
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
            if size > _MAX_HEADER:
                self._add(rec.offset, "header-too-large",
                          f"record header is longer than {_MAX_HEADER} bytes", rec=rec)
                return None
            if line.endswith(b"\n") and not line.strip(b" \t\r\n") and len(parts) > 1:
                return b"".join(parts)

    def _record(self) -> None:
        cur = self.cur
        rec = _RecordState(cur.file_offset())
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
        m = _VERSION_RE.fullmatch(vline)
        version = vline.rstrip(b"\r\n").decode("latin-1")  # WARC/x.y once matched
        if m is None:
            self._add(rec.offset, "bad-header",
                      f"record does not start with a WARC/<major>.<minor> line{where} "
                      f"(found {_show(vline.rstrip())})", rec=rec)
            self._resync(rec, "after the unreadable header")
            return
        self.versions[version] += 1
        if version not in _KNOWN_VERSIONS:
            self._add(rec.offset, "unusual-version",
                      f"WARC version {version} is neither WARC/1.0 nor WARC/1.1", "warning",
                      rec=rec)
        if _ODD_EOL_RE.search(raw_header):
            self._add(rec.offset, "header-line-ends",
                      f"record header lines do not end in a single CRLF{where}", "warning",
                      rec=rec)
        parser = StatusAndHeadersParser([], verify=False)
        headers = parser.parse(io.BytesIO(rest), full_statusline=vline.decode("latin-1"))
        self._read_body(rec, headers, raw_header, version, start_u)

    def _one(self, headers: StatusAndHeaders, name: str, rec: _RecordState) -> str | None:
        values = [v for k, v in headers.headers if k.lower() == name.lower()]
        if len(set(values)) > 1:
            self._add(rec.offset, "conflicting-header",
                      f"{name} appears {len(values)} times with different values", rec=rec)
        return values[0] if values else None

    def _read_body(self, rec: _RecordState, headers: StatusAndHeaders, header_bytes: bytes,
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
                      f"WARC-Target-URI {_show(target)} is not a plain URI (kept verbatim, "
                      "used only as data)", "warning", rec=rec)

        clen: int | None = None
        if clen_text is not None:
            if re.fullmatch(r"[0-9]{1,18}", clen_text.strip()):
                clen = int(clen_text.strip())
            else:
                self._add(rec.offset, "bad-content-length",
                          f"Content-Length {_show(clen_text)} is not a byte count", rec=rec)

        bd = _DeclaredDigest("block", bd_text) if bd_text else None
        pd = _DeclaredDigest("payload", pd_text) if pd_text else None
        payload_checkable = rtype not in ("revisit", "continuation") and not segmented
        for d in (bd, pd):
            if d is not None and d.problem is not None and (d is bd or payload_checkable):
                code, severity, text = d.problem
                self._add(rec.offset, code, text, severity, rec=rec)

        block_sha: str | None = None
        payload_sha: str | None = None
        incomplete = True
        if clen is not None:
            is_http = (rtype in _HTTP_TYPES and (
                (ctype or "").strip().lower().startswith("application/http")
                or (ctype is None and (target or "").strip("<> ").lower().startswith(
                    ("http:", "https:")))))
            block_h = hashlib.sha256()
            payload_h = hashlib.sha256()
            head_end = _HeadEnd() if is_http and clen > 0 else None
            payload_from = 0 if head_end is None else -1
            embedded: int | None = None
            tail = b""
            got = 0
            while got < clen:
                chunk = self._read(min(_CHUNK, clen - got), rec)
                if not chunk:
                    break
                block_h.update(chunk)
                if bd is not None:
                    bd.update(chunk)
                if payload_from < 0 and head_end is not None:
                    end = head_end.feed(chunk, got)
                    if end is not None:
                        payload_from = end
                if payload_from >= 0:
                    part = chunk[max(0, payload_from - got):]
                    payload_h.update(part)
                    if pd is not None:
                        pd.update(part)
                if embedded is None:
                    j = (tail + chunk).find(b"\r\n\r\nWARC/")
                    if j >= 0:
                        embedded = got - len(tail) + j + 4
                    tail = chunk[-9:]
                got += len(chunk)
            incomplete = got < clen
            block_sha = PREFIX + block_h.hexdigest()
            if rtype in _PAYLOAD_TYPES:
                payload_sha = PREFIX + payload_h.hexdigest()
            if incomplete:
                self._short_block(rec, clen, got)
            else:
                self._trailer(rec, clen, embedded)
        else:
            self._resync(rec, "because the block length is unknown")

        bstat: OneDigestStatus = "absent"
        pstat: OneDigestStatus = "absent"
        note = " (block incomplete)" if incomplete and clen is not None else ""
        if bd is not None:
            if clen is None:
                bstat = "unverified"
            else:
                bstat, computed = bd.result()
                if bstat == "fail" and computed is not None:
                    self._add(rec.offset, "block-digest-mismatch",
                              f"block digest {_show(bd.declared)} does not match the record "
                              f"(computed {computed}){note}", rec=rec)
        if pd is not None:
            if not payload_checkable:
                pstat = "not-checked"
            elif clen is None:
                pstat = "unverified"
            else:
                pstat, computed = pd.result()
                if pstat == "fail" and computed is not None:
                    self._add(rec.offset, "payload-digest-mismatch",
                              f"payload digest {_show(pd.declared)} does not match the "
                              f"payload (computed {computed}){note}", rec=rec)

        if rid is not None:
            self._check_duplicate(rec, rid, hashlib.sha256(header_bytes).digest(), block_sha)
        length = self._finish(rec, start_u)
        self.records.append(ScannedRecord(
            offset=rec.offset, length=length, record_id=rid, type=rtype, target_uri=target,
            date=date, content_type=ctype, content_length=clen,
            block_digest_declared=bd_text, payload_digest_declared=pd_text,
            block_sha256=block_sha, payload_sha256=payload_sha,
            digest_status=_combine(bstat, pstat), problems=tuple(rec.problems),
            block_digest_status=bstat, payload_digest_status=pstat, warc_version=version))

    def _check_duplicate(self, rec: _RecordState, rid: str, header_hash: bytes,
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
                  f"WARC-Record-ID {_show(rid)} is also the id of the record at offset "
                  f"{seen[0]} ("
                  + ("an identical copy" if same else
                     "a different record: links to this id are ambiguous") + ")",
                  "warning", rec=rec)

    def _short_block(self, rec: _RecordState, clen: int, got: int) -> None:
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

    def _trailer(self, rec: _RecordState, clen: int, embedded: int | None) -> None:
        """The block must be followed by CRLF CRLF; anything else means the Content-Length
        is wrong (or the file was cut).

        Two tolerated deviations, as warnings, because no data can hide in them: a run of
        only CR/LF bytes holding at least two line feeds (line endings converted, e.g.
        CR CR LF), and a gzip member that ends cleanly right after the block (the member
        boundary delimits the record and the gzip CRC covers it).
        """
        cur = self.cur
        at = (f"uncompressed byte {cur.useg} of its gzip member" if cur.gzip
              else f"offset {cur.file_offset()}")
        run = bytearray()
        ended = False
        while len(run) < 64:
            p = cur.peek(1)
            if not p:
                if run.count(b"\n") < 2 and self._cross(rec):
                    continue
                ended = True
                break
            if p not in (b"\r", b"\n"):
                break
            cur.read(1)
            run += p
            if run == _CRLF2:
                return
        if run.count(b"\n") >= 2:
            self._add(rec.offset, "odd-trailer",
                      f"the block is followed by {_show(bytes(run))} instead of CRLF CRLF "
                      "(only line-end bytes: accepted; line endings converted?)", "warning",
                      rec=rec)
            return
        if ended and rec.closed_at is not None:
            got = f"{_show(bytes(run))} of " if run else ""
            self._add(rec.offset, "missing-trailer",
                      f"the record's gzip member ends after the block with only {got}the "
                      "CRLF CRLF that must follow it; accepted, since the member boundary "
                      "delimits the record and the gzip CRC covers it", "warning", rec=rec)
            return
        if ended:
            self._add(rec.offset, "truncated",
                      f"truncated record: the file ends {len(run)} byte(s) into the CRLF CRLF "
                      "that must follow the block", rec=rec)
            return
        hint = ""
        if embedded is not None:
            hint = (f"; a record header starts inside the block at block byte {embedded}, "
                    "so Content-Length is probably too large")
        skipped, found = cur.skip_to_record_start()
        skipped += len(run)
        if found:
            nxt = f"; the next record starts {skipped} bytes later, at offset {cur.file_offset()}"
            nxt += cur.where() if cur.gzip else ""
        elif cur.gzip:
            nxt = f"; the remaining {skipped} bytes of its gzip member were skipped"
        else:
            nxt = f"; the remaining {skipped} bytes of the file were skipped"
        self._add(rec.offset, "content-length-mismatch",
                  f"Content-Length {clen} does not match the bytes present: the block is not "
                  f"followed by CRLF CRLF at {at}{hint}{nxt}", rec=rec)

    def _resync(self, rec: _RecordState, why: str) -> None:
        skipped, found = self.cur.skip_to_record_start()
        if skipped:
            nxt = f" up to the next record at offset {self.cur.file_offset()}" if found else ""
            self._add(rec.offset, "skipped",
                      f"{skipped} bytes skipped {why}{nxt}", "warning", rec=rec)

    def _finish(self, rec: _RecordState, start_u: int) -> int:
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
        assert isinstance(gz, _GzipCursor)
        end = gz.member_end if gz.seg_state == "ok" else self.raw.pos
        return end - rec.offset

    def _report(self) -> ScanReport:
        cur = self.cur
        if (isinstance(cur, _GzipCursor) and cur.members == 1 and len(self.records) > 1
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


def scan_stream(stream: BinaryIO, *, path: Path | None = None) -> ScanReport:
    """Scan a WARC from a binary stream, read once, forward only (need not be seekable).

    The stream is read to its end, so ``sha256``/``size`` cover every byte even when the
    verdict is decided early (ARC, unsupported compression).
    """
    return _Scanner(stream, path).run()


def scan_warc(path: Path) -> ScanReport:
    """Scan the WARC (or ARC) file at ``path``: every record read fully, nothing written.

    Raises :class:`ConfigError` when the path cannot be opened and
    :class:`StorageError` when reading fails midway; malformed content is never an
    exception but a problem in the report (see :meth:`ScanReport.raise_for_verdict`).
    """
    try:
        f = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot open WARC file {path}: {exc.strerror or exc}",
                          path=path) from exc
    with f:
        return scan_stream(f, path=path)

