"""The one exception tree of the library.

Every error a user can see derives from :class:`ArchiveError`. Each carries the
context an operator needs (url, path, digest, record id) and its ``str()`` is a
single line saying what failed, why, and where useful what to do about it.
CLI exit codes are chosen by class (see ``archive.cli``).
"""

from __future__ import annotations

from typing import Any


class ArchiveError(Exception):
    """Root of all errors raised by ``archive``."""

    exit_code = 1

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **{
            k: str(v) for k, v in self.context.items()}}

    def __reduce__(self) -> tuple[Any, ...]:
        # keeps url, context etc. when an error crosses a process boundary (capture
        # workers); Exception's own pickling would call __init__ with the message only
        return _new_error, (type(self), self.message), dict(self.__dict__)


def _new_error(cls: type[ArchiveError], message: str) -> ArchiveError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


def one_line(value: object, limit: int | None = None) -> str:
    """``str(value)`` with every run of whitespace (newlines included) made one space, cut
    to ``limit`` characters when given: how a foreign error's text goes into one of ours
    (an OpenSSL or socket message may span lines; ours never do). A cut never leaves a
    space at the end."""
    text = " ".join(str(value).split())
    return text if limit is None else text[:limit].rstrip()


class ConfigError(ArchiveError):
    """Bad settings or arguments: nothing was attempted."""

    exit_code = 2


class FetchError(ArchiveError):
    """A URL could not be captured (network, protocol, limits)."""

    exit_code = 3

    def __init__(self, message: str, *, url: str | None = None, **context: Any) -> None:
        super().__init__(message, url=url, **context)
        self.url = url


class RefusedURLError(FetchError):
    """Refused before connecting: bad scheme or a non-public address (SSRF guard)."""


class DNSError(FetchError):
    """The host name did not resolve."""


class ConnectError(FetchError):
    """No connection could be made to any address of the host (refused, unreachable)."""


class TLSError(FetchError):
    """The TLS handshake or certificate check failed."""


class FetchTimeoutError(FetchError):
    """Connect timeout, read timeout, or the total deadline passed."""


class RedirectError(FetchError):
    """A redirect loop, or a chain longer than the limit."""


class ProtocolError(FetchError):
    """The server closed without a response or sent something that is not HTTP."""


class WorkerLost(FetchError):
    """A capture worker process ended before reporting these URLs."""


class StorageError(ArchiveError):
    """Writing or reading the WARC store failed (disk full, fsync error, missing file)."""

    exit_code = 4


class DatabaseError(ArchiveError):
    """The custody database failed or went away."""

    exit_code = 7


class IntegrityError(ArchiveError):
    """Stored bytes or records do not match what the custody database says."""

    exit_code = 5


class NotFoundError(ArchiveError):
    """No capture, record or object matches what was asked for."""

    exit_code = 6


class AmbiguousHashError(NotFoundError):
    """A hash prefix matches more than one object."""


class WarcFormatError(ArchiveError):
    """A WARC file is malformed (used on import and verification), with its byte offset."""

    exit_code = 5


class MetadataError(ArchiveError, ValueError):
    """Metadata extraction or validation failed; ``errors`` lists every problem found."""

    def __init__(self, message: str, errors: list[str] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.errors = errors or []


class BrowserError(FetchError):
    """The headless browser (``browser`` capture mode) is missing, would not start,
    crashed or stopped answering; the renderer closed it and left no process behind."""
