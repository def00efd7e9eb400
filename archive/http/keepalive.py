"""Idle HTTP/1.1 connections, kept for the next request to the same origin.

A newsroom's sources are mostly pages of a few hosts fetched one after another. Opening a
TCP (and TLS) connection for each costs both ends more than the request itself on a fast
network, and is what well-behaved crawlers (wget, Heritrix, browsers) avoid. The fetcher
puts a connection back only after an exchange that ended exactly where its response did;
the pool hands it out again only while it is younger than the idle limit and has nothing
to read (a server that closed it, or sent bytes nobody asked for, makes it readable).

Bookkeeping plus one non-blocking poll; what goes over the wire is the fetcher's.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archive.http.models import TLSInfo

Origin = tuple[str, str, int]  # scheme, host as resolved, port

IDLE_LIMIT = 2.0  # seconds; servers close idle connections after 5 s (Apache) or more
MAX_IDLE = 16


@dataclass
class IdleConnection:
    """A connection between exchanges, with what its exchanges record about it."""

    origin: Origin
    sock: socket.socket  # plain, or TLS-wrapped
    kill: socket.socket  # the duplicate descriptor a deadline watchdog shuts down
    remote: tuple[str, int]
    tls: TLSInfo | None
    idle_since: float = field(default=0.0, compare=False)

    def close(self) -> None:
        for sock in (self.sock, self.kill):
            with contextlib.suppress(OSError):
                sock.close()


def has_input(sock: socket.socket) -> bool:
    """True when reading would not block: the peer closed, reset or sent something.
    An idle HTTP connection must be silent, so any of these rules it out."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        poller = select.poll()  # not select(): descriptors above 1023 are fine here
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True  # closed under us


class ConnectionPool:
    """Idle connections of one fetcher, shared by its threads (the most recent first).

    Connections made by another process (before a fork) are never handed out: two
    processes writing to one socket would interleave their requests.
    """

    def __init__(self, *, idle_limit: float = IDLE_LIMIT, max_idle: int = MAX_IDLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_limit = idle_limit
        self.max_idle = max_idle
        self._clock = clock
        self._idle: list[IdleConnection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    def put(self, conn: IdleConnection) -> None:
        """Keep ``conn`` for reuse (closing the oldest past ``max_idle``)."""
        conn.idle_since = self._clock()
        with self._lock:
            if self._closed or os.getpid() != self._pid:
                evicted = [conn]
            else:
                self._idle.append(conn)
                evicted = self._idle[:-self.max_idle] if len(self._idle) > self.max_idle else []
                del self._idle[:len(evicted)]
        for old in evicted:
            old.close()

    def take(self, origin: Origin) -> IdleConnection | None:
        """A live idle connection to ``origin``, or None; stale ones are closed."""
        if os.getpid() != self._pid:
            return None
        now = self._clock()
        stale: list[IdleConnection] = []
        found: IdleConnection | None = None
        with self._lock:
            keep: list[IdleConnection] = []
            for conn in self._idle:
                if now - conn.idle_since > self.idle_limit:
                    stale.append(conn)
                else:
                    keep.append(conn)
            for i in range(len(keep) - 1, -1, -1):
                if keep[i].origin == origin:
                    found = keep.pop(i)
                    break
            self._idle = keep
        for conn in stale:
            conn.close()
        if found is not None and has_input(found.sock):
            found.close()
            return None
        return found

    def __len__(self) -> int:
        return len(self._idle)

    def close(self) -> None:
        """Close every idle connection; later ones are closed as they are put back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
