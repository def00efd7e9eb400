"""A response body read within the fetch's limits, and what its framing allows after.

The fetcher (:mod:`archive.http.fetch`) reads each body through ``http.client``, which
removes chunk framing but keeps the content-coding, so what is hashed here is the entity
body as sent. A body cut short (the size limit, the deadline, the connection's end) is
kept, with why it is incomplete, and the raw response recorded for it is cut so that a
WARC reader de-chunking it gets exactly the body we hashed (:func:`cut_to_body`). Only a
response whose bytes ended where its framing said (a ``Content-Length``, no body at all,
or a chunked body's end) lets the connection be used again (:func:`may_keep`,
:func:`message_end`).
"""

from __future__ import annotations

import http.client
from dataclasses import replace
from typing import Any, BinaryIO

from archive.core.config import FetchPolicy
from archive.core.hashing import HashingWriter, sha256_stream
from archive.http.failures import root_reason
from archive.http.models import Exchange, Truncation
from archive.http.wire import BODY_CHUNK, MAX_CHUNK_LINE, Wire


def may_keep(response: http.client.HTTPResponse, wire: Wire) -> bool:
    """The connection may carry another exchange: HTTP/1.1 without ``Connection:
    close``, a body of known length (:func:`framed_length`) or chunked, read to its end,
    nothing gone wrong on the wire. The fetcher still hands it on only if the bytes
    received end where the message does (:func:`message_end`)."""
    return (response.version == 11 and not response.will_close
            and (response.chunked or framed_length(response) is not None)
            and wire.read_error is None and not wire.deadline_hit and not wire.raw_overflow)


def message_end(response: http.client.HTTPResponse, raw: BinaryIO,
                header_length: int) -> int | None:
    """Where the response ends in its raw bytes ``raw`` by HTTP/1.1's framing: after
    its Content-Length (or no body at all, :func:`framed_length`), or after a chunked
    body's last chunk and trailer section (:func:`chunked_end`). None when the framing
    does not tell, or a chunked body is not strictly well formed."""
    if response.chunked:
        return chunked_end(raw, header_length)
    length = framed_length(response)
    return None if length is None else header_length + length


def chunked_end(raw: BinaryIO, start: int) -> int | None:
    """The offset just past a chunked body that starts at ``start`` in ``raw``: chunks
    (a hexadecimal size line, that many bytes, CRLF), the zero-size chunk, then trailer
    lines up to an empty one. None if ``raw`` ends first or anything deviates (a size
    that is not hexadecimal, a chunk not followed by CRLF): a lenient reader may have
    read such a body differently, so its connection is not trusted with another."""
    raw.seek(start)
    pos = start
    while True:
        line = raw.readline(MAX_CHUNK_LINE)
        if not line.endswith(b"\n"):
            return None
        pos += len(line)
        size_text = line.split(b";", 1)[0].strip(b" \t\r\n")
        if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
            return None
        size = int(size_text, 16)
        if size == 0:
            break
        raw.seek(pos + size)
        if raw.read(2) != b"\r\n":
            return None
        pos += size + 2
    while True:  # the trailer section, ended by an empty line
        line = raw.readline(MAX_CHUNK_LINE)
        if not line.endswith(b"\n"):
            return None
        pos += len(line)
        if line in (b"\r\n", b"\n"):
            return pos


