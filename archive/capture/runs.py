"""Run idempotency: what an orchestrator run already captured, or failed to for good.

A retried step of the same run (the same ``run_id`` in its agent) must not capture
again what an earlier attempt committed (it may have crashed before reporting
success), nor fetch again what failed permanently; only transient outcomes
(:func:`archive.capture.results.is_transient`) are fetched again. This is the one
record of that, read from the ledger: the captures rows carry their run id, and a
failure's custody event names the URL's key and carries the run's agent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, select

from archive import errors
from archive.capture.results import (
    CaptureFailure,
    CaptureResult,
    Outcome,
    is_transient,
    is_transient_status,
)
from archive.core.urls import url_key
from archive.ledger.custody import CAPTURE, row_to_event
from archive.ledger.db import in_chunks, read
from archive.ledger.queries import page_facts
from archive.ledger.tables import captures, event_objects, events, warc_files
from archive.warc.store import WarcStore


def done_in_run(engine: Engine, store: WarcStore, run_id: str,
                urls: Sequence[str]) -> dict[str, Outcome]:
    """What run ``run_id`` already settled for these URLs: its non-transient captures
    (:func:`captures_in_run`), else its permanent failures (the newest of each URL)."""
    found: dict[str, Outcome] = dict(captures_in_run(engine, store, run_id, urls))
    wanted = set(urls)
    keys = {url_key(u): u for u in wanted if u not in found}
    with read(engine) as conn:
        for chunk in in_chunks(keys):
            rows = conn.execute(
                select(events).join(event_objects, event_objects.c.seq == events.c.seq)
                .where(event_objects.c.object_hash.in_(chunk), events.c.type == CAPTURE,
                       events.c.outcome == "failure")
                .order_by(events.c.seq)).all()
            for row in rows:
                ev = row_to_event(row)
                url = ev.detail.get("url")
                if (ev.agent.get("run_id") != run_id or not isinstance(url, str)
                        or url not in wanted or url in found):
                    continue
                failure = _failure(url, ev.detail)
                if failure is not None:
                    found[url] = failure
    return found


def _failure(url: str, detail: dict[str, Any]) -> CaptureFailure | None:
    """The recorded failure as the capture reported it, if it was permanent."""
    cls = getattr(errors, str(detail.get("error")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.FetchError)):
        return None
    failure = CaptureFailure(url, cls(str(detail.get("message", "")), url=url))
    return None if is_transient(failure) else failure


def captures_in_run(engine: Engine, store: WarcStore, run_id: str,
                    urls: Iterable[str]) -> dict[str, CaptureResult]:
    """The latest capture of each URL made by orchestrator run ``run_id``, leaving out
    transient answers (:func:`is_transient_status`) that a retry is meant to fetch
    again."""
    found: dict[str, CaptureResult] = {}
    with read(engine) as conn:
        for chunk in in_chunks(urls):
            rows = conn.execute(
                select(captures, warc_files.c.relpath, warc_files.c.sha256.label("wsha"))
                .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
                .where(captures.c.run_id == run_id, captures.c.url.in_(chunk))
                .order_by(captures.c.id)).all()
            for r in rows:
                if is_transient_status(r.http_status):
                    found.pop(r.url, None)
                    continue
                prov = json.loads(r.provenance)
                found[r.url] = CaptureResult(
                    capture_id=r.capture_id, content_hash=r.content_hash,
                    url=r.url, final_url=r.final_url, kind=r.kind, status=r.status,
                    http_status=r.http_status, content_type=r.content_type,
                    started_at=r.started_at, warc_path=store.locate(r.relpath),
                    warc_sha256=r.wsha, revisit_of=r.revisit_of,
                    problems=tuple(prov.get("capture", {}).get("problems", [])),
                    **page_facts(prov))
    return found
