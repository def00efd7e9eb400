"""Run idempotency: what an orchestrator run already captured.

A retried step of the same run (the same ``run_id`` in its agent) must not capture
again what an earlier attempt committed; it may have crashed before reporting success.
This is the one record of that: the captures rows carry their run id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Engine, select

from archive.capture.results import CaptureResult
from archive.core.hashing import PREFIX
from archive.ledger.db import in_chunks, read
from archive.ledger.tables import captures, warc_files
from archive.warc.store import WarcStore


def captures_in_run(engine: Engine, store: WarcStore, run_id: str,
                    urls: Iterable[str]) -> dict[str, CaptureResult]:
    """The latest capture of each URL made by orchestrator run ``run_id``, leaving out
    transient answers (5xx, 429) that a retry is meant to fetch again."""
    found: dict[str, CaptureResult] = {}
    with read(engine) as conn:
        for chunk in in_chunks(urls):
            rows = conn.execute(
                select(captures, warc_files.c.relpath, warc_files.c.sha256.label("wsha"))
                .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
                .where(captures.c.run_id == run_id, captures.c.url.in_(chunk))
                .order_by(captures.c.id)).all()
            for r in rows:
                if r.http_status is not None and (r.http_status >= 500 or
                                                  r.http_status == 429):
                    found.pop(r.url, None)
                    continue
                found[r.url] = CaptureResult(
                    capture_id=PREFIX + r.capture_id,
                    content_hash=PREFIX + r.content_hash if r.content_hash else None,
                    url=r.url, final_url=r.final_url, kind=r.kind, status=r.status,
                    http_status=r.http_status, content_type=r.content_type,
                    started_at=r.started_at, warc_path=str(store.root / r.relpath),
                    warc_sha256=PREFIX + r.wsha,
                    revisit_of=PREFIX + r.revisit_of if r.revisit_of else None,
                    problems=tuple(json.loads(r.provenance).get("capture", {})
                                   .get("problems", [])))
    return found
