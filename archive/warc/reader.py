"""Read stored records back: the one place a gzip member is inflated and split.

``record_bytes`` inflates one member (or passes an uncompressed imported record
through); ``parse_member`` is its strict form for readers that trust nothing (the
proof-bundle verifier): one member, exact Content-Length, CRLF CRLF after, bounded
size. ``http_split`` and ``record_payload`` take a block apart; ``decode_payload``
undoes chunking and content-coding under the fetch policy's caps, as a browser would.
``read_record`` parses a stored record with warcio for the library's own reads.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader

from archive.core.config import FetchPolicy
from archive.core.content import Decoded, decode_body
from archive.errors import WarcFormatError
from archive.warc.store import WarcStore

MAX_RECORD_BYTES = 512 * 1024 * 1024
"""Largest decompressed WARC record a verifier accepts (a defence against gzip bombs)."""


@dataclass(frozen=True)
class StoredRecord:
    warc_headers: Any  # warcio StatusAndHeaders
    http_headers: Any | None
    payload: bytes  # after the HTTP header block, as stored (codings not undone)

    def header(self, name: str) -> str | None:
        value = self.warc_headers.get_header(name)
        return str(value) if value is not None else None

    def http_header(self, name: str) -> str | None:
        if self.http_headers is None:
            return None
        values = [v for k, v in self.http_headers.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None


def read_record(path: Path, offset: int, length: int) -> StoredRecord:
    with path.open("rb") as f:
        f.seek(offset)
        return parse_record(f.read(length), path.name, offset)


def read_stored(store: WarcStore, relpath: str, offset: int, length: int) -> StoredRecord:
    """One record of a stored file, read alone (a range read on an object store)."""
    return parse_record(store.read_range(relpath, offset, length), relpath, offset)


def parse_record(member: bytes, where: str, offset: int) -> StoredRecord:
    """The record in one gzip member (or uncompressed record) read from ``where``."""
    try:
        raw = record_bytes(member)
        rec = next(iter(ArchiveIterator(io.BytesIO(raw), check_digests=False)))
        return StoredRecord(rec.rec_headers, rec.http_headers, rec.raw_stream.read())
    except (zlib.error, StopIteration, Exception) as exc:
        raise WarcFormatError(f"{where}: record at offset {offset} is unreadable: {exc}",
                              path=where) from exc


def record_bytes(member: bytes) -> bytes:
    """A stored record's bytes, uncompressed: the gzip member of one of our files (or of
    a per-record gzip import) inflated; a record of an uncompressed imported WARC as is."""
    return zlib.decompress(member, 31) if member[:2] == b"\x1f\x8b" else member


def record_block(member: bytes) -> bytes:
    """The block of the one record in ``member`` (inflated when gzip), cut at its
    Content-Length: for our own files, whose framing the writer made. Raises
    ``zlib.error``, ``ValueError``, ``StopIteration`` or ``UnicodeDecodeError`` when the
    bytes are not such a record (verify reports each as an unreadable record)."""
    raw = record_bytes(member)
    head_end = raw.index(b"\r\n\r\n") + 4
    head = raw[:head_end].decode("utf-8")
    length = int(next(line.split(":", 1)[1] for line in head.split("\r\n")
                      if line.lower().startswith("content-length:")))
    return raw[head_end:head_end + length]


def decoded_payload(rec: StoredRecord, policy: FetchPolicy) -> Decoded:
    """The payload as a reader gets it: chunking and content-coding undone, capped."""
    return decode_payload(rec.payload, rec.http_header("Transfer-Encoding"),
                          rec.http_header("Content-Encoding"), policy)


def decode_payload(payload: bytes, transfer_encoding: str | None,
                   content_encoding: str | None, policy: FetchPolicy) -> Decoded:
    """A stored HTTP payload as a reader gets it: ``chunked`` transfer-coding, then the
    content-codings undone, within the policy's size and depth caps."""
    stream: Any = io.BytesIO(payload)
    if (transfer_encoding or "").lower().strip() == "chunked":
        stream = ChunkedDataReader(stream, decomp_type=None)
    return decode_body(stream, content_encoding, max_output=policy.max_decoded_bytes,
                       max_depth=policy.max_encoding_depth)


def parse_member(member: bytes) -> tuple[tuple[dict[str, str], bytes] | None, str]:
    """One gzip member holding one WARC record (or, from an imported uncompressed WARC,
    the record's bytes as stored): ``((headers, block), "")`` or ``(None, why)``.
    Strict: exactly one member, Content-Length exact, CRLFCRLF after."""
    if member.startswith(b"WARC/"):
        raw = member
    else:
        d = zlib.decompressobj(31)
        try:
            raw = d.decompress(member, MAX_RECORD_BYTES)
        except zlib.error as exc:
            return None, f"does not decompress ({exc})"
        if d.unconsumed_tail:
            return None, f"decompresses to more than {MAX_RECORD_BYTES} bytes"
        if not d.eof:
            return None, "is a truncated gzip member"
        if d.unused_data:
            return None, f"has {len(d.unused_data)} bytes after its gzip member"
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return None, "has no WARC header block"
    try:
        lines = raw[:end].decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        return None, "has a WARC header that is not UTF-8"
    if lines[0] not in ("WARC/1.1", "WARC/1.0"):
        return None, f"starts with {lines[0][:20]!r}, not a WARC version line"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if not sep:
            return None, f"has a malformed WARC header line {line[:60]!r}"
        headers.setdefault(k.strip().lower(), v.strip())
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        return None, "has no valid Content-Length"
    block = raw[end + 4:end + 4 + length]
    if len(block) != length or raw[end + 4 + length:] != b"\r\n\r\n":
        return None, (f"has Content-Length {length} but holds {len(raw) - end - 4} bytes "
                      "after its header (4 of them should be the closing CRLF CRLF)")
    return (headers, block), ""


def http_split(block: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """HTTP header fields and the payload (everything after the header block)."""
    end = block.find(b"\r\n\r\n")
    if end < 0:
        return [], b""
    lines = block[:end].decode("iso-8859-1").split("\r\n")[1:]
    fields = []
    for line in lines:
        k, sep, v = line.partition(":")
        if sep:
            fields.append((k.strip().lower(), v.strip()))
    return fields, block[end + 4:]


def record_payload(block: bytes, headers: dict[str, str]) -> bytes:
    """A record's WARC payload: after the HTTP headers for ``application/http``, else
    the whole block."""
    if headers.get("content-type", "").lower().startswith("application/http"):
        return http_split(block)[1]
    return block
