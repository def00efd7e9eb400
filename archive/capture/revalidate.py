"""Shared requisites checked with a conditional request instead of fetched again.

An outlet's stylesheet, script and logo are the same on every page of a run. Within
one run (one :class:`~archive.capture.scheduler.CaptureSession`: one ``capture`` call,
or one worker process across all its chunks), :class:`RequisiteCache` remembers each
whole requisite response that carried a strong validator. The next page that needs
the URL asks again with ``If-None-Match`` (or ``If-Modified-Since``); a
``304 Not Modified`` is recorded as a ``revisit`` record with the WARC 1.1
``server-not-modified`` profile, referring to the earlier response record, whose
payload the server has just said is still current. A ``200`` (changed, or a server
that ignores conditions) is recorded in full as before, and replaces the entry.

So every capture still proves what its page needed, at its own time: the request it
sent (a ``request`` record with the condition), the server's answer (the ``304``'s
status line and headers in the capture's provenance; see below) and the digest of the
payload that answer stands for (the revisit's ``WARC-Payload-Digest``, listed in the
manifest like every record's).

Decisions, and why:

* **Only strong validators.** A strong ``ETag`` is sent as ``If-None-Match``; without
  one, ``Last-Modified`` is sent as ``If-Modified-Since`` only if it is at least 60 s
  older than the response's ``Date`` (RFC 9110 §8.8.2.2: only then may it be taken as
  strong). A weak ``ETag`` (``W/``) or a fresh ``Last-Modified`` only promise a
  *semantically* equal representation, not the same bytes, and a capture lists the
  bytes' digest: such a requisite is fetched again in full.
* **No validators: fetched again, never reused unasked.** Reusing a response for a
  while without asking (what wget does for a whole run) would put in a capture a
  record of an exchange that never happened at its time; a capture claims what the
  server sent for it. The full response costs bytes on the wire, not in the store: an
  identical payload is still written as an ``identical-payload-digest`` revisit.
* **A 304 revisit's block is empty** (WARC 1.1 allows a revisit without a block,
  ``Content-Length: 0``). With the ``304`` headers as its block, pywb (2.10, like
  ukwa-pywb issue 40) replays the ``304`` with an empty body instead of the payload:
  a revisit's own HTTP headers win, and a ``3xx`` is served as is. Empty, replay takes
  the original's headers and payload. The ``304``'s exact status line and headers are
  kept in the capture's provenance (``requisites.captured[].not_modified``), which its
  metadata record holds and the manifest commits to.
* **Learned when the page is settled**, on the engine's one thread, in the order pages
  are written: an entry's original is always written in the same file before its
  revisits or in a file written earlier in the run, so a revisit never points at a
  record that is not (or not yet) stored. A batch that fails to write ends the run.
* Only single-hop ``200`` answers are remembered (a redirected requisite is fetched as
  before); the cache holds at most :data:`MAX_ENTRIES` URLs, oldest dropped first.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime

from archive.capture.prepare import Prepared
from archive.capture.revisit import Revisit
from archive.capture.subresources import Fetched, PageRequisites
from archive.http.models import Exchange
from archive.warc.writer import warc_date

MAX_ENTRIES = 4096
STRONG_AFTER = timedelta(seconds=60)  # RFC 9110 §8.8.2.2


@dataclass(frozen=True)
class Known:
    """A requisite's last whole response in this run, and how to ask whether it changed."""

    url: str
    conditions: tuple[tuple[str, str], ...]  # request headers to send
    etag: str | None
    original: Fetched  # its revisit target is resolved when the revisit is written

    def headers(self) -> dict[str, str]:
        return dict(self.conditions)

    def confirmed_by(self, answer: Exchange) -> bool:
        """``answer`` is a 304 for this URL that does not name another representation."""
        if answer.status != 304 or answer.url != self.url:
            return False
        etag = answer.header("etag")
        return etag is None or self.etag is None or etag.strip() == self.etag


class RequisiteCache:
    """The requisites of one run that may be revalidated (see the module docstring).
    Read from fetch threads, written by the engine's thread: under a lock."""

    def __init__(self) -> None:
        self._known: dict[str, Known] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def get(self, url: str) -> Known | None:
        with self._lock:
            return self._known.get(url)

    def learn(self, found: PageRequisites) -> None:
        """What a settled page's requisites say: a whole answer with a strong validator
        is remembered, a 304 keeps its entry, anything else forgets the URL."""
        with self._lock:
            for f in found.fetched:
                if f.not_modified is not None:
                    continue
                known = _knowable(f)
                self._known.pop(f.url, None)
                if known is not None:
                    if len(self._known) >= MAX_ENTRIES:
                        self._known.pop(next(iter(self._known)))
                    self._known[f.url] = known


def original_record(original: Fetched) -> Revisit:
    """The response record an original's payload is in: its own, or the one it revisits
    (an identical payload stored earlier). Call once the original has been given its
    record id (by the recorder, when its file is written)."""
    if original.revisit is not None:
        return original.revisit
    final = original.result.exchanges[-1]
    assert original.response_id is not None, "revisit of a requisite never written"
    return Revisit("", original.response_id, final.url, warc_date(final.started_at))


def resolve_not_modified(batch: Sequence[Prepared]) -> None:
    """Point each 304 requisite of ``batch`` at its original's response record (the
    recorder calls this once the batch's own records have their ids)."""
    for p in batch:
        for f in p.requisites.fetched if p.requisites is not None else ():
            if f.not_modified is not None:
                f.revisit = original_record(f.not_modified.original)


def _knowable(f: Fetched) -> Known | None:
    exchanges = f.result.exchanges
    final = exchanges[-1]
    if len(exchanges) != 1 or final.status != 200 or final.truncated or f.problem \
            or final.url != f.url:
        return None
    etag = (final.header("etag") or "").strip()
    if etag.startswith('"') and etag.endswith('"') and len(etag) >= 2:
        return Known(f.url, (("If-None-Match", etag),), etag, f)
    modified = final.header("last-modified")
    if not modified or etag:  # a weak (or malformed) ETag: no strong validator
        return None
    try:
        when = parsedate_to_datetime(modified)
        date = parsedate_to_datetime(final.header("date") or "")
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None or date.tzinfo is None or date - when < STRONG_AFTER:
        return None
    return Known(f.url, (("If-Modified-Since", modified.strip()),), None, f)


__all__ = ["MAX_ENTRIES", "Known", "RequisiteCache", "original_record",
           "resolve_not_modified"]
