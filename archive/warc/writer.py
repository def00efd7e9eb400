"""WARC 1.1 records, serialised explicitly so the block is exactly the bytes we hold.

warcio's writer re-parses and re-serialises HTTP headers, which would change what
went over the wire; here the WARC header block is built as warcio's
``StatusAndHeaders`` would write it and the block is copied byte for byte. Each record
is one gzip member (ISA-L: standard gzip, several times faster than zlib level 9).
Record ids and dates are injectable, so a whole file can be golden-tested.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from isal import isal_zlib

from archive.core.hashing import format_digest, sha256_bytes
from archive.core.timeutil import iso_utc

WARC_VERSION = "WARC/1.1"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
HTTP_RESPONSE_TYPE = "application/http; msgtype=response"
HTTP_REQUEST_TYPE = "application/http; msgtype=request"
_CHUNK = 1 << 16
_ONE_PASS = 4 << 20  # blocks up to this size are read into memory once

RecordIdFactory = Callable[[], str]


# Replay tools (pywb, ReplayWeb.page) index every record, metadata ones included, by its
# WARC-Target-URI: a JSON record about a page that carried the page's own URL and second
# would be served in its place. Records *about* a URL (our capture provenance, extracted
# article metadata) are therefore addressed by a URN that names what they are and ends
# with that URL, as Browsertrix Crawler addresses its page records (``urn:pageinfo:<url>``);
# WARC-Refers-To links each to the record it describes.
ABOUT_URN = "urn:provenance-archive:"
PROVENANCE = "provenance"  # a capture's provenance (the metadata record of every capture)
ARTICLE_METADATA = "article-metadata"  # an extractor's result for a capture


def about_uri(kind: str, target: str) -> str:
    """The WARC-Target-URI of a ``kind`` record about ``target``, e.g.
    ``urn:provenance-archive:provenance:https://news.example/a``. Readers find such
    records by WARC-Type and body, never by this URI: files written before it carry
    ``target`` itself, and must still be adopted, imported and verified."""
    return f"{ABOUT_URN}{kind}:{target}"


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_date(moment: datetime) -> str:
    """WARC 1.1 date: UTC, microseconds (W3C-DTF allows a decimal fraction); the
    custody database's timestamps have the same form."""
    return iso_utc(moment)


@dataclass(frozen=True)
class Block:
    """A record block: bytes in memory or a seekable stream of known length."""

    stream: BinaryIO
    length: int
    payload_offset: int | None = None  # where the payload starts (after HTTP headers)

    @classmethod
    def of(cls, data: bytes, payload_offset: int | None = None) -> Block:
        return cls(io.BytesIO(data), len(data), payload_offset)


@dataclass(frozen=True)
class WrittenRecord:
    """Where a record landed and what it commits to (digests as ``sha256:<hex>``)."""

    record_id: str
    type: str
    target_uri: str | None
    date: str
    offset: int
    length: int  # bytes of the gzip member in the file
    content_length: int  # bytes of the uncompressed block
    block_digest: str
    payload_digest: str | None


def digests(block: Block) -> tuple[str, str | None]:
    """Block digest and payload digest, read from the block's stream (rewound after)."""
    block_h = hashlib.sha256()
    payload_h = hashlib.sha256() if block.payload_offset is not None else None
    start = block.stream.tell()
    pos = 0
    while chunk := block.stream.read(_CHUNK):
        block_h.update(chunk)
        if payload_h is not None and block.payload_offset is not None:
            cut = max(0, block.payload_offset - pos)
            if cut < len(chunk):
                payload_h.update(chunk[cut:])
        pos += len(chunk)
    block.stream.seek(start)
    if pos != block.length:
        raise ValueError(f"block stream holds {pos} bytes, {block.length} were declared")
    payload = format_digest(payload_h.digest()) if payload_h is not None else None
    return format_digest(block_h.digest()), payload


