"""Find WARC files a crash left without database rows; adopt or quarantine them.

A capture writes its file durably before its rows (see ``archive.capture.record``), so a
crash can leave (a) a ``.open`` file, complete or not, or (b) a finished file with
no rows. A complete file whose every record is digest-valid is adopted: its rows
are rebuilt from its own metadata records (which carry the capture's facts), so
the capture id is the one the interrupted run would have recorded, and the event
says it was recovered. Anything else moves to the quarantine (a folder, or a
``quarantine/`` prefix of the object store), named by its hash, with a quarantine
event. The same holds on every :class:`~archive.warc.store.WarcStore`: on an object
store the orphans are objects stored by a writer killed before its commit, and staging
files it had not uploaded yet. Nothing is ever deleted, except the temporary spool
files of captures killed mid-fetch (never custody data; see :func:`archive.http.spool.sweep`).
Running it twice changes nothing the second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from archive.capture.commit import insert_file_row
from archive.capture.prepare import Prepared, revisit_of_fact
from archive.capture.record import Recorder
from archive.core.canonical import canonical_json
from archive.core.hashing import hex_part, sha256_stream
from archive.core.timeutil import iso_utc, parse_iso, utc_now
from archive.errors import DatabaseError
from archive.http.spool import sweep
from archive.ledger.custody import METADATA_EXTRACTION, QUARANTINE, Agent, NewEvent
from archive.ledger.db import read, run_write
from archive.ledger.tables import captures, metadata_versions, warc_files
from archive.metadata.store import RECORD_TYPE
from archive.warc.reader import record_block
from archive.warc.scan import ScannedRecord, ScanReport, scan_stream
from archive.warc.store import OPEN_SUFFIX, StoredFile, WarcStore
from archive.warc.writer import WrittenRecord


@dataclass
class ReconcileReport:
    adopted: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)  # locked by a live writer: left alone
    swept: int = 0  # temporary files of killed captures removed (never custody data)
    swept_bytes: int = 0
    notes_filed: list[str] = field(default_factory=list)  # checkpoint notes written out

    @property
    def changed(self) -> bool:
        """Custody changed (files adopted or quarantined, checkpoint notes filed);
        sweeping is not a change."""
        return bool(self.adopted or self.quarantined or self.notes_filed)

    def sweep_line(self) -> str | None:
        """What the sweep did, for a person (None when there was nothing to sweep)."""
        if not self.swept:
            return None
        return (f"swept {self.swept} temporary files ({self.swept_bytes} bytes) left by "
                "killed captures or imports")

    def to_json(self) -> dict[str, Any]:
        return {"adopted": self.adopted, "quarantined": self.quarantined,
                "in_flight": self.in_flight, "notes_filed": self.notes_filed,
                "swept": {"files": self.swept, "bytes": self.swept_bytes}}


def reconcile(recorder: Recorder, agent: Agent) -> ReconcileReport:
    store = recorder.store
    report = ReconcileReport()
    report.swept, report.swept_bytes = sweep(recorder.settings.tmp_dir)
    with read(recorder.engine) as conn:
        known = {r.relpath for r in conn.execute(select(warc_files.c.relpath))}
    for rel in list(store.iter_files()):
        if rel in known:
            continue
        with store.claim(rel) as claimed:
            if not claimed:
                report.in_flight.append(rel)  # a live writer holds it until its commit
                continue
            _reconcile_one(recorder, rel, agent, report)
    return report


def _reconcile_one(recorder: Recorder, rel: str, agent: Agent,
                   report: ReconcileReport) -> None:
    store = recorder.store
    final_rel = rel.removesuffix(OPEN_SUFFIX)
    if _recorded(recorder, final_rel):  # a writer may have committed while we waited
        return
    reason = _adoptable(store, rel)
    if reason is None:
        final = store.finish(rel) if rel.endswith(OPEN_SUFFIX) else rel
        try:
            captures = _adopt(recorder, final, rel, agent)
        except DatabaseError:
            # A killed writer's COMMIT can still be reaching the database after its lock
            # is gone: its row appears under ours. Then the file is no orphan.
            if _recorded(recorder, final_rel):
                return
            raise
        report.adopted.append({"path": final, "from": rel, "captures": captures})
    else:
        report.quarantined.append(_quarantine(recorder, rel, reason, agent))


def _recorded(recorder: Recorder, relpath: str) -> bool:
    with read(recorder.engine) as conn:
        return conn.execute(select(warc_files.c.id).where(
            warc_files.c.relpath == relpath)).first() is not None


def _scan(store: WarcStore, rel: str) -> ScanReport:
    with store.open(rel) as f:
        return scan_stream(f, path=Path(rel))


def _adoptable(store: WarcStore, rel: str) -> str | None:
    """None if the file is complete and every record is digest-valid; else why not."""
    if store.size(rel) == 0:
        return "the file is empty"
    scan = _scan(store, rel)
    if scan.verdict != "valid":
        first = scan.problems[0].message if scan.problems else scan.verdict
        return f"not a complete, valid WARC ({first})"
    bad = [r for r in scan.records if r.digest_status == "fail"]
    if bad:
        return f"record {bad[0].record_id} at offset {bad[0].offset} fails its digest"
    if not scan.records or scan.records[-1].type != "metadata":
        return "the file does not end with a capture's metadata record (interrupted write)"
    return None


def _member(store: WarcStore, rel: str, rec: ScannedRecord) -> bytes:
    return record_block(store.read_range(rel, rec.offset, rec.length))


def _written(rec: ScannedRecord) -> WrittenRecord:
    # _adoptable() accepted only valid scans, where every one of these is present
    if rec.record_id is None or rec.type is None or rec.block_sha256 is None or \
            rec.content_length is None:
        raise ValueError(f"record at offset {rec.offset} lacks an id, type, length or digest")
    return WrittenRecord(
        record_id=rec.record_id, type=rec.type, target_uri=rec.target_uri, date=rec.date or "",
        offset=rec.offset, length=rec.length, content_length=rec.content_length,
        block_digest=rec.block_sha256, payload_digest=rec.payload_digest_declared)


def _adopt(recorder: Recorder, rel: str, old_rel: str, agent: Agent) -> list[str]:
    store = recorder.store
    scan = _scan(store, rel)
    stored = StoredFile(relpath=rel, name=rel.rsplit("/", 1)[-1], sha256=scan.sha256,
                        size=scan.size)
    info: WrittenRecord | None = None
    group: list[WrittenRecord] = []
    batch: list[Prepared] = []
    written: list[list[WrittenRecord]] = []
    for rec in scan.records:
        w = _written(rec)
        if rec.type == "warcinfo":
            info = w
            continue
        group.append(w)
        if rec.type != "metadata":
            continue
        prov = json.loads(_member(store, rel, rec))
        if prov.get("type") == RECORD_TYPE:  # a file of metadata versions, not captures
            return _adopt_metadata(recorder, stored, list(scan.records), old_rel, agent)
        facts = prov.get("capture")
        if not isinstance(facts, dict):
            raise ValueError(f"{rel}: metadata record {rec.record_id} has no capture facts")
        batch.append(_prepared_from(facts, prov, old_rel))
        written.append(([info] if info else []) + group)
        group = []
    moment = store.modified(rel).astimezone()
    results = run_write(recorder.engine, lambda conn: recorder.commit_rows(
        conn, stored, moment, batch, written, agent))
    return [r.capture_id for r in results]


def _adopt_metadata(recorder: Recorder, stored: StoredFile, recs: list[ScannedRecord],
                    old_rel: str, agent: Agent) -> list[str]:
    """Rebuild metadata_versions rows (and their events) from a metadata-only file."""
    docs = [(r, json.loads(_member(recorder.store, stored.relpath, r)))
            for r in recs if r.type == "metadata"]

    def work(conn: Connection) -> list[str]:
        file_pk = insert_file_row(conn, stored, utc_now())
        events, adopted = [], []
        for rec, body in docs:
            cap = conn.execute(select(captures.c.id).where(
                captures.c.capture_id == body["capture_id"])).first()
            doc = body["metadata"]
            if cap is None:
                continue
            conn.execute(insert(metadata_versions).values(
                capture_pk=cap.id, extractor=doc["extractor"],
                extractor_version=doc["extractor_version"],
                record=canonical_json(doc).decode(),
                record_sha256=rec.block_sha256,
                warc_file_id=file_pk, warc_record_id=rec.record_id,
                # when the version was made (its record's date), as `verify --deep` checks
                created_at=rec.date or iso_utc(utc_now())))
            events.append(NewEvent(METADATA_EXTRACTION,
                                   [body["capture_id"], rec.block_sha256 or ""],
                                   "success", {"extractor": doc["extractor"],
                                               "extractor_version": doc["extractor_version"],
                                               "recovered": True, "recovered_from": old_rel}))
            adopted.append(body["capture_id"])
        recorder.log.append(conn, events, agent)
        return adopted

    return run_write(recorder.engine, work)


def _prepared_from(facts: dict[str, Any], prov: dict[str, Any], old_rel: str) -> Prepared:
    return Prepared(
        url=facts["url"], kind=facts["kind"], started_at=parse_iso(facts["started_at"]),
        ended_at=parse_iso(facts["ended_at"]), content_hash=facts.get("content_hash"),
        content_type=facts.get("content_type"), status=facts["status"],
        http_status=facts.get("http_status"), final_url=facts.get("final_url"),
        provenance=prov, write=lambda _w, _i, _p: [], revisit_of=revisit_of_fact(facts),
        problems=list(facts.get("problems", [])), recovered_from=old_rel,
        run_id=prov.get("run_id") or (prov.get("agent") or {}).get("run_id"))


def _quarantine(recorder: Recorder, rel: str, reason: str, agent: Agent) -> dict[str, Any]:
    with recorder.store.open(rel) as f:
        digest, size = sha256_stream(f)
    suffix = ".warc.gz.open" if rel.endswith(OPEN_SUFFIX) else ".warc.gz"
    # never clobbers: the same bytes quarantined before keep their name, these get another
    name = recorder.store.quarantine(rel, hex_part(digest) + suffix)
    event = NewEvent(QUARANTINE, [digest], "warning",
                     {"original_path": rel, "quarantine_path": name, "size": size,
                      "reason": reason})
    run_write(recorder.engine, lambda conn: recorder.log.append(conn, [event], agent))
    return {"path": rel, "quarantined_as": name, "sha256": digest, "reason": reason}
