"""What metadata extraction reads of a stored capture: the record to extract from (the
rendered DOM of a browser capture, else the payload's record, a revisit's original), the
payload as a reader gets it, and the capture of the same URL before it. Batched for a
pipeline step's range (a few queries per :data:`~archive.ledger.db.IN_CHUNK` captures);
:mod:`archive.metadata.store` extracts and stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from archive.browser.models import DOM_URN_KIND
from archive.capture.record import Recorder
from archive.errors import NotFoundError
from archive.ledger.db import in_chunks, read
from archive.ledger.queries import captured_before
from archive.ledger.tables import captures, records, warc_files
from archive.warc.reader import decoded_payload, read_stored

DOM_URI_PREFIX = f"urn:{DOM_URN_KIND}:"


def source_record(conn: Connection, cap: Any) -> Any:
    """The record to extract from: the rendered DOM of a browser capture (what scripts
    put on the page is there), else the response/resource record holding the capture's
    payload (a revisit's original); ``None`` when it has neither."""
    return source_records(conn, [cap]).get(cap.id)


def source_records(conn: Connection, caps: Sequence[Any]) -> dict[int, Any]:
    """:func:`source_record` of each of ``caps`` (capture rows), by capture pk, in two
    queries per :data:`~archive.ledger.db.IN_CHUNK` captures."""
    located = (records.c.record_id, records.c.offset, records.c.length, warc_files.c.relpath)
    found: dict[int, Any] = {}
    for chunk in in_chunks(c.id for c in caps):
        for row in conn.execute(
                select(records.c.capture_pk, *located)
                .join(warc_files, warc_files.c.id == records.c.warc_file_id)
                .where(records.c.capture_pk.in_(chunk), records.c.type == "resource",
                       records.c.target_uri.startswith(DOM_URI_PREFIX))
                .order_by(records.c.id)):
            found.setdefault(row.capture_pk, row)
    # The payload's record: the capture's own, or its original's for a revisit; the
    # last response/resource record of that capture (its requisites come before it).
    target = {c.id: c.revisit_of or c.capture_id for c in caps if c.id not in found}
    payload: dict[str, Any] = {}
    for chunk in in_chunks(target.values()):
        for row in conn.execute(
                select(captures.c.capture_id, *located)
                .join(captures, captures.c.id == records.c.capture_pk)
                .join(warc_files, warc_files.c.id == records.c.warc_file_id)
                .where(captures.c.capture_id.in_(chunk),
                       records.c.type.in_(("response", "resource")))
                .order_by(records.c.id.desc())):
            payload.setdefault(row.capture_id, row)
    for pk, cid in target.items():
        if cid in payload:
            found[pk] = payload[cid]
    return found


def previous_captures(conn: Connection, caps: Sequence[Any]) -> dict[int, Any]:
    """For each of ``caps`` (capture rows) that has one, the capture requested as the same
    URL just before it, with content, by capture pk; one query per
    :data:`~archive.ledger.db.IN_CHUNK` captures, plus one for the rows found. By the
    requested URL (indexed), as a source is captured again and again: ``/history`` also
    lists captures redirected to a URL, and shows which capture each recorded
    comparison names."""
    before = captures.alias("before")
    latest_before = (
        select(before.c.id).where(
            before.c.url == captures.c.url,
            before.c.content_hash.is_not(None),
            captured_before(before, captures.c.started_at, captures.c.id))
        .order_by(before.c.started_at.desc(), before.c.id.desc()).limit(1)
        .correlate(captures).scalar_subquery())
    pairs: dict[int, int] = {}
    for chunk in in_chunks(c.id for c in caps):
        pairs.update((pk, prev) for pk, prev in conn.execute(
            select(captures.c.id, latest_before).where(captures.c.id.in_(chunk)))
            if prev is not None)
    rows: dict[int, Any] = {}
    for chunk in in_chunks(pairs.values()):
        rows.update((r.id, r) for r in conn.execute(
            select(captures).where(captures.c.id.in_(chunk))))
    return {pk: rows[prev] for pk, prev in pairs.items()}


def payload_of(recorder: Recorder, conn: Connection, cap: Any, src: Any = None,
               ) -> tuple[bytes, str | None, str | None]:
    """(payload as a reader gets it, declared media type, problem) of a capture row,
    read from ``src`` when the caller has already looked up its source record."""
    src = src if src is not None else source_record(conn, cap)
    if src is None:
        raise NotFoundError(f"capture {cap.capture_id} has no response or "
                            "resource record")
    rec = read_stored(recorder.store, src.relpath, src.offset, src.length)
    with decoded_payload(rec, recorder.settings.fetch) as payload:
        data = payload.read() if payload.ok else b""
        problem = payload.error
    ctype = rec.http_header("Content-Type") if rec.http_headers is not None else \
        rec.header("Content-Type")
    return data, ctype, problem


def read_payload(recorder: Recorder, capture_id: str) -> tuple[bytes, str | None]:
    """A capture's payload as a reader gets it (codings undone, capped by the fetch
    policy) and its declared media type; a revisit gives its original's payload."""
    with read(recorder.engine) as conn:
        cap = conn.execute(select(captures).where(
            captures.c.capture_id == capture_id)).first()
        if cap is None:
            raise NotFoundError(f"no capture {capture_id}")
        data, ctype, _ = payload_of(recorder, conn, cap)
    return data, ctype


__all__ = ["DOM_URI_PREFIX", "payload_of", "previous_captures", "read_payload",
           "source_record", "source_records"]
