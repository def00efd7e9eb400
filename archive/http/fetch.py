"""Fetch a URL and keep what really went over the wire, hop by hop.

A WARC ``response`` record must hold the bytes the server sent (status line, headers,
chunk framing, compressed body), and its ``request`` record the bytes we sent. HTTP
clients parse those bytes away, so the fetcher sits *under* the standard library's
``http.client``: it hands it a socket that tees every byte to a spool (memory; a file
when large), records the peer address and the TLS facts from that same socket, and
enforces the total deadline inside ``recv`` (read timeouts alone never stop a server
that trickles one byte per second).

The connection resolves the host itself, checks every address with
:mod:`archive.http.netguard` and connects to the checked address: no second DNS lookup, so no
rebinding gap. Redirects are followed by our own loop, so every hop is checked and
recorded as its own :class:`Exchange`. Retries (5xx, 429) are ours too, bounded by the
policy and the deadline. ``requests`` prepares each request (URL quoting and IDNA,
cookies set by an earlier hop); a session with connection pools would cost more than
the whole exchange on a fast network.

A connection whose response ended exactly where its framing said (a Content-Length
body, HTTP/1.1, no ``Connection: close``) is kept for the next request to the same origin
(:mod:`archive.http.keepalive`); the bytes each exchange records are still only its own. A
kept connection that the server closed meanwhile is replaced by a fresh one, once, before
anything is recorded. One cookie jar per fetch: nothing is shared between fetches but the
immutable policy, the TLS contexts and the idle connections (under a lock), so a
:class:`Fetcher` is safe to use from several threads at once; :meth:`Fetcher.close`
closes what it keeps.
"""

from __future__ import annotations

import functools
import http.client
import random
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
from requests.cookies import MockRequest, MockResponse, RequestsCookieJar
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from archive.core.config import FetchPolicy
from archive.core.hashing import HashingWriter, sha256_stream
from archive.core.timeutil import Clock, utc_now
from archive.errors import (
    ConfigError,
    FetchError,
    FetchTimeoutError,
    ProtocolError,
    RedirectError,
    RefusedURLError,
    TLSError,
)
from archive.http.keepalive import ConnectionPool, IdleConnection, Origin
from archive.http.models import Exchange, FetchResult, RetryNote, Truncation, discard, header_pairs
from archive.http.netguard import check_url
from archive.http.spool import DEFAULT_MEMORY_LIMIT, Spool
from archive.http.wire import (
    ACCEPT,
    ACCEPT_ENCODING,
    BODY_CHUNK,
    DEADLINE_SLACK,
    MAX_CHUNK_LINE,
    REDIRECT_STATUSES,
    Wire,
    WireConnection,
)

# --------------------------------------------------------------------------- fetcher

class Fetcher:
    """Fetch URLs under a :class:`FetchPolicy`; see the module docstring.

    ``ca_bundle`` replaces the default trust store (certifi) for verified TLS, e.g. for an
    intranet CA or tests; ``spool_dir`` is where bodies too large to hold in memory
    (over ``spool_memory`` bytes) are written until their WARC file is.
    """

    def __init__(self, policy: FetchPolicy, *, clock: Clock = utc_now,
                 ca_bundle: str | Path | None = None, spool_dir: Path | None = None,
                 spool_memory: int = DEFAULT_MEMORY_LIMIT, keep_alive: bool = True) -> None:
        self.policy = policy
        self._clock = clock
        self._spool_parent = spool_dir
        self._spool_memory = spool_memory
        self._tls = tls_context(policy.verify_tls, ca_bundle)
        self.pool = ConnectionPool() if keep_alive else None

    def close(self) -> None:
        """Close the connections kept for reuse (a Fetcher may still fetch afterwards,
        on fresh connections it then closes)."""
        if self.pool is not None:
            self.pool.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str, *, policy: FetchPolicy | None = None, follow: bool = True,
              headers: Mapping[str, str] | None = None) -> FetchResult:
        """Fetch ``url`` following redirects; raise a FetchError if no response came.

        ``policy`` replaces the fetcher's for this call (a page's requisites get what is
        left of the page's time and bytes); TLS checking stays the fetcher's. With
        ``follow`` False the first response is the result, a redirect included (the
        browser follows redirects itself, one exchange a hop). ``headers`` are added to
        the first hop's request only (a revalidation's ``If-None-Match``)."""
        policy = policy or self.policy
        started_at = self._clock()
        deadline = time.monotonic() + policy.deadline
        check_url(url)
        spool = Spool(self._spool_parent, self._spool_memory)
        try:
            run = _Run(self, spool, deadline, policy)
            run.first_hop_headers = dict(headers or {})
            exchanges, retries = run.follow(url, follow)
        except BaseException:
            spool.remove()
            raise
        return FetchResult(
            requested_url=url, final_url=exchanges[-1].url, exchanges=tuple(exchanges),
            attempts=1 + sum(1 for note in retries if note.retried),
            started_at=started_at, ended_at=self._clock(), policy=policy,
            retries=tuple(retries), _spool=spool)


