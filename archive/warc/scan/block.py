"""A record's block and what follows it, as the scanner reads them: the block's SHA-256
and its payload's (the bytes after the HTTP headers of an ``application/http`` block),
the declared digests fed the same bytes, where a record header shows inside the block
(the sign of a Content-Length that is too large), then the CRLF CRLF that must follow.
The scanner (:mod:`archive.warc.scan.scanner`) drives the reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from archive.core.hashing import format_digest
from archive.warc.scan.cursor import CRLF2, Cursor, RecordState
from archive.warc.scan.digests import DeclaredDigest, show
from archive.warc.scan.results import Severity

BLANK_LINE_RE = re.compile(rb"\n[ \t\r]*\n")
_RECORD_HEADER = b"\r\n\r\nWARC/"


class BlockPass:
    """Feed a block's bytes in order (:meth:`feed`); then :attr:`got` is how many came,
    :attr:`embedded` the block offset of a record header found inside it (or None),
    and :meth:`block_sha256` / :meth:`payload_sha256` its digests as ``sha256:<hex>``.
    ``block`` and ``payload``, the record's declared digests, are fed the same bytes
    (the payload's from the end of the HTTP headers when ``is_http``)."""

    def __init__(self, is_http: bool, block: DeclaredDigest | None = None,
                 payload: DeclaredDigest | None = None) -> None:
        self._block_h = hashlib.sha256()
        self._payload_h = hashlib.sha256()
        self._block, self._payload = block, payload
        self._head_end = HeadEnd() if is_http else None  # None once the headers ended
        self._payload_from = 0
        self._tail = b""
        self.embedded: int | None = None
        self.got = 0

    def feed(self, chunk: bytes) -> None:
        got = self.got
        self._block_h.update(chunk)
        if self._block is not None:
            self._block.update(chunk)
        if self._head_end is not None:
            end = self._head_end.feed(chunk, got)
            if end is not None:
                self._payload_from, self._head_end = end, None
        if self._head_end is None:
            part = chunk[max(0, self._payload_from - got):]
            self._payload_h.update(part)
            if self._payload is not None:
                self._payload.update(part)
        if self.embedded is None:
            self._find_embedded(chunk, got)
        self.got = got + len(chunk)

    def _find_embedded(self, chunk: bytes, got: int) -> None:
        """The first record header in the block, also one cut by the reads: looked for
        across the last read's end first, then in ``chunk`` (without copying it)."""
        keep = len(_RECORD_HEADER) - 1
        edge = self._tail + chunk[:keep]
        j = edge.find(_RECORD_HEADER)
        if j >= 0:
            self.embedded = got - len(self._tail) + j + 4
            return
        j = chunk.find(_RECORD_HEADER)
        if j >= 0:
            self.embedded = got + j + 4
            return
        self._tail = (self._tail + chunk[-keep:])[-keep:]

    def block_sha256(self) -> str:
        return format_digest(self._block_h.digest())

    def payload_sha256(self) -> str:
        """The payload's digest: of nothing if the HTTP headers never ended."""
        return format_digest(self._payload_h.digest())


class HeadEnd:
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
        m = BLANK_LINE_RE.search(data)
        if m:
            return base + m.end()
        nl = data.rfind(b"\n")
        tail = data[nl:] if nl >= 0 else b""
        if tail and len(tail) < 4096 and not tail[1:].strip(b" \t\r"):
            self._carry, self._carry_at = tail, base + nl
        else:
            self._carry, self._carry_at = b"", at + len(chunk)
        return None


def check_trailer(cur: Cursor, rec: RecordState, cross: Callable[[], bool], clen: int,
                  embedded: int | None) -> tuple[str, str, Severity] | None:
    """The block must be followed by CRLF CRLF; anything else means the Content-Length
    is wrong (or the file was cut).

    Two tolerated deviations, as warnings, because no data can hide in them: a run of
    only CR/LF bytes holding at least two line feeds (line endings converted, e.g.
    CR CR LF), and a gzip member that ends cleanly right after the block (the member
    boundary delimits the record and the gzip CRC covers it).
    ``cross`` moves the cursor into the next gzip member if the record may go on there
    (the scanner's rule); the problem is (code, text, severity), or None.
    """
    at = (f"uncompressed byte {cur.useg} of its gzip member" if cur.gzip
          else f"offset {cur.file_offset()}")
    run = bytearray()
    ended = False
    while len(run) < 64:
        p = cur.peek(1)
        if not p:
            if run.count(b"\n") < 2 and cross():
                continue
            ended = True
            break
        if p not in (b"\r", b"\n"):
            break
        cur.read(1)
        run += p
        if run == CRLF2:
            return None
    if run.count(b"\n") >= 2:
        return ("odd-trailer", f"the block is followed by {show(bytes(run))} instead of "
                "CRLF CRLF (only line-end bytes: accepted; line endings converted?)",
                "warning")
    if ended and rec.closed_at is not None:
        got = f"{show(bytes(run))} of " if run else ""
        return ("missing-trailer", f"the record's gzip member ends after the block with "
                f"only {got}the CRLF CRLF that must follow it; accepted, since the member "
                "boundary delimits the record and the gzip CRC covers it", "warning")
    if ended:
        return ("truncated", f"truncated record: the file ends {len(run)} byte(s) into the "
                "CRLF CRLF that must follow the block", "error")
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
    return ("content-length-mismatch", f"Content-Length {clen} does not match the bytes "
            f"present: the block is not followed by CRLF CRLF at {at}{hint}{nxt}", "error")


__all__ = ["BLANK_LINE_RE", "BlockPass", "HeadEnd", "check_trailer"]
