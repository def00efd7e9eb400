"""SHA-256 helpers. A hash a user sees is always written ``sha256:<64 hex>``, and so
is every digest the library passes around: the bare hex appears only at the edges
that need it (the database column, via :class:`archive.ledger.tables.Sha256Hex`; file
names, URNs and HTML ids, via :func:`hex_part`; Merkle arithmetic, via
:func:`digest_bytes`). A user's full or partial hash is read by :func:`parse_hash`."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import BinaryIO, Protocol

PREFIX = "sha256:"
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def format_digest(raw: bytes) -> str:
    """Format a raw 32-byte SHA-256 digest as ``sha256:<hex>``."""
    if len(raw) != 32:
        raise ValueError(f"a SHA-256 digest has 32 bytes, got {len(raw)}")
    return PREFIX + raw.hex()


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """Hash a stream to its end; returns the digest and the number of bytes read."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return PREFIX + h.hexdigest(), size


def sha256_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as f:
        return sha256_stream(f)


def is_digest(text: str) -> bool:
    return text.startswith(PREFIX) and bool(_HEX_RE.match(text[len(PREFIX):]))


def digest_bytes(digest: str) -> bytes:
    """The raw 32 bytes of a ``sha256:<hex>`` digest (the inverse of
    :func:`format_digest`), for Merkle arithmetic."""
    if digest.startswith(PREFIX):
        try:
            raw = bytes.fromhex(digest[len(PREFIX):])
        except ValueError:
            pass
        else:
            if len(raw) == 32 and len(digest) == len(PREFIX) + 64:
                return raw
    raise ValueError(f"not a sha256:<hex> digest: {digest!r}")


def parse_hash(text: str) -> str:
    """A user's full or partial hash (``sha256:`` optional, any case, spaces around) as
    ``sha256:<lowercase hex>``: what the CLI, the resolver and ``resolve`` look up."""
    value = text.strip().lower()
    if value.startswith(PREFIX):
        value = value[len(PREFIX):]
    if not value or not re.fullmatch(r"[0-9a-f]{1,64}", value):
        raise ValueError(f"not a SHA-256 hash or hash prefix: {text!r}")
    return PREFIX + value


def hex_part(text: str) -> str:
    """The lowercase hex of a full or partial ``sha256:`` hash (the prefix is optional),
    for the places whose syntax has no room for the prefix: file names, URNs, ids."""
    return parse_hash(text)[len(PREFIX):]


class _Sink(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


class HashingWriter:
    """Counts and hashes everything written through it (for streaming copies)."""

    def __init__(self, sink: _Sink | BinaryIO | None = None) -> None:
        self._h = hashlib.sha256()
        self._sink = sink
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._h.update(data)
        self.size += len(data)
        if self._sink is not None:
            self._sink.write(data)
        return len(data)

    @property
    def digest(self) -> str:
        return PREFIX + self._h.hexdigest()
