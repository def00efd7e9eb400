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

import contextlib
import functools
import heapq
import http.client
import io
import ipaddress
import itertools
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
from requests.cookies import MockRequest, MockResponse, RequestsCookieJar
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from archive.core.config import FetchPolicy
from archive.core.hashing import HashingWriter, sha256_bytes, sha256_stream
from archive.core.timeutil import Clock, utc_now
from archive.errors import (
    ConfigError,
    ConnectError,
    FetchError,
    FetchTimeoutError,
    ProtocolError,
    RedirectError,
    RefusedURLError,
    TLSError,
)
from archive.http.keepalive import ConnectionPool, IdleConnection, Origin
from archive.http.netguard import check_url, resolve_and_check
from archive.http.spool import DEFAULT_MEMORY_LIMIT, Spool, SpoolFile

Truncation = Literal["length", "time", "disconnect"]

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_ENCODING = "gzip, deflate"   # only what archive.core.content can undo
HEADER_ALLOWANCE = 1024 * 1024      # raw response may exceed the body limit by this much
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_CHUNK = 64 * 1024
_MAX_CHUNK_LINE = 65537             # http.client's _MAXLINE + 1
_READ_BUFFER = 16 * 1024
_WATCHDOG_GRACE = 0.25              # the recv-level check normally fires first
_DEADLINE_SLACK = 0.05              # a socket timeout this close to the deadline is the deadline
# Acknowledge every segment at once (Linux; the kernel drops back to delayed ACKs by
# itself, so this is set before each receive). On a kept connection a server that
# holds its last small segment until the previous one is acknowledged (Nagle; nginx
# with tcp_nopush does) otherwise waits out our 40 ms delayed-ACK timer: measured on
# loopback, 1 to 6 fetches in 1,000 took 43 ms instead of 0.8.
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


# --------------------------------------------------------------------------- results

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
        return _header_pairs(head.split("\r\n")[1:])


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
        _discard(self.exchanges)
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


# --------------------------------------------------------------------------- the wire

class _DeadlineExceeded(TimeoutError):
    """The fetch's total deadline passed (recorded by recv, raised by send)."""


class _RawLimitReached(OSError):
    """The raw response reached its size limit (recorded by recv)."""


