"""What a capture returns: a stored capture or a recorded failure (frozen, with
the JSON the CLI and the pipeline show).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archive.errors import ArchiveError, FetchError, RedirectError, RefusedURLError, TLSError


@dataclass(frozen=True)
class CaptureResult:
    """One stored capture, as the CLI, the API and Dagster report it."""

    capture_id: str
    content_hash: str | None
    url: str
    final_url: str | None
    kind: str
    status: str
    http_status: int | None
    content_type: str | None
    started_at: str
    warc_path: str
    warc_sha256: str
    revisit_of: str | None = None
    problems: tuple[str, ...] = ()
    mode: str | None = None  # html | page | browser (None: not fetched)
    requisites_captured: int | None = None  # page and browser modes
    requisites_failed: int | None = None
    screenshot: str | None = None  # browser mode: the screenshot's sha256

    @property
    def ok(self) -> bool:
        return self.status in ("complete", "revisit")

    def to_json(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id, "content_hash": self.content_hash, "url": self.url,
            "final_url": self.final_url, "kind": self.kind, "status": self.status,
            "http_status": self.http_status, "content_type": self.content_type,
            "captured_at": self.started_at, "warc_path": self.warc_path,
            "warc_sha256": self.warc_sha256, "revisit_of": self.revisit_of,
            "problems": list(self.problems), "mode": self.mode,
            "requisites_captured": self.requisites_captured,
            "requisites_failed": self.requisites_failed, "screenshot": self.screenshot,
        }


@dataclass(frozen=True)
class CaptureFailure:
    """A URL that produced no HTTP response at all (refused, DNS, TLS, timeout...)."""

    url: str
    error: ArchiveError

    ok = False
    status = "failed"

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": "failed", **self.error.to_dict()}


Outcome = CaptureResult | CaptureFailure

PERMANENT_FETCH_ERRORS: tuple[type[FetchError], ...] = (RefusedURLError, TLSError, RedirectError)
"""Failures a later attempt would meet again: a refused URL (netguard, robots.txt), a
TLS failure, a redirect loop."""


def is_transient_status(http_status: int | None) -> bool:
    """A stored answer worth fetching again later: a 5xx the fetcher's own quick
    retries did not get past. Never a 4xx: the fetcher already waited out a 429's
    Retry-After, and a 404 is an answer."""
    return http_status is not None and http_status >= 500


def is_transient(outcome: Outcome) -> bool:
    """Worth retrying later: no response at all (timeouts, refused connections, DNS,
    dropped connections) or a transient HTTP status. Never a permanent failure
    (:data:`PERMANENT_FETCH_ERRORS`): those are recorded as they are."""
    if isinstance(outcome, CaptureFailure):
        return not isinstance(outcome.error, PERMANENT_FETCH_ERRORS)
    return is_transient_status(outcome.http_status)