def framed_length(response: http.client.HTTPResponse) -> int | None:
    """The body's length by HTTP/1.1's framing (RFC 9112 section 6.3): none after a
    1xx, 204 or 304 whatever the headers say (a 304 may name the length of the 200 it
    stands for), else the Content-Length; None when only the connection's end would
    tell. A revalidated requisite's 304 thus leaves its connection for the next one."""
    if response.status in (204, 304) or 100 <= response.status < 200:
        return 0
    value = (response.getheader("Content-Length") or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def read_body(response: http.client.HTTPResponse, sink: HashingWriter, wire: Wire,
              policy: FetchPolicy) -> tuple[Truncation | None, str | None]:
    """Copy the entity body (content-coding kept) to ``sink`` within the limits.

    Returns why the body is incomplete, if it is: the size limit ("length"), the
    deadline or a read timeout ("time"), or the connection ending early ("disconnect").
    """
    limit = policy.max_bytes
    error: BaseException | None = None
    try:
        while chunk := response.read(BODY_CHUNK):
            if not _keep(sink, chunk, limit):
                return "length", f"body exceeds the limit of {limit} bytes"
        if response.length:  # http.client ends a short Content-Length body quietly
            raise http.client.IncompleteRead(b"", response.length)
    except (OSError, http.client.HTTPException) as exc:
        error = exc
        # the chunks http.client had read in this call before a later one failed
        partial = exc.partial if isinstance(exc, http.client.IncompleteRead) else b""
        if partial and not _keep(sink, partial, limit):
            return "length", f"body exceeds the limit of {limit} bytes"
    if error is None and (wire.read_error is None or not _delimited_by_close(response)):
        return None, None
    if wire.deadline_hit:
        return "time", f"the {policy.deadline:g} s deadline passed while reading the body"
    if wire.raw_overflow:
        return "length", f"raw response exceeds the limit of {wire.raw_limit} bytes"
    if isinstance(wire.read_error, TimeoutError):
        return "time", f"no data for {policy.read_timeout:g} s while reading the body"
    if wire.read_error is not None:
        return "disconnect", (f"connection broken while reading the body: "
                              f"{root_reason(wire.read_error)}")
    assert error is not None
    return "disconnect", f"connection closed before the body was complete: {root_reason(error)}"


def _keep(sink: HashingWriter, data: bytes, limit: int) -> bool:
    """Write what fits under the body limit; False when some of ``data`` did not."""
    room = limit - sink.size
    sink.write(data[:room] if len(data) > room else data)
    return len(data) <= room


def _stored_end(raw: BinaryIO, header_length: int, body_length: int, chunked: bool
                ) -> tuple[int, int, bytes | None]:
    """Where a truncated raw response must end so that its payload, de-chunked as a WARC
    reader does it (warcio), is exactly the body kept, and nothing past it is stored:
    ``(raw length, body length, the chunk-size line that is not a number, if met)``.

    Received bytes past the body (the rest of a chunk or of a declared length read ahead,
    a broken chunk-size line and what follows) are not part of any body we hash, so they
    are not stored. A chunk whose data is complete but whose CRLF never came ends one byte
    short: readers that require the CRLF would otherwise read its size line as data.
    """
    if not chunked:
        return header_length + body_length, body_length, None
    raw.seek(header_length)
    pos, left = header_length, body_length
    while True:
        line = raw.readline(MAX_CHUNK_LINE)
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            return pos, body_length, line if line.endswith(b"\n") else None
        if left == 0 or size <= 0:
            return pos, body_length, None
        start = pos + len(line)
        if left < size:
            return start + left, body_length, None
        raw.seek(start + size)
        crlf = raw.read(2)
        if left == size and crlf != b"\r\n":
            return start + size - 1, body_length - 1, None
        left -= size
        pos = start + size + len(crlf)


def cut_to_body(exchange: Exchange, chunked: bool) -> Exchange:
    """A truncated exchange whose stored response holds exactly the body it hashes (see
    :func:`_stored_end`); the bad chunk-size line, if that ended the body, named."""
    with exchange.open_response() as raw:
        end, body_length, bad_line = _stored_end(raw, exchange.header_length,
                                                 exchange.body_length, chunked)
    changes: dict[str, Any] = {}
    if end < exchange.response_length:
        exchange.response_file.truncate(end)
        with exchange.open_response() as raw:
            changes["response_sha256"], changes["response_length"] = sha256_stream(raw)
    if body_length < exchange.body_length:
        exchange.body_file.truncate(body_length)
        with exchange.open_body() as body:
            changes["body_sha256"], changes["body_length"] = sha256_stream(body)
    if bad_line is not None and exchange.truncated == "disconnect":
        text = bad_line.rstrip(b"\r\n")[:40].decode("latin-1")
        changes["truncated_reason"] = (f"invalid chunk size line {text!r} after "
                                       f"{body_length} bytes of body")
    return replace(exchange, **changes) if changes else exchange


def _delimited_by_close(response: http.client.HTTPResponse) -> bool:
    """No Content-Length and not chunked: only the connection's end ends the body."""
    return not response.chunked and response.getheader("Content-Length") is None
