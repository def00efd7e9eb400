"""Finding the original a new response repeats, so that it is written as a revisit.

Two kinds, each found with one query per batch (not per page) before the batch's WARC
file is written: a page whose payload equals the last whole capture of its URL, and a
requisite (an outlet's stylesheet, its logo) whose payload equals a recorded response
of the same URL or an earlier requisite of the same batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, func, select

from archive.capture.prepare import Prepared
from archive.capture.revisit import Revisit
from archive.ledger.tables import captures, records
from archive.warc.writer import RecordIdFactory, warc_date


def find_revisits(engine: Engine, batch: Sequence[Prepared]) -> None:
    """Mark each capture whose payload is byte-identical to the last whole capture of
    its URL as a revisit of that capture's original (one query per batch, not per
    page). A truncated capture is never an original: its payload may be a prefix of a
    whole one that happens to match (a body cut short of its declared length)."""
    candidates: dict[str, list[Prepared]] = {}
    for p in batch:
        if p.payload_digest is not None and p.revisit is None:
            candidates.setdefault(p.url, []).append(p)
    if not candidates:
        return
    with engine.connect() as conn:
        latest = (select(func.max(captures.c.id))
                  .where(captures.c.url.in_(list(candidates)), captures.c.kind == "http",
                         captures.c.status != "truncated")
                  .group_by(captures.c.url))
        originals: dict[str, list[Prepared]] = {}
        for last in conn.execute(
                select(captures.c.url, captures.c.capture_id, captures.c.payload_digest,
                       captures.c.revisit_of).where(captures.c.id.in_(latest))):
            for p in candidates[last.url]:
                if p.payload_digest is not None and \
                        last.payload_digest == p.payload_digest:
                    originals.setdefault(last.revisit_of or last.capture_id, []).append(p)
        if not originals:
            return
        responses = conn.execute(
            select(captures.c.capture_id, records.c.record_id, records.c.target_uri,
                   records.c.date)
            .join(captures, captures.c.id == records.c.capture_pk)
            .where(captures.c.capture_id.in_(list(originals)),
                   records.c.type == "response")
            .order_by(records.c.id)).all()
    found = {r.capture_id: Revisit(r.capture_id, r.record_id, r.target_uri, r.date)
             for r in responses}  # the last response record of each original wins
    for original, prepared in originals.items():
        if original in found:
            for p in prepared:
                p.revisit, p.revisit_of = found[original], original
                if p.status == "complete":
                    p.status = "revisit"


def find_requisite_revisits(engine: Engine, batch: Sequence[Prepared],
                            new_id: RecordIdFactory) -> None:
    """Mark each whole requisite whose payload equals a recorded response of the same
    URL (the last one), or an earlier requisite of this batch, as a revisit of it:
    an outlet's stylesheet and logo are stored once (one query per batch)."""
    wanted = [f for p in batch if p.requisites is not None
              for f in p.requisites.fetched if f.dedupable]
    for f in wanted:
        f.response_id = new_id()
    if not wanted:
        return
    known: dict[tuple[str, str], Revisit] = {}
    digests = sorted({f.payload_digest for f in wanted})
    urls = {f.result.final_url for f in wanted}
    with engine.connect() as conn:
        for chunk in range(0, len(digests), 500):
            for r in conn.execute(
                    select(captures.c.capture_id, records.c.record_id, records.c.target_uri,
                           records.c.date, records.c.payload_digest)
                    .join(captures, captures.c.id == records.c.capture_pk)
                    .where(records.c.payload_digest.in_(digests[chunk:chunk + 500]),
                           records.c.type == "response")
                    .order_by(records.c.id)):
                if r.target_uri in urls:  # the last one of a URL and payload wins
                    known[(r.target_uri, r.payload_digest)] = Revisit(
                        r.capture_id, r.record_id, r.target_uri, r.date)
    for f in wanted:
        final = f.result.exchanges[-1]
        key = (final.url, f.payload_digest)
        if key in known:
            f.revisit = known[key]
        else:  # the original of later ones in this file
            assert f.response_id is not None
            known[key] = Revisit("", f.response_id, final.url, warc_date(final.started_at))


__all__ = ["find_requisite_revisits", "find_revisits"]