def _read_small(block: Block, *, hashed: bool = True
                ) -> tuple[bytes, tuple[str, str | None] | None]:
    """The block's bytes and (unless ``hashed`` is false: the caller knows them) its
    digests as :func:`digests` gives them, reading the stream once."""
    data = block.stream.read(block.length + 1)
    if len(data) != block.length:
        rest = len(data) + sum(len(c) for c in iter(lambda: block.stream.read(_CHUNK), b""))
        raise ValueError(f"block stream holds {rest} bytes, {block.length} were declared")
    if not hashed:
        return data, None
    payload = None
    if block.payload_offset is not None:
        payload = sha256_bytes(
            memoryview(data)[max(0, block.payload_offset):])
    return data, (sha256_bytes(data), payload)


def _header_block(fields: list[tuple[str, str]]) -> bytes:
    """The WARC header block, byte for byte what warcio's StatusAndHeaders writes."""
    lines = [WARC_VERSION]
    lines.extend(f"{k}: {v}" for k, v in fields)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class WarcWriter:
    """Appends records to ``out``, each as its own gzip member; tracks offsets."""

    def __init__(self, out: Sink, *, level: int = 1, start_offset: int = 0) -> None:
        self._out = out
        self._level = level
        self.offset = start_offset

    def write(
        self,
        rtype: str,
        headers: Iterable[tuple[str, str]],
        block: Block,
        *,
        record_id: str,
        date: str,
        content_type: str | None = None,
        payload_digest: str | None = None,
        compute_payload_digest: bool = True,
        block_digest: str | None = None,
    ) -> WrittenRecord:
        """Append one record. ``block_digest`` (with ``payload_digest``) may be passed
        when the caller hashed exactly these bytes as they arrived: the fetcher does, so
        a page is not hashed a second time here."""
        data: bytes | None = None
        hashed = block_digest is None or (payload_digest is None and compute_payload_digest
                                          and block.payload_offset is not None)
        computed: tuple[str, str | None] | None = None
        if block.length <= _ONE_PASS:
            # Small blocks (every page of a news site) are read once: hashed and
            # compressed from the same bytes, one gzip call, one write.
            data, computed = _read_small(block, hashed=hashed)
        elif hashed:
            computed = digests(block)
        if computed is not None:
            block_digest = computed[0]
            if payload_digest is None and compute_payload_digest:
                payload_digest = computed[1]
        assert block_digest is not None
        fields: list[tuple[str, str]] = [
            ("WARC-Type", rtype),
            ("WARC-Record-ID", record_id),
            ("WARC-Date", date),
        ]
        fields.extend((k, v) for k, v in headers if v is not None)
        if content_type:
            fields.append(("Content-Type", content_type))
        fields.append(("WARC-Block-Digest", block_digest))
        if payload_digest:
            fields.append(("WARC-Payload-Digest", payload_digest))
        fields.append(("Content-Length", str(block.length)))
        head = _header_block(fields)

        compressor = isal_zlib.compressobj(self._level, isal_zlib.DEFLATED, 31)
        if data is not None:
            member = b"".join((compressor.compress(head), compressor.compress(data),
                               compressor.compress(b"\r\n\r\n"), compressor.flush()))
            self._out.write(member)
            written = len(member)
        else:
            written = 0

            def emit(chunk: bytes) -> None:
                nonlocal written
                if chunk:
                    self._out.write(chunk)
                    written += len(chunk)

            emit(compressor.compress(head))
            while chunk := block.stream.read(_CHUNK):
                emit(compressor.compress(chunk))
            emit(compressor.compress(b"\r\n\r\n"))
            emit(compressor.flush())

        target = next((v for k, v in fields if k == "WARC-Target-URI"), None)
        rec = WrittenRecord(
            record_id=record_id,
            type=rtype,
            target_uri=target,
            date=date,
            offset=self.offset,
            length=written,
            content_length=block.length,
            block_digest=block_digest,
            payload_digest=payload_digest,
        )
        self.offset += written
        return rec


def warc_fields(fields: Iterable[tuple[str, str]]) -> bytes:
    """``application/warc-fields`` body (used by warcinfo)."""
    lines = [f"{k}: {v}\r\n" for k, v in fields if v]
    return "".join(lines).encode("utf-8")
