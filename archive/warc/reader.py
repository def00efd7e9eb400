"""Read one stored record back: the gzip member at a known offset, parsed by warcio."""

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
        member = f.read(length)
    try:
        raw = record_bytes(member)
        rec = next(iter(ArchiveIterator(io.BytesIO(raw), check_digests=False)))
        return StoredRecord(rec.rec_headers, rec.http_headers, rec.raw_stream.read())
    except (zlib.error, StopIteration, Exception) as exc:
        raise WarcFormatError(f"{path.name}: record at offset {offset} is unreadable: {exc}",
                              path=path) from exc


def record_bytes(member: bytes) -> bytes:
    """A stored record's bytes, uncompressed: the gzip member of one of our files (or of
    a per-record gzip import) inflated; a record of an uncompressed imported WARC as is."""
    return zlib.decompress(member, 31) if member[:2] == b"\x1f\x8b" else member


def decoded_payload(rec: StoredRecord, policy: FetchPolicy) -> Decoded:
    """The payload as a reader gets it: chunking and content-coding undone, capped."""
    stream: Any = io.BytesIO(rec.payload)
    if (rec.http_header("Transfer-Encoding") or "").lower().strip() == "chunked":
        stream = ChunkedDataReader(stream, decomp_type=None)
    return decode_body(stream, rec.http_header("Content-Encoding"),
                       max_output=policy.max_decoded_bytes, max_depth=policy.max_encoding_depth)