class _Run:
    """State of one fetch: the redirect loop, retries and one exchange at a time."""

    def __init__(self, fetcher: Fetcher, spool: Spool, deadline: float,
                 policy: FetchPolicy) -> None:
        self.policy = policy
        self.clock = fetcher._clock
        self.tls = fetcher._tls
        self.pool = fetcher.pool
        self.headers = {"User-Agent": self.policy.user_agent, "Accept": ACCEPT,
                        "Accept-Encoding": ACCEPT_ENCODING}
        if self.pool is None:
            self.headers["Connection"] = "close"
        self.cookies = RequestsCookieJar()  # set by one hop, sent by the next
        self.spool = spool
        self.deadline = deadline
        self.retries: list[RetryNote] = []
        self.first_hop_headers: dict[str, str] = {}

    def follow(self, url: str, follow: bool = True) -> tuple[list[Exchange], list[RetryNote]]:
        exchanges: list[Exchange] = []
        # A loop is a URL requested again with the same cookies: the same request again.
        # (A->B->A where B sets a cookie is a consent wall, not a loop.)
        seen: set[tuple[str, tuple[tuple[str, ...], ...]]] = set()
        current = url
        while True:
            seen.add((urldefrag(current)[0], self._cookie_state()))
            try:
                exchange, location = self._with_retries(current)
            except FetchError as exc:
                if not exchanges:
                    raise
                raise type(exc)(f"{exc} (redirect from {exchanges[-1].url})",
                                url=current) from exc
            exchanges.append(exchange)
            self.first_hop_headers = {}
            if location is None or not follow:
                return exchanges, self.retries
            target = urljoin(exchange.url, location)
            hops = [ex.url for ex in exchanges] + [target]
            chain = " -> ".join(hops)
            if len(exchanges) > self.policy.max_redirects:
                raise RedirectError(f"too many redirects from {url} (limit "
                                    f"{self.policy.max_redirects}): {chain}", url=url)
            if (urldefrag(target)[0], self._cookie_state()) in seen:
                raise RedirectError(f"redirect loop from {url}: {chain}", url=url)
            try:
                check_url(target)
            except RefusedURLError as exc:
                raise RefusedURLError(f"{exc} (redirect from {exchange.url})",
                                      url=target) from None
            current = target

    def _cookie_state(self) -> tuple[tuple[str, ...], ...]:
        return tuple(sorted((c.domain, c.path, c.name, c.value or "")
                            for c in self.cookies))

    def _with_retries(self, url: str) -> tuple[Exchange, str | None]:
        attempt = 1
        exchange, location = self._exchange(url)
        while _retryable(exchange.status) and attempt <= self.policy.max_retries:
            wait = self._wait_for(exchange, attempt)
            if time.monotonic() + wait >= self.deadline:
                self.retries.append(RetryNote(url, exchange.status, 0.0, False,
                                              f"not retried: waiting {wait:.1f} s would pass "
                                              "the deadline"))
                break
            time.sleep(wait)
            try:
                newer, newer_location = self._exchange(url)
            except FetchError as exc:
                self.retries.append(RetryNote(url, exchange.status, wait, True,
                                              f"retry failed, kept the earlier response: {exc}"))
                break
            self.retries.append(RetryNote(url, exchange.status, wait, True,
                                          f"HTTP {exchange.status}, retried after {wait:.1f} s"))
            discard([exchange])
            exchange, location = newer, newer_location
            attempt += 1
        return exchange, location

    def _wait_for(self, exchange: Exchange, attempt: int) -> float:
        header = exchange.header("Retry-After")
        wait = _retry_after(header, self.clock()) if header else None
        if wait is None:
            wait = self.policy.backoff_base * (2 ** (attempt - 1))
            wait *= 1 + random.random() * 0.1  # jitter: many workers must not retry in step
        return max(0.0, min(wait, self.policy.max_retry_after))

    def _exchange(self, url: str) -> tuple[Exchange, str | None]:
        """One request/response; raises if no response arrived."""
        policy = self.policy
        if time.monotonic() >= self.deadline:
            raise FetchTimeoutError(f"{url}: the {policy.deadline:g} s deadline passed before "
                                    "the request could be sent", url=url)
        try:
            prepared = requests.PreparedRequest()
            prepared.prepare(method="GET", url=url, headers={**self.headers,
                             **self.first_hop_headers}, cookies=self.cookies)
        except requests.exceptions.RequestException as exc:
            raise RefusedURLError(f"refused {url}: {_one_line(exc)}", url=url) from None
        sent_url = prepared.url or url
        parts = urlsplit(sent_url)
        https = parts.scheme == "https"
        host, port = parts.hostname or "", parts.port or (443 if https else 80)
        origin: Origin = (parts.scheme, host, port)
        pool = self.pool
        while True:
            raw_file, body_file = self.spool.pair()
            wire = Wire(sent_url, policy, self.deadline, raw_file)
            conn = WireConnection(host, port, wire, self.tls if https else None,
                                   policy.read_timeout, pool, origin)
            started_at = self.clock()
            idle: IdleConnection | None = None
            keep = False
            try:
                try:
                    conn.putrequest("GET", prepared.path_url, skip_accept_encoding=True)
                    for name, value in prepared.headers.items():
                        conn.putheader(name, value)
                    conn.endheaders()
                    response = conn.getresponse()
                except Exception as exc:
                    error = _pre_response_error(exc, wire, sent_url)
                    wire.finish()
                    raw_file.discard()  # no response: nothing of it is kept
                    if conn.reused and wire.raw.size == 0 and not wire.deadline_hit:
                        # The server closed the kept connection as we sent: the request
                        # went nowhere; send it again on a fresh connection.
                        body_file.discard()
                        pool = None
                        continue
                    raise error from (None if error is exc else exc)
                try:
                    # requests' adapters: the cookie policy reads the URL and headers only
                    jar, res, req = self.cookies, MockResponse(response.msg), MockRequest(prepared)
                    jar.extract_cookies(res, req)  # type: ignore[arg-type]
                    body = HashingWriter(body_file)
                    try:
                        truncated, why = _read_body(response, body, wire, policy)
                    finally:
                        body_file.close()
                    keep = truncated is None and _may_keep(response, wire)
                finally:
                    response.close()
            except BaseException:
                keep = False  # whatever failed, the connection is not handed on
                raise
            finally:
                conn.close()
                if keep and self.pool is not None:
                    idle = wire.detach(origin)
                wire.finish()
            break
        ended_at = self.clock()
        with raw_file.open() as raw:
            header_length, protocol, headers = _parse_head(raw, wire.raw.size)
        if idle is not None:
            # Reused only when the response ended exactly where its Content-Length said:
            # a byte more would be read as the start of the next response.
            assert self.pool is not None
            declared = _declared_length(response)
            if declared is not None and wire.raw.size == header_length + declared:
                self.pool.put(idle)
            else:
                idle.close()
        assert wire.remote is not None
        exchange = Exchange(
            url=sent_url, method="GET", request_bytes=bytes(wire.sent),
            response_file=raw_file, response_length=wire.raw.size,
            response_sha256=wire.raw.digest, header_length=header_length, protocol=protocol,
            status=response.status, reason=response.reason or "",
            headers=tuple(headers), body_file=body_file, body_length=body.size,
            body_sha256=body.digest, truncated=truncated, truncated_reason=why,
            started_at=started_at, ended_at=ended_at, remote_ip=wire.remote[0],
            remote_port=wire.remote[1], tls=wire.tls)
        if truncated is not None:
            exchange = _cut_to_body(exchange, bool(response.chunked))
        return exchange, _redirect_target(exchange)


