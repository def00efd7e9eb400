"""What one fetch returns: each hop's exchange (the bytes both ways, peer, TLS), the
retries made, and the result that owns the spooled bytes until it is closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

from archive.core.config import FetchPolicy
from archive.http.spool import Spool, SpoolFile

Truncation = Literal["length", "time", "disconnect"]


@dataclass(frozen=True)
class TLSInfo:
    """TLS facts taken from the socket that delivered the response."""

    version: str
    cipher: str
    cert_der: bytes | None = field(repr=False)
    cert_sha256: str | None
    verified: bool


@dataclass(frozen=True)
class Exchange:
    """One HTTP hop: the request as sent and the response as received.

    ``response_file`` holds the raw response (status line, headers, body with transfer-
    and content-coding as sent); ``body_file`` the entity body (transfer-coding undone,
    content-coding kept). The digests and lengths cover exactly the stored bytes.
    """

    url: str
    method: str
    request_bytes: bytes
    response_file: SpoolFile = field(repr=False)
    response_length: int
    response_sha256: str
    header_length: int
    protocol: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body_file: SpoolFile = field(repr=False)
    body_length: int
    body_sha256: str
    truncated: Truncation | None
    truncated_reason: str | None
    started_at: datetime
    ended_at: datetime
    remote_ip: str
    remote_port: int
    tls: TLSInfo | None

    def open_response(self) -> BinaryIO:
        return self.response_file.open()

    def open_body(self) -> BinaryIO:
        return self.body_file.open()

    @property
    def response_path(self) -> Path | None:
        """Where the raw response spilled to disk (None while it is held in memory)."""
        return self.response_file.path

    @property
    def body_path(self) -> Path | None:
        return self.body_file.path

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def header(self, name: str) -> str | None:
        """The field value; repeated lines are combined with ", " (RFC 9110 section 5.3),
        so ``Content-Encoding`` sent on ten lines reads as a list of ten codings. Use
        :meth:`header_values` for fields that must not be combined (Set-Cookie)."""
        values = self.header_values(name)
        return ", ".join(values) if values else None

    @property
    def payload_digest(self) -> str:
        """WARC-Payload-Digest: the entity body as stored (alias of ``body_sha256``)."""
        return self.body_sha256

    @property
    def content_type(self) -> str | None:
        return self.header("Content-Type")

    @property
    def content_encoding(self) -> str | None:
        """All Content-Encoding lines joined in order (a repeated header is one list)."""
        return self.header("Content-Encoding")

    @property
    def request_headers(self) -> list[tuple[str, str]]:
        head = self.request_bytes.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        return header_pairs(head.split("\r\n")[1:])


@dataclass(frozen=True)
class RetryNote:
    """A retryable answer (5xx, 429) and what was done about it."""

    url: str
    status: int
    waited: float       # seconds slept before the retry (0 when not retried)
    retried: bool       # False: no retry was made (it would have passed the deadline)
    detail: str


@dataclass(frozen=True)
class FetchResult:
    """Every hop of one fetch, in order; the last one is the final response.

    Spooled bytes live until :meth:`close` (or garbage collection) removes them.
    ``attempts`` is 1 plus the number of retries made anywhere in the chain.
    """

    requested_url: str
    final_url: str
    exchanges: tuple[Exchange, ...]
    attempts: int
    started_at: datetime
    ended_at: datetime
    policy: FetchPolicy
    retries: tuple[RetryNote, ...] = ()
    _spool: Spool | None = field(default=None, repr=False, compare=False)

    @property
    def final(self) -> Exchange:
        return self.exchanges[-1]

    @property
    def status(self) -> int:
        return self.final.status

    @property
    def truncated(self) -> Truncation | None:
        return self.final.truncated

    @property
    def redirects(self) -> tuple[str, ...]:
        return tuple(ex.url for ex in self.exchanges[:-1])

    @property
    def tls_verified(self) -> bool | None:
        """None when no hop used TLS; otherwise whether every TLS hop was verified."""
        tls = [ex.tls for ex in self.exchanges if ex.tls is not None]
        return all(t.verified for t in tls) if tls else None

    def close(self) -> None:
        """Release the spooled bytes, in memory and on disk (idempotent)."""
        discard(self.exchanges)
        if self._spool is not None:
            self._spool.remove()

    @property
    def spool_dir(self) -> Path | None:
        """The temporary directory of bodies too large to hold in memory, if any."""
        return self._spool.dir if self._spool is not None else None

    def __enter__(self) -> FetchResult:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def header_pairs(lines: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and pairs:  # obsolete line folding
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if sep:
            pairs.append((name.strip(), value.strip()))
    return pairs


def discard(exchanges: Iterable[Exchange]) -> None:
    for exchange in exchanges:
        exchange.response_file.discard()
        exchange.body_file.discard()
