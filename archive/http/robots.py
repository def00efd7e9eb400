"""robots.txt, respected by default (RFC 9309), overridable per URL with a reason.

robots.txt is fetched through the same guarded fetcher as everything else (so the
SSRF checks apply) and cached per scheme+host for one capture run. RFC 9309 2.3.1:
a 4xx answer means no rules (allowed); an unreachable server or a 5xx means "assume
complete disallow". The decision and what it rested on go into the capture's
provenance, so an archive can show why a page was or was not fetched.

A host that cannot be reached at all (the SSRF guard refuses its address, its name does
not resolve, it refuses the connection, its TLS certificate is rejected) is not a
robots.txt question: the page would fail the same way, so that error is raised as
itself, naming the page, instead of a robots.txt refusal that blames the wrong thing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from archive.core.config import FetchPolicy
from archive.core.content import decode_body
from archive.errors import ConnectError, DNSError, FetchError, RefusedURLError, TLSError
from archive.http.fetch import Fetcher

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: crawlers must parse at least 500 KiB
# failures that say the host cannot be reached at all (see the module docstring)
_HOST_FAILURES = (RefusedURLError, DNSError, ConnectError, TLSError)


@dataclass(frozen=True)
class RobotsDecision:
    allowed: bool
    robots_url: str
    status: int | None  # HTTP status of robots.txt, None when unreachable
    sha256: str | None  # of the robots.txt body we parsed
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Robots:
    def __init__(self, policy: FetchPolicy, *, ca_bundle: str | None = None) -> None:
        self._fetcher = Fetcher(replace(policy, max_bytes=ROBOTS_MAX_BYTES, max_retries=0,
                                        deadline=min(policy.deadline, 30.0)),
                                ca_bundle=ca_bundle, keep_alive=False)  # once per host
        self._agent = policy.user_agent
        self._cache: dict[str, tuple[RobotFileParser | None, int | None, str | None, str]] = {}
        self._unreachable: dict[str, FetchError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def check(self, url: str) -> RobotsDecision:
        """The decision for ``url``; raises the host's own error (a FetchError naming
        ``url``) when the host cannot be reached at all."""
        parts = urlsplit(url)
        base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        robots_url = base + "/robots.txt"
        with self._guard:
            lock = self._locks.setdefault(base, threading.Lock())
        with lock:
            if base not in self._cache and base not in self._unreachable:
                try:
                    self._cache[base] = self._load(robots_url)
                except _HOST_FAILURES as exc:
                    self._unreachable[base] = exc
        failure = self._unreachable.get(base)
        if failure is not None:
            raise type(failure)(failure.message.replace(robots_url, url),
                                **{**failure.context, "url": url})
        parser, status, digest, why = self._cache[base]
        if parser is None:
            allowed = status is not None and 400 <= status < 500
            return RobotsDecision(allowed, robots_url, status, digest, why)
        allowed = parser.can_fetch(self._agent, url)
        return RobotsDecision(allowed, robots_url, status, digest,
                              "allowed by robots.txt" if allowed else "disallowed by robots.txt")

    def _load(self, robots_url: str
              ) -> tuple[RobotFileParser | None, int | None, str | None, str]:
        try:
            result = self._fetcher.fetch(robots_url)
        except _HOST_FAILURES:
            raise
        except FetchError as exc:
            return None, None, None, f"robots.txt unreachable ({exc}); RFC 9309: disallow"
        with result:
            final = result.final
            if 400 <= final.status < 500:
                return None, final.status, None, f"robots.txt is HTTP {final.status}: no rules"
            if final.status >= 500 or final.truncated == "time":
                return None, final.status, None, (
                    f"robots.txt is HTTP {final.status}; RFC 9309: disallow until it is back")
            with final.open_body() as body, decode_body(
                    body, final.content_encoding, max_output=ROBOTS_MAX_BYTES,
                    max_depth=2) as decoded:
                text = decoded.read().decode("utf-8", errors="replace")
                digest = decoded.sha256
        parser = RobotFileParser(robots_url)
        parser.parse(text.splitlines())
        return parser, final.status, digest, "parsed"