def _may_keep(response: http.client.HTTPResponse, wire: Wire) -> bool:
    """The connection may carry another exchange: HTTP/1.1 without ``Connection:
    close``, a Content-Length body read to its end, nothing gone wrong on the wire."""
    return (response.version == 11 and not response.will_close and not response.chunked
            and _declared_length(response) is not None and wire.read_error is None
            and not wire.deadline_hit and not wire.raw_overflow)


def _declared_length(response: http.client.HTTPResponse) -> int | None:
    value = (response.getheader("Content-Length") or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _read_body(response: http.client.HTTPResponse, sink: HashingWriter, wire: Wire,
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
                              f"{_root_reason(wire.read_error)}")
    assert error is not None
    return "disconnect", f"connection closed before the body was complete: {_root_reason(error)}"


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


def _cut_to_body(exchange: Exchange, chunked: bool) -> Exchange:
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


def _redirect_target(exchange: Exchange) -> str | None:
    """The Location of a redirect. Header bytes are read as Latin-1; servers send UTF-8,
    so the value is re-read as UTF-8 when it is valid UTF-8 (what requests and browsers
    do)."""
    location = exchange.header("Location") if exchange.status in REDIRECT_STATUSES else None
    if location is None:
        return None
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


def _pre_response_error(exc: Exception, wire: Wire, url: str) -> FetchError:
    """Map whatever was raised before a status line into our error tree.

    Receive errors never surface as exceptions (see ``TeeSocket.recv_into``); the wire
    recorded them, so it is consulted before the exception chain.
    """
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, FetchError):
            return cause
    timed_out = any(isinstance(c, TimeoutError) for c in causes)
    if wire.deadline_hit or (timed_out and wire.remaining() <= DEADLINE_SLACK):
        return FetchTimeoutError(f"no response from {url} within the "
                                 f"{wire.policy.deadline:g} s deadline", url=url)
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or str(cause)
            return TLSError(f"TLS certificate of {url} rejected: {_one_line(why)}", url=url)
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            return TLSError(f"TLS handshake with {url} failed: {_one_line(cause)}", url=url)
    if wire.raw_overflow:
        return ProtocolError(f"{url} sent response headers larger than "
                             f"{wire.raw_limit} bytes", url=url)
    received = wire.read_error
    if isinstance(received, TimeoutError):
        return FetchTimeoutError(f"no response from {url} within the read timeout of "
                                 f"{wire.policy.read_timeout:g} s", url=url)
    if received is not None:
        return ProtocolError(f"{url} broke the connection without sending a response "
                             f"({_root_reason(received)})", url=url)
    if timed_out:
        stage = "the TLS handshake" if not wire.sent else "sending the request"
        return FetchTimeoutError(f"{url} timed out during {stage}", url=url)
    for cause in causes:
        if isinstance(cause, http.client.RemoteDisconnected | ConnectionResetError |
                      BrokenPipeError):
            return ProtocolError(f"{url} closed the connection without sending a response",
                                 url=url)
        if isinstance(cause, http.client.HTTPException):
            return ProtocolError(f"{url} did not send a valid HTTP response: "
                                 f"{type(cause).__name__} {_one_line(cause)}", url=url)
    return FetchError(f"request to {url} failed: {_root_reason(exc)}", url=url)


