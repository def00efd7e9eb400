"""Byte sources for the scanner: the raw file (hashed as it is read) and cursors over
its records, plain or one gzip member at a time (each member read to its end and its
CRC checked).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from isal import isal_zlib

from archive.core.hashing import format_digest
from archive.errors import StorageError
from archive.warc.scan.digests import show
from archive.warc.scan.results import Compression, ScanProblem

CHUNK = 1 << 16
MAX_HEADER = 1 << 20  # a WARC header block larger than this is refused, not buffered
MAX_PROBLEMS = 1000  # report-level list; the verdict still counts every error
GZIP_MAGIC = b"\x1f\x8b"
# isal's stub declares ``error`` as an instance; at run time it is the IsalError class
GZIP_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]
CRLF2 = b"\r\n\r\n"
KNOWN_VERSIONS = ("WARC/1.0", "WARC/1.1")
VERSION_RE = re.compile(rb"WARC/([0-9]+)\.([0-9]+)\r*\n")
ODD_EOL_RE = re.compile(rb"(?<!\r)\n|\r\r+\n")
RECORD_START_RE = re.compile(rb"\nWARC/[0-9]")
WARC_START_RE = re.compile(rb"WARC/[0-9]")
HTTP_TYPES = ("response", "request", "revisit")
PAYLOAD_TYPES = ("response", "request", "resource", "conversion")
OTHER_MAGIC: dict[bytes, Compression] = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}

# --------------------------------------------------------------------------- byte sources


class Raw:
    """The file, read strictly forward; hashes and counts every byte it hands out."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._sha = hashlib.sha256()
        self.pos = 0

    def read(self, n: int = CHUNK) -> bytes:
        try:
            data = self._stream.read(n)
        except OSError as exc:
            raise StorageError(f"reading the WARC failed at offset {self.pos}: {exc}") from exc
        self._sha.update(data)
        self.pos += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def sha256(self) -> str:
        return format_digest(self._sha.digest())


class Cursor:
    """The decompressed stream, one *segment* at a time.

    A segment is the whole file for an uncompressed WARC and one gzip member for a
    gzip one. Reads never cross a segment end silently: the scanner must decide (and
    report) whether a record may continue into the next member.
    """

    gzip = False

    def __init__(self, raw: Raw) -> None:
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
        while chunk := self.read(CHUNK):
            n += len(chunk)
        return n

    def skip_to_record_start(self) -> tuple[int, bool]:
        """Skip to the next ``WARC/<digit>`` at a line start within the segment.

        Returns (bytes skipped, found). Used only to resynchronise after an error.
        """
        skipped = 0
        if WARC_START_RE.match(self.peek(6)):
            return 0, True
        while True:
            if not self._fill(7):
                rest = self._avail()
                self.read(rest)
                return skipped + rest, False
            m = RECORD_START_RE.search(self._buf, self._pos)
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


class PlainCursor(Cursor):
    def __init__(self, raw: Raw, initial: bytes) -> None:
        super().__init__(raw)
        self._buf += initial
        self._started = False

    def _more(self) -> bytes:
        return self.raw.read(CHUNK)

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


class GzipCursor(Cursor):
    """Decompresses one gzip member at a time, tracking member offsets.

    The gzip header and trailer are parsed here and the deflate data is inflated raw
    (ISA-L), so every decoded byte reaches the scanner before the CRC32/ISIZE check;
    zlib's own gzip mode would discard a whole call's output on a CRC error and the
    record in that member would vanish from the report instead of being marked.
    """

    gzip = True

    def __init__(self, raw: Raw, initial: bytes) -> None:
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
        more = self.raw.read(CHUNK)
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
                out = d.decompress(self._in, CHUNK)
            except GZIP_ERROR as exc:
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
                    if len(self._in) - pos > MAX_HEADER:
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
        if not self._in.startswith(GZIP_MAGIC) and not self._skip_garbage():
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
                    f"(starting {show(preview, 60)})"))
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
                        f"(starting {show(preview, 60)})"))
                self._in_off = end
                self._in = b""
                return False

    def file_offset(self) -> int:
        return self.seg_offset

    def aligned(self) -> bool:
        return self.useg == 0

    def where(self) -> str:
        return f" (uncompressed byte {self.useg} of the gzip member at offset {self.seg_offset})"


@dataclass
class RecordState:
    """Mutable bookkeeping while one record is read."""

    offset: int
    problems: list[ScanProblem] = field(default_factory=list)
    split: bool = False
    shared: bool = False  # shares a gzip member with another record
    stop: str = ""  # why a read ended early: eof, truncated, corrupt, next-record
    closed_at: int | None = None  # the member end where reading stopped (cursor moved on)
