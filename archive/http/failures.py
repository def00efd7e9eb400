r"""What went wrong with a request, as one of our :class:`~archive.errors.FetchError`\ s.

``http.client``, ``ssl`` and the socket layer raise a variety of exceptions, often
chained or wrapped in one another; the user sees one line naming the cause that matters
(a rejected certificate, a deadline, a broken connection) with the URL. Receive errors
never surface as exceptions (the wire records them, see ``TeeSocket.recv_into``), so
the :class:`~archive.http.wire.Wire` is consulted before the exception chain.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator

from archive.errors import FetchError, FetchTimeoutError, ProtocolError, TLSError, one_line
from archive.http.wire import DEADLINE_SLACK, Wire


def pre_response_error(exc: Exception, wire: Wire, url: str) -> FetchError:
    """Map whatever was raised before a status line into our error tree.

    Receive errors never surface as exceptions (see ``TeeSocket.recv_into``); the wire
    recorded them, so it is consulted before the exception chain.
    """
    chain = list(causes(exc))
    for cause in chain:
        if isinstance(cause, FetchError):
            return cause
    timed_out = any(isinstance(c, TimeoutError) for c in chain)
    if wire.deadline_hit or (timed_out and wire.remaining() <= DEADLINE_SLACK):
        return FetchTimeoutError(f"no response from {url} within the "
                                 f"{wire.policy.deadline:g} s deadline", url=url)
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or str(cause)
            return TLSError(f"TLS certificate of {url} rejected: {one_line(why)}", url=url)
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return TLSError(f"TLS handshake with {url} failed: {one_line(cause)}", url=url)
    if wire.raw_overflow:
        return ProtocolError(f"{url} sent response headers larger than "
                             f"{wire.raw_limit} bytes", url=url)
    received = wire.read_error
    if isinstance(received, TimeoutError):
        return FetchTimeoutError(f"no response from {url} within the read timeout of "
                                 f"{wire.policy.read_timeout:g} s", url=url)
    if received is not None:
        return ProtocolError(f"{url} broke the connection without sending a response "
                             f"({root_reason(received)})", url=url)
    if timed_out:
        stage = "the TLS handshake" if not wire.sent else "sending the request"
        return FetchTimeoutError(f"{url} timed out during {stage}", url=url)
    for cause in chain:
        if isinstance(cause, http.client.RemoteDisconnected | ConnectionResetError |
                      BrokenPipeError):
            return ProtocolError(f"{url} closed the connection without sending a response",
                                 url=url)
        if isinstance(cause, http.client.HTTPException):
            return ProtocolError(f"{url} did not send a valid HTTP response: "
                                 f"{type(cause).__name__} {one_line(cause)}", url=url)
    return FetchError(f"request to {url} failed: {root_reason(exc)}", url=url)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes/contexts, and exceptions carried in args or .reason."""
    stack = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]
        stack.extend(item for item in linked if isinstance(item, BaseException))


def root_reason(exc: BaseException) -> str:
    deepest = list(causes(exc))[-1]
    return f"{type(deepest).__name__}: {one_line(deepest)}"
