"""The fixity audit: re-hash every stored file, record one event per object.

Each WARC file is an object (identified by the SHA-256 it had when stored). The audit
classifies it as ``ok``, ``changed`` (bytes differ), or ``missing``, records a
``fixity check`` event for each (success or failure), reports files in the store that
no row knows (``untracked``), and for a damaged file names the last signed checkpoint
at which it was still known good (the newest checkpoint covering its last successful
fixity or capture event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from archive.core.hashing import sha256_stream
from archive.ledger.custody import FIXITY_CHECK, Agent, CustodyLog, NewEvent, events_for
from archive.ledger.db import read, run_write
from archive.ledger.tables import captures, checkpoints, warc_files
from archive.warc.store import MISSING, WarcStore


@dataclass
class FixityReport:
    checked: int = 0
    bytes: int = 0
    ok: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["state"] != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "bytes": self.bytes, "ok": self.ok,
                "failures": self.failures}


def audit(engine: Engine, store: WarcStore, log: CustodyLog, agent: Agent) -> FixityReport:
    report = FixityReport()
    with read(engine) as conn:
        files = conn.execute(select(warc_files).order_by(warc_files.c.id)).all()
        caps = conn.execute(select(captures.c.warc_file_id, captures.c.capture_id)).all()
    by_file: dict[int, list[str]] = {}
    for c in caps:
        by_file.setdefault(c.warc_file_id, []).append(c.capture_id)
    new_events: list[NewEvent] = []
    for f in files:
        expected = f.sha256
        report.checked += 1
        try:  # read, not asked first: an object store's HEAD would double the requests
            with store.open(f.relpath) as fh:
                actual, size = sha256_stream(fh)
        except MISSING:
            state, actual = "missing", None
        else:
            report.bytes += size
            state = "ok" if actual == expected else "changed"
        objects = [expected, *by_file.get(f.id, [])]
        detail: dict[str, Any] = {"path": f.relpath, "algorithm": "SHA-256",
                                  "expected": expected, "actual": actual, "state": state}
        result = {"path": f.relpath, "state": state, "expected": expected, "actual": actual,
                  "captures": by_file.get(f.id, [])}
        if state == "ok":
            report.ok += 1
        else:
            good = last_good_checkpoint(engine, expected)
            detail["last_good_checkpoint"] = good
            result["last_good_checkpoint"] = good
        new_events.append(NewEvent(FIXITY_CHECK, objects,
                                   "success" if state == "ok" else "failure", detail))
        report.results.append(result)
    known = {f.relpath for f in files}
    for rel in store.iter_files():
        if rel not in known and not store.in_use(rel):
            report.results.append({"path": rel, "state": "untracked",
                                   "hint": "run `archive reconcile` to adopt or quarantine"})
    for i in range(0, len(new_events), 500):  # bounded transactions on large archives
        _append(engine, log, new_events[i:i + 500], agent)
    return report


def last_good_checkpoint(engine: Engine, object_hash: str) -> dict[str, Any] | None:
    """The newest checkpoint covering the object's last successful event."""
    with read(engine) as conn:
        evs = events_for(conn, object_hash)
        good = [e for e in evs if e.outcome == "success"]
        if not good:
            return None
        seq = good[-1].seq
        q = select(checkpoints).where(checkpoints.c.size > seq)
        failed = [e.seq for e in evs if e.outcome == "failure" and e.seq > seq]
        if failed:  # a checkpoint that already includes a failed check is not "still good"
            q = q.where(checkpoints.c.size <= failed[0])
        row = conn.execute(q.order_by(checkpoints.c.id.desc()).limit(1)).first()
    if row is None:
        return {"event_seq": seq, "checkpoint": None,
                "note": "no checkpoint was signed after the last good check"}
    return {"event_seq": seq, "checkpoint": row.id, "size": row.size,
            "root_hash": row.root_hash, "created_at": row.created_at}


def _append(engine: Engine, log: CustodyLog, chunk: list[NewEvent], agent: Agent) -> None:
    run_write(engine, lambda conn: log.append(conn, chunk, agent))
