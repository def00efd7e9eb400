"""The requisites a page capture fetched or failed to, as the recorder writes them.

``page`` mode (:mod:`archive.page.fetching` finds and fetches them) and ``browser``
mode (every request the browser made) hand the recorder a :class:`PageRequisites`:
each fetched requisite's exchanges are written, request and response per hop, in the
capture's own WARC file, before the page's; each failure is listed, with its reason, in
the capture's provenance. A requisite whose payload equals the last recorded response
of its URL becomes a ``revisit`` record (found per batch by the recorder), as a page
does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from archive.browser.models import Rendering
from archive.capture.revisit import Revisit, response_payload_digest
from archive.core.config import FetchPolicy
from archive.core.hashing import sha256_bytes
from archive.errors import FetchError
from archive.http.models import Exchange, FetchResult


class GuardedFetch(Protocol):
    """Fetch one requisite under the capture's guards (robots.txt, the host's politeness
    slot, netguard, the given policy's limits); a failure is returned, never raised.
    ``follow`` False stops at the first response (browser mode: one hop at a time);
    ``headers`` are added to the first request (a revalidation's condition)."""

    def __call__(self, url: str, policy: FetchPolicy, follow: bool = True,
                 headers: Mapping[str, str] | None = None, /) -> FetchResult | FetchError: ...


@dataclass(frozen=True)
class Rendered:
    """What the browser showed, for the capture's resource records and provenance."""

    dom: bytes | None
    screenshot: bytes | None
    screenshot_size: tuple[int, int] | None
    browser_version: str
    console_errors: tuple[str, ...]
    notes: tuple[str, ...]
    complete: bool
    timings: dict[str, float]

    @classmethod
    def of(cls, r: Rendering) -> Rendered:
        t = r.timings
        return cls(r.dom, r.screenshot, r.screenshot_size, r.browser_version,
                   r.console_errors, r.notes, r.complete,
                   {"launch": t.launch, "context": t.context, "load": t.load, "idle": t.idle,
                    "scroll": t.scroll, "record": t.record, "total": t.total})

    def to_json(self, dom_target: str, screenshot_target: str) -> dict[str, Any]:
        size = self.screenshot_size
        return {
            "version": self.browser_version, "console_errors": list(self.console_errors),
            "notes": list(self.notes), "complete": self.complete, "timings": self.timings,
            "dom": {"target_uri": dom_target, "sha256": sha256_bytes(self.dom),
                    "bytes": len(self.dom)} if self.dom is not None else None,
            "screenshot": {"target_uri": screenshot_target,
                           "sha256": sha256_bytes(self.screenshot),
                           "width": size[0] if size else None,
                           "height": size[1] if size else None}
            if self.screenshot is not None else None,
        }


@dataclass(frozen=True)
class NotModified:
    """A requisite revalidated by a ``304 Not Modified``: the earlier response of this
    run it stands for (:mod:`archive.capture.revalidate`) and the condition sent."""

    original: Fetched
    asked: tuple[tuple[str, str], ...]


@dataclass
class Fetched:
    """A requisite that got an HTTP response (its records are written). ``problem``
    says why it still counts as failed (an HTTP error, a truncated body). With
    ``not_modified``, the response is a 304 and the payload is the original's."""

    url: str
    kind: str
    found_at: str
    result: FetchResult
    problem: str | None = None
    payload_digest: str = ""  # the final response's WARC payload digest
    response_id: str | None = None  # assigned by the recorder before writing
    revisit: Revisit | None = None
    not_modified: NotModified | None = None

    def __post_init__(self) -> None:
        if not self.payload_digest and self.not_modified is not None:
            self.payload_digest = self.not_modified.original.payload_digest
        if not self.payload_digest:
            self.payload_digest = response_payload_digest(self.result.exchanges[-1])

    @property
    def dedupable(self) -> bool:
        """A whole response: another capture may refer to it, or it to another."""
        final = self.result.exchanges[-1]
        return not final.truncated and final.status < 300

    def to_json(self) -> dict[str, Any]:
        final = self.result.exchanges[-1]
        return {"url": self.url, "kind": self.kind, "found_at": self.found_at,
                "final_url": self.result.final_url, "http_status": final.status,
                "content_type": final.header("content-type"), "bytes": final.body_length,
                "payload_digest": self.payload_digest,
                "revisit_of_record": self.revisit.record_id if self.revisit else None,
                "remote_ip": final.remote_ip,
                "tls_peer_certificate_sha256": final.tls.cert_sha256 if final.tls else None,
                "redirects": [ex.url for ex in self.result.exchanges[:-1]],
                "problem": self.problem,
                **({"not_modified": self._not_modified_json(final)}
                   if self.not_modified is not None else {})}

    def _not_modified_json(self, final: Exchange) -> dict[str, Any]:
        """The condition sent and the server's answer, byte for byte (its revisit record
        has no block: see :mod:`archive.capture.revalidate`)."""
        assert self.not_modified is not None
        with final.open_response() as raw:
            head = raw.read(final.header_length)
        original = self.not_modified.original.result.exchanges[-1]
        return {"asked": dict(self.not_modified.asked),
                "response_head": head.decode("latin-1"),
                "original_bytes": original.body_length}


@dataclass(frozen=True)
class Failed:
    """A requisite with nothing to write: refused (netguard, robots.txt, a scheme),
    no response (DNS, connection, time), or left out by a limit."""

    url: str
    kind: str
    found_at: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "kind": self.kind, "found_at": self.found_at,
                "reason": self.reason}


@dataclass
class PageRequisites:
    """Everything a page capture did beyond its document."""

    fetched: list[Fetched] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    rendered: Rendered | None = None  # browser mode: what the browser showed
    fallback: str | None = None  # browser mode fell back to page mode: why

    @property
    def captured_count(self) -> int:
        return sum(1 for f in self.fetched if f.problem is None)

    @property
    def failed_count(self) -> int:
        return len(self.failed) + sum(1 for f in self.fetched if f.problem is not None)

    def close(self) -> None:
        for f in self.fetched:
            f.result.close()

    def to_json(self) -> dict[str, Any]:
        """The provenance's ``requisites``: ``captured`` (whole answers), ``failed``
        (each with its ``reason``; an HTTP error's records are in the file all the same)."""
        captured = [f.to_json() for f in self.fetched if f.problem is None]
        failed = [{**f.to_json(), "reason": f.problem} for f in self.fetched
                  if f.problem is not None]
        failed += [f.to_json() for f in self.failed]
        return {"captured": captured, "failed": failed, "limits": self.limits}


__all__ = ["Failed", "Fetched", "GuardedFetch", "NotModified", "PageRequisites", "Rendered"]
