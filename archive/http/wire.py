"""The wire: a socket that tees every byte both ways to the exchange's spool, records
the peer and TLS facts, enforces the deadline inside ``recv``, and the
``http.client`` connection that runs over it (fresh or kept).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from typing import Any

from archive.core.config import FetchPolicy
from archive.core.hashing import HashingWriter, sha256_bytes
from archive.errors import (
    ConnectError,
    FetchTimeoutError,
)
from archive.http.deadline import WATCHDOG, DeadlineExceeded, RawLimitReached
from archive.http.keepalive import ConnectionPool, IdleConnection, Origin
from archive.http.models import TLSInfo
from archive.http.netguard import resolve_and_check
from archive.http.spool import SpoolFile

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_ENCODING = "gzip, deflate"   # only what archive.core.content can undo
HEADER_ALLOWANCE = 1024 * 1024      # raw response may exceed the body limit by this much
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
BODY_CHUNK = 64 * 1024
MAX_CHUNK_LINE = 65537             # http.client's _MAXLINE + 1
READ_BUFFER = 16 * 1024
WATCHDOG_GRACE = 0.25              # the recv-level check normally fires first
DEADLINE_SLACK = 0.05              # a socket timeout this close to the deadline is the deadline
# Acknowledge every segment at once (Linux; the kernel drops back to delayed ACKs by
# itself, so this is set before each receive). On a kept connection a server that
# holds its last small segment until the previous one is acknowledged (Nagle; nginx
# with tcp_nopush does) otherwise waits out our 40 ms delayed-ACK timer: measured on
# loopback, 1 to 6 fetches in 1,000 took 43 ms instead of 0.8.
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)

class Wire:
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

    def deadline_error(self) -> DeadlineExceeded:
        self.deadline_hit = True
        return DeadlineExceeded(f"the {self.policy.deadline:g} s deadline passed")

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
        self._watchdog = WATCHDOG.arm(max(self.remaining(), 0) + WATCHDOG_GRACE,
                                       self._expire)

    def detach(self, origin: Origin) -> IdleConnection | None:
        """Take the connection out of this exchange, open, for the next one (None when
        the deadline already ended it)."""
        with self._lock:
            if self._finished or self._kill is None or self._attached is None \
                    or self.remote is None or self.deadline_hit:
                return None
            if self._watchdog is not None:
                WATCHDOG.disarm(self._watchdog)
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

    def attach(self, sock: socket.socket) -> TeeSocket:
        self._sockets.append(sock)
        self._attached = sock
        return TeeSocket(sock, self)

    def record_sent(self, data: bytes) -> None:
        self.sent += data

    def record_received(self, data: memoryview) -> int:
        """Tee received bytes; returns how many fit under the raw limit."""
        room = self.raw_limit - self.raw.size
        if len(data) > room:
            self.raw.write(data[:room])
            self.raw_overflow = True
            self.read_error = RawLimitReached(f"raw response exceeds {self.raw_limit} bytes")
            return room
        self.raw.write(data)
        return len(data)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            if self._watchdog is not None:
                WATCHDOG.disarm(self._watchdog)
            for sock in [*self._sockets, *([self._kill] if self._kill else [])]:
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()
            self._kill = self._attached = None
        if not self._raw_file.closed:
            self._raw_file.close()


class TeeSocket:
    """Socket stand-in for http.client: tees bytes, bounds every recv by the deadline.

    ``close`` only marks: http.client closes the connection as soon as it has the headers
    of a ``Connection: close`` response, while the body is still being read through
    :meth:`makefile`; the real sockets are closed by :meth:`Wire.finish`.
    """

    def __init__(self, sock: socket.socket, wire: Wire) -> None:
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
            if QUICKACK is not None:  # see QUICKACK
                self._sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            count = self._sock.recv_into(buffer, nbytes)
            if count == 0 and wire.deadline_hit:  # the watchdog shut the socket down
                raise wire.deadline_error()
        except OSError as exc:
            expired = wire.deadline_hit or wire.remaining() <= DEADLINE_SLACK
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
        return io.BufferedReader(TeeReader(self), READ_BUFFER)

    def fileno(self) -> int:
        return self._sock.fileno()

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class TeeReader(io.RawIOBase):
    def __init__(self, sock: TeeSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


# --------------------------------------------------------------------------- http.client glue

SOCKET_OPTIONS: list[tuple[int, int, int | bytes]] = [
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class WireConnection(http.client.HTTPConnection):
    """One HTTP/1.1 exchange on the exchange's :class:`Wire`: over a kept connection
    from ``pool`` when there is one, else the host is resolved and checked by the wire,
    TLS (for https) is recorded from the socket; every byte goes through the tee."""

    def __init__(self, host: str, port: int, wire: Wire, tls: ssl.SSLContext | None,
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
            sock = wire.connect(self.host, self.port, SOCKET_OPTIONS)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
                wire.record_tls(sock, verified=self._tls.verify_mode == ssl.CERT_REQUIRED)
        tee = wire.attach(sock)
        tee.settimeout(self._read_timeout)
        self.sock = tee


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
