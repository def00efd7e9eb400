"""Where a URI's replayable records are: what the resolver's replay serves a reader,
from any capture's page or requisite, whatever capture mode stored it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from archive.ledger.db import read
from archive.ledger.tables import captures, records, warc_files


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """Where a replayable record of a URI is: the record a reader is served (a
    revisit's original) and the capture the entry (``date``, ``type``) belongs to."""

    date: str
    type: str
    target_uri: str
    record_id: str
    warc_file: str
    offset: int
    length: int
    capture_id: str

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date, "type": self.type, "target_uri": self.target_uri,
                "record_id": self.record_id, "warc_file": self.warc_file,
                "offset": self.offset, "length": self.length, "capture_id": self.capture_id}


REPLAYABLE = ("response", "resource")
"""Record types that hold a payload a reader can be served (a revisit points at one)."""


def records_for_uri(engine: Engine, target_uri: str) -> list[ReplayRecord]:
    """Every replayable record whose ``WARC-Target-URI`` is exactly ``target_uri``, oldest
    first, each with where its bytes are (WARC file, offset, length) and the capture it
    belongs to: any capture's page or requisite, whatever capture mode stored it. A
    revisit is served from the record it revisits (same URI, same payload digest)."""
    with read(engine) as conn:
        rows = conn.execute(
            select(records.c.record_id, records.c.type, records.c.target_uri,
                   records.c.date, records.c.offset, records.c.length,
                   records.c.payload_digest, warc_files.c.relpath, captures.c.capture_id)
            .join(warc_files, warc_files.c.id == records.c.warc_file_id)
            .join(captures, captures.c.id == records.c.capture_pk)
            .where(records.c.target_uri == target_uri,
                   records.c.type.in_((*REPLAYABLE, "revisit")))
            .order_by(records.c.date, records.c.id)).all()
    stored = {r.payload_digest: r for r in rows if r.type in REPLAYABLE}
    out = []
    for r in rows:
        src = r if r.type in REPLAYABLE else stored.get(r.payload_digest)
        if src is None:
            continue  # a revisit of a payload this URI never stored: nothing to serve
        out.append(ReplayRecord(r.date, r.type, r.target_uri, src.record_id, src.relpath,
                                src.offset, src.length, r.capture_id))
    return out


__all__ = ["REPLAYABLE", "ReplayRecord", "records_for_uri"]