# --------------------------------------------------------------------------- helpers

def tls_context(verify: bool, ca_bundle: str | Path | None) -> ssl.SSLContext:
    """Shared by every Fetcher of this process with the same settings (loading a CA
    bundle takes ~25 ms; a capture makes two Fetchers per call); a changed bundle file
    (new mtime or size) is loaded afresh."""
    if not verify:
        return _load_tls_context(False, "", 0, 0)
    path = str(ca_bundle or DEFAULT_CA_BUNDLE_PATH)
    try:
        st = Path(path).stat()
        stamp = (st.st_mtime_ns, st.st_size)
        return _load_tls_context(True, path, *stamp)
    except (OSError, ssl.SSLError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        raise ConfigError(f"cannot load the CA bundle {path} ({why}); ARCHIVE_CA_BUNDLE must "
                          "name a PEM file of CA certificates", path=path) from None


@functools.lru_cache(maxsize=8)
def _load_tls_context(verify: bool, cafile: str, _mtime: int, _size: int) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])  # what we speak (urllib3 said so too)
    return context


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _retry_after(value: str, now: datetime) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _parse_head(stream: BinaryIO, size: int) -> tuple[int, str, list[tuple[str, str]]]:
    """Offset of the body, protocol and headers (as received, in order) of the final
    response block in a raw response.

    Mirrors http.client: lines end at LF, a bare CRLF or LF ends the block, and
    ``100 Continue`` blocks are skipped.
    """
    while True:
        status_line = stream.readline()
        lines: list[str] = []
        while True:
            line = stream.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            lines.append(line.decode("latin-1").rstrip("\r\n"))
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) >= 2 and parts[1] == "100" and stream.tell() < size:
            continue
        protocol = parts[0] if parts else ""
        return stream.tell(), protocol, header_pairs(lines)


def _causes(exc: BaseException) -> Iterator[BaseException]:
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


def _root_reason(exc: BaseException) -> str:
    deepest = list(_causes(exc))[-1]
    return f"{type(deepest).__name__}: {_one_line(deepest)}"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
