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
import random
import ssl
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
from requests.cookies import MockRequest, MockResponse, RequestsCookieJar
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from archive.core.config import FetchPolicy
from archive.core.hashing import HashingWriter
from archive.core.timeutil import Clock, utc_now
from archive.errors import (
    ConfigError,
    FetchError,
    FetchTimeoutError,
    RedirectError,
    RefusedURLError,
    one_line,
)
from archive.http.body import cut_to_body, may_keep, message_end, read_body
from archive.http.failures import pre_response_error
from archive.http.keepalive import ConnectionPool, IdleConnection, Origin
from archive.http.models import Exchange, FetchResult, RetryNote, discard, header_pairs
from archive.http.netguard import check_url
from archive.http.spool import DEFAULT_MEMORY_LIMIT, Spool
from archive.http.wire import (
    ACCEPT,
    ACCEPT_ENCODING,
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
            raise RefusedURLError(f"refused {url}: {one_line(exc)}", url=url) from None
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
                    error = pre_response_error(exc, wire, sent_url)
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
                        truncated, why = read_body(response, body, wire, policy)
                    finally:
                        body_file.close()
                    keep = truncated is None and may_keep(response, wire)
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
            # Reused only when the response ended exactly where its framing said: a
            # byte more would be read as the start of the next response.
            end = message_end(response, raw, header_length) if idle is not None else None
        if idle is not None:
            assert self.pool is not None
            if end == wire.raw.size:
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
            exchange = cut_to_body(exchange, bool(response.chunked))
        return exchange, _redirect_target(exchange)


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
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
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