class _Watchdog:
    """One daemon thread for every exchange's deadline (a Timer thread per exchange cost
    a thread start and a cancel per page). ``arm`` returns a handle; ``disarm`` drops it.
    At its time the callback runs on the watchdog thread (it must be quick)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._callbacks: dict[int, Any] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, delay: float, callback: Any) -> int:
        handle = next(self._ids)
        with self._cond:
            self._callbacks[handle] = callback
            heapq.heappush(self._heap, (time.monotonic() + delay, handle))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="archive-fetch-watchdog",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][1] == handle:
                self._cond.notify()
        return handle

    def disarm(self, handle: int) -> None:
        with self._cond:
            self._callbacks.pop(handle, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._callbacks:
                    heapq.heappop(self._heap)  # disarmed
                if not self._heap:
                    self._cond.wait(60)
                    if not self._heap:
                        self._thread = None
                        return
                    continue
                when, handle = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                callback = self._callbacks.pop(handle, None)
            if callback is not None:
                with contextlib.suppress(Exception):
                    callback()


_WATCHDOG = _Watchdog()
# A forked child (Dagster's multiprocess executor) has no watchdog thread and may hold a
# copy of a lock taken by a thread that does not exist there: start afresh.
os.register_at_fork(after_in_child=lambda: _WATCHDOG.__init__())  # type: ignore[misc]


class _Wire:
    """Everything one exchange's connection did: bytes both ways, peer, TLS, deadline.

    Created per exchange; :meth:`finish` closes every socket it ever held.
    """

    def __init__(self, url: str, policy: FetchPolicy, deadline: float, raw: SpoolFile) -> None:
        self.url = url
        self.policy = policy
        self.deadline = deadline
        self.sent = bytearray()
        self._raw_file = raw
        self.raw = HashingWriter(raw)
        self.raw_limit = policy.max_bytes + HEADER_ALLOWANCE
        self.raw_overflow = False
        self.deadline_hit = False
        self.read_error: OSError | None = None  # first receive error; reads then see EOF
        self.remote: tuple[str, int] | None = None
        self.tls: TLSInfo | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._finished = False
        self._watchdog: int | None = None
        self._kill: socket.socket | None = None
        self._attached: socket.socket | None = None  # the socket the exchange runs on

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def deadline_error(self) -> _DeadlineExceeded:
        self.deadline_hit = True
        return _DeadlineExceeded(f"the {self.policy.deadline:g} s deadline passed")

    def connect(self, host: str, port: int,
                options: list[tuple[int, int, int | bytes]] | None) -> socket.socket:
        """Resolve, check every address, connect to a checked one; start the watchdog."""
        if self.remaining() <= 0:
            raise FetchTimeoutError(f"{self.url}: the {self.policy.deadline:g} s deadline "
                                    "passed before connecting", url=self.url)
        # An IP literal needs no DNS: getaddrinfo returns at once, so it is called
        # directly instead of through the time-bounded resolver thread.
        addresses = resolve_and_check(host, port, url=self.url,
                                      timeout=None if _is_ip_literal(host) else self.remaining(),
                                      allow_private=self.policy.allow_private_networks)
        problems: list[str] = []
        timed_out = True
        for family, ip in addresses:
            remaining = self.remaining()
            if remaining <= 0:
                break
            limit = min(self.policy.connect_timeout, remaining)
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in options or ():
                    sock.setsockopt(*option)
                sock.settimeout(limit)
                sock.connect((ip, port))
            except TimeoutError:
                sock.close()
                problems.append(f"{ip}: no answer within {limit:.1f} s")
                continue
            except OSError as exc:
                sock.close()
                timed_out = False
                problems.append(f"{ip}: {exc.strerror or exc}")
                continue
            self.remote = (ip, port)
            self._sockets.append(sock)
            # A duplicate descriptor survives the TLS wrap (which detaches ``sock``), so
            # the watchdog can stop a handshake or a send that the recv check cannot see.
            self._guard(sock.dup())
            return sock
        detail = "; ".join(problems) or f"the {self.policy.deadline:g} s deadline passed"
        if timed_out:
            raise FetchTimeoutError(f"connecting to {self.url} timed out ({detail})",
                                    url=self.url)
        raise ConnectError(f"could not connect to {self.url} ({detail})", url=self.url)

    def resume(self, idle: IdleConnection) -> socket.socket:
        """Carry on over a kept connection (no DNS, no handshake: its checks held)."""
        if self.remaining() <= 0:
            idle.close()
            raise FetchTimeoutError(f"{self.url}: the {self.policy.deadline:g} s deadline "
                                    "passed before sending", url=self.url)
        self.remote, self.tls = idle.remote, idle.tls
        self._guard(idle.kill)
        return idle.sock

    def _guard(self, kill: socket.socket) -> None:
        self._kill = kill
        self._watchdog = _WATCHDOG.arm(max(self.remaining(), 0) + _WATCHDOG_GRACE,
                                       self._expire)

    def detach(self, origin: Origin) -> IdleConnection | None:
        """Take the connection out of this exchange, open, for the next one (None when
        the deadline already ended it)."""
        with self._lock:
            if self._finished or self._kill is None or self._attached is None \
                    or self.remote is None or self.deadline_hit:
                return None
            if self._watchdog is not None:
                _WATCHDOG.disarm(self._watchdog)
                self._watchdog = None
            sock, kill = self._attached, self._kill
            self._sockets = [s for s in self._sockets if s is not sock]  # plain: listed twice
            self._attached = self._kill = None
        return IdleConnection(origin, sock, kill, self.remote, self.tls)

    def _expire(self) -> None:
        with self._lock:
            if self._finished or self._kill is None:
                return
            self.deadline_hit = True
            with contextlib.suppress(OSError):
                self._kill.shutdown(socket.SHUT_RDWR)

    def record_tls(self, sock: ssl.SSLSocket, verified: bool) -> None:
        der = sock.getpeercert(binary_form=True)
        cipher = sock.cipher()
        self.tls = TLSInfo(version=sock.version() or "unknown",
                           cipher=cipher[0] if cipher else "unknown",
                           cert_der=der, cert_sha256=sha256_bytes(der) if der else None,
                           verified=verified)

    def attach(self, sock: socket.socket) -> _TeeSocket:
        self._sockets.append(sock)
        self._attached = sock
        return _TeeSocket(sock, self)

    def record_sent(self, data: bytes) -> None:
        self.sent += data

    def record_received(self, data: memoryview) -> int:
        """Tee received bytes; returns how many fit under the raw limit."""
        room = self.raw_limit - self.raw.size
        if len(data) > room:
            self.raw.write(data[:room])
            self.raw_overflow = True
            self.read_error = _RawLimitReached(f"raw response exceeds {self.raw_limit} bytes")
            return room
        self.raw.write(data)
        return len(data)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            if self._watchdog is not None:
                _WATCHDOG.disarm(self._watchdog)
            for sock in [*self._sockets, *([self._kill] if self._kill else [])]:
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()
            self._kill = self._attached = None
        if not self._raw_file.closed:
            self._raw_file.close()


class _TeeSocket:
    """Socket stand-in for http.client: tees bytes, bounds every recv by the deadline.

    ``close`` only marks: http.client closes the connection as soon as it has the headers
    of a ``Connection: close`` response, while the body is still being read through
    :meth:`makefile`; the real sockets are closed by :meth:`_Wire.finish`.
    """

    def __init__(self, sock: socket.socket, wire: _Wire) -> None:
        self._sock = sock
        self._wire = wire
        self._timeout: float | None = sock.gettimeout()

    def settimeout(self, value: float | None) -> None:
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def _bounded_timeout(self) -> float:
        remaining = self._wire.remaining()
        if remaining <= 0:
            raise self._wire.deadline_error()
        return remaining if self._timeout is None else min(self._timeout, remaining)

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        self._sock.settimeout(self._bounded_timeout())
        self._sock.sendall(data)
        self._wire.record_sent(bytes(data))

    def recv_into(self, buffer: memoryview | bytearray, nbytes: int = 0) -> int:
        """Receive, tee and return bytes; after any error, record it and report EOF.

        Reporting EOF instead of raising keeps the bytes that arrived before a reset or
        the deadline: io.BufferedReader drops the partial data of a read that raises.
        The fetcher reads the recorded error to say why the response ended.
        """
        wire = self._wire
        if wire.read_error is not None:
            return 0
        try:
            self._sock.settimeout(self._bounded_timeout())
            if _QUICKACK is not None:  # see _QUICKACK
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            count = self._sock.recv_into(buffer, nbytes)
            if count == 0 and wire.deadline_hit:  # the watchdog shut the socket down
                raise wire.deadline_error()
        except OSError as exc:
            expired = wire.deadline_hit or wire.remaining() <= _DEADLINE_SLACK
            wire.read_error = wire.deadline_error() if expired else exc
            return 0
        return wire.record_received(memoryview(buffer)[:count])

    def recv(self, bufsize: int) -> bytes:
        buffer = bytearray(bufsize)
        count = self.recv_into(buffer, bufsize)
        return bytes(buffer[:count])

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> io.BufferedReader:
        if mode not in ("rb", "br"):
            raise ValueError(f"only binary reading is supported, not {mode!r}")
        return io.BufferedReader(_TeeReader(self), _READ_BUFFER)

    def fileno(self) -> int:
        return self._sock.fileno()

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _TeeReader(io.RawIOBase):
    def __init__(self, sock: _TeeSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


# --------------------------------------------------------------------------- http.client glue

_SOCKET_OPTIONS: list[tuple[int, int, int | bytes]] = [
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class _WireConnection(http.client.HTTPConnection):
    """One HTTP/1.1 exchange on the exchange's :class:`_Wire`: over a kept connection
    from ``pool`` when there is one, else the host is resolved and checked by the wire,
    TLS (for https) is recorded from the socket; every byte goes through the tee."""

    def __init__(self, host: str, port: int, wire: _Wire, tls: ssl.SSLContext | None,
                 read_timeout: float, pool: ConnectionPool | None, origin: Origin) -> None:
        # A trailing dot (an absolute name) is, like urllib3 and browsers do, left out of
        # the Host header and the TLS server name, and netguard looks the name up without
        # it too: the name checked is the name resolved (``localhost.`` is in no hosts file).
        super().__init__(host.rstrip("."), port)
        self.default_port = 443 if tls is not None else 80  # Host gets ":port" otherwise
        self._wire = wire
        self._tls = tls
        self._read_timeout = read_timeout
        self._pool = pool
        self.origin = origin
        self.reused = False

    def connect(self) -> None:
        wire = self._wire
        idle = self._pool.take(self.origin) if self._pool is not None else None
        if idle is not None:
            sock = wire.resume(idle)
            self.reused = True
        else:
            sock = wire.connect(self.host, self.port, _SOCKET_OPTIONS)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
                wire.record_tls(sock, verified=self._tls.verify_mode == ssl.CERT_REQUIRED)
        tee = wire.attach(sock)
        tee.settimeout(self._read_timeout)
        self.sock = tee


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
        self._tls = _tls_context(policy.verify_tls, ca_bundle)
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

    def fetch(self, url: str) -> FetchResult:
        """Fetch ``url`` following redirects; raise a FetchError if no response came."""
        started_at = self._clock()
        deadline = time.monotonic() + self.policy.deadline
        check_url(url)
        spool = Spool(self._spool_parent, self._spool_memory)
        try:
            exchanges, retries = _Run(self, spool, deadline).follow(url)
        except BaseException:
            spool.remove()
            raise
        return FetchResult(
            requested_url=url, final_url=exchanges[-1].url, exchanges=tuple(exchanges),
            attempts=1 + sum(1 for note in retries if note.retried),
            started_at=started_at, ended_at=self._clock(), policy=self.policy,
            retries=tuple(retries), _spool=spool)


class _Run:
    """State of one fetch: the redirect loop, retries and one exchange at a time."""

    def __init__(self, fetcher: Fetcher, spool: Spool, deadline: float) -> None:
        self.policy = fetcher.policy
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

    def follow(self, url: str) -> tuple[list[Exchange], list[RetryNote]]:
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
            if location is None:
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
            _discard([exchange])
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
            prepared.prepare(method="GET", url=url, headers=self.headers, cookies=self.cookies)
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
            wire = _Wire(sent_url, policy, self.deadline, raw_file)
            conn = _WireConnection(host, port, wire, self.tls if https else None,
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


def _may_keep(response: http.client.HTTPResponse, wire: _Wire) -> bool:
    """The connection may carry another exchange: HTTP/1.1 without ``Connection:
    close``, a Content-Length body read to its end, nothing gone wrong on the wire."""
    return (response.version == 11 and not response.will_close and not response.chunked
            and _declared_length(response) is not None and wire.read_error is None
            and not wire.deadline_hit and not wire.raw_overflow)


def _declared_length(response: http.client.HTTPResponse) -> int | None:
    value = (response.getheader("Content-Length") or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _read_body(response: http.client.HTTPResponse, sink: HashingWriter, wire: _Wire,
               policy: FetchPolicy) -> tuple[Truncation | None, str | None]:
    """Copy the entity body (content-coding kept) to ``sink`` within the limits.

    Returns why the body is incomplete, if it is: the size limit ("length"), the
    deadline or a read timeout ("time"), or the connection ending early ("disconnect").
    """
    limit = policy.max_bytes
    error: BaseException | None = None
    try:
        while chunk := response.read(_BODY_CHUNK):
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
        line = raw.readline(_MAX_CHUNK_LINE)
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


def _pre_response_error(exc: Exception, wire: _Wire, url: str) -> FetchError:
    """Map whatever was raised before a status line into our error tree.

    Receive errors never surface as exceptions (see ``_TeeSocket.recv_into``); the wire
    recorded them, so it is consulted before the exception chain.
    """
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, FetchError):
            return cause
    timed_out = any(isinstance(c, TimeoutError) for c in causes)
    if wire.deadline_hit or (timed_out and wire.remaining() <= _DEADLINE_SLACK):
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

def _tls_context(verify: bool, ca_bundle: str | Path | None) -> ssl.SSLContext:
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


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


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
        return stream.tell(), protocol, _header_pairs(lines)


def _header_pairs(lines: list[str]) -> list[tuple[str, str]]:
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


def _discard(exchanges: Iterable[Exchange]) -> None:
    for exchange in exchanges:
        exchange.response_file.discard()
        exchange.body_file.discard()


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
