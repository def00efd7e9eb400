"""Re-hash what is stored and compare it with what the custody database says.

Levels of checking, cheapest first:
- every WARC file's SHA-256 and size against its row (reads each file once, sequentially);
- every record of a file whose hash does not match, to name the damaged record;
  with ``deep=True`` every record of every file (block digest), in the same read;
- every capture's manifest hashes to its capture id, and every column that caches it
  (``captures``, ``warc_files``, ``records``) equals it; the ``provenance`` column hashes
  to the manifest's metadata record, and the columns cached from the provenance equal
  it (:mod:`archive.audit.verify_rows`); every ``metadata_versions`` row rebuilds the
  metadata record its custody event names (pure CPU over rows; docs/architecture.md
  lists each column); with ``deep=True`` each metadata version is also found in its
  WARC file;
- the custody chain (every entry re-hashed, every link checked), every capture named by
  its custody events and every capture an event names present; given the log's
  identity, every signed checkpoint against the tree of the leaves the chain pass
  recomputed (each event is encoded once).

How: files and captures are cut into units run on worker processes
(:mod:`archive.audit.verify_files`) while this process checks the chain; rows are
streamed, so memory does not grow with the archive beyond a few bytes per capture and
event (the ids the chain names, the Merkle tree's 64 bytes per event).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from archive.audit.verify_files import Runner, plan
from archive.audit.verify_report import Problem, VerifyReport
from archive.capture.processes import worker_context
from archive.core.hashing import digest_bytes, format_digest, is_digest, sha256_bytes
from archive.ledger.custody import (
    EVENT_TYPES,
    MESSAGE_DIGEST_CALCULATION,
    METADATA_EXTRACTION,
    RECORDING_TYPES,
    Event,
    capture_ids_named,
    check_chain,
    events_naming,
)
from archive.ledger.db import in_chunks, read
from archive.ledger.tables import captures, event_objects, metadata_versions, warc_files
from archive.warc.store import OPEN_SUFFIX, WarcStore

SMALL = 2000
"""Fewer captures than this (and under 256 MB of files) are checked in this process
when workers would be spawned: each imports the library afresh (about a second), which
costs more than it saves."""
SMALL_FORKED = 800
"""The same when workers fork (a single-threaded caller, as ``archive verify``): they
start in milliseconds. Measured on 2 CPUs, median of 8 alternating runs, the bench's
27 KB captures: 250 captures 99 ms in one process, 123 in two; 500: 190 and 187;
1,000: 351 and 269."""

Checkpoints = Callable[[Connection, bytearray], list[str]]
_TYPES = tuple(sorted(EVENT_TYPES))  # bit i of a capture's mask: an event of _TYPES[i]


def verify(engine: Engine, store: WarcStore, *, capture_ids: Iterable[str] | None = None,
           deep: bool = False, checkpoints: Checkpoints | None = None,
           processes: int | None = None) -> VerifyReport:
    """Check everything (or the captures ``capture_ids``). ``checkpoints`` (the whole
    archive only) checks the signed checkpoints given the read connection and the leaf
    hashes the chain pass recomputed (32 bytes each; the façade passes
    :func:`archive.proof.logcheck.check_checkpoints_against`): one message per problem.
    ``processes``: worker processes (default: one per CPU for a large archive)."""
    report = VerifyReport()
    wanted = list(capture_ids) if capture_ids is not None else None
    procs = _processes(engine, wanted, processes)
    runner = Runner(engine, store, procs, deep)  # workers start before our snapshot
    try:
        with read(engine) as conn:
            _verify(conn, store, runner, wanted, deep, checkpoints, procs, report)
    finally:
        runner.close()
    return report


def _processes(engine: Engine, wanted: list[str] | None, processes: int | None) -> int:
    if processes is not None:
        return max(1, processes)
    forked = worker_context().get_start_method() == "fork"
    cpus = os.cpu_count() or 1
    if wanted is not None and worker_count(len(wanted), 0, forked=forked, cpus=cpus) == 1:
        return 1  # too few captures asked for: the archive's size does not matter
    with read(engine) as conn:
        n = conn.execute(select(func.count()).select_from(captures)).scalar_one()
        size = conn.execute(select(func.coalesce(func.sum(warc_files.c.size), 0))).scalar_one()
    return worker_count(n, size, forked=forked, cpus=cpus)


def worker_count(captures: int, size: int, *, forked: bool, cpus: int) -> int:
    """Processes for verifying ``captures`` captures in ``size`` bytes of files: one
    below :data:`SMALL` (:data:`SMALL_FORKED` when workers fork) and 256 MB, else one
    per CPU, at most 8."""
    if captures < (SMALL_FORKED if forked else SMALL) and size < 256 << 20:
        return 1
    return max(1, min(cpus, 8))


def _verify(conn: Connection, store: WarcStore, runner: Runner, wanted: list[str] | None,
            deep: bool, checkpoints: Checkpoints | None, procs: int, report: VerifyReport,
            ) -> None:
    files = {f.id: f for f in conn.execute(select(warc_files).order_by(warc_files.c.id))}
    pks: list[int] | None = None
    lo, hi = conn.execute(select(func.min(captures.c.id), func.max(captures.c.id))).one()
    lo, hi = (lo or 0), (hi if hi is not None else -1)
    to_hash = list(files.values())
    if wanted is not None:
        rows = [r for chunk in in_chunks(wanted)
                for r in conn.execute(select(captures.c.id, captures.c.capture_id,
                                             captures.c.warc_file_id)
                                      .where(captures.c.capture_id.in_(chunk)))]
        pks = sorted(r.id for r in rows)
        fids = {r.warc_file_id for r in rows} | {
            v.warc_file_id for chunk in in_chunks(pks) for v in conn.execute(
                select(metadata_versions.c.warc_file_id)
                .where(metadata_versions.c.capture_pk.in_(chunk)))}
        to_hash = [files[i] for i in sorted(fids) if i in files]
        wanted = [r.capture_id for r in sorted(rows, key=lambda r: r.id)]
    results = runner.run(conn, plan(to_hash, lo, hi, pks, procs))

    named: dict[bytes | str, int] = {}  # capture id -> bit mask of event types naming it
    meta_events: dict[str, list[Event]] = {}  # capture id -> its metadata extractions
    index = _IndexCheck(conn, report)

    def observe(ev: Event) -> None:
        index.add(ev)
        bit = 1 << _TYPES.index(ev.type) if ev.type in EVENT_TYPES else 0
        for cid in capture_ids_named(ev):
            key = _key(cid)
            named[key] = named.get(key, 0) | bit
            if ev.type == METADATA_EXTRACTION:
                meta_events.setdefault(cid, []).append(ev)

    leaves = bytearray()
    if wanted is None:
        count, chain_problems = check_chain(conn, observe,
                                            None if checkpoints is None else leaves.extend)
        index.flush()
        report.events = count
        report.problems += [Problem("chain", p.message) for p in chain_problems]
    else:
        for ev in events_naming(conn, wanted):
            observe(ev)
    failed: set[int] = set()
    content_hashes: dict[int, str | None] = {}
    for res in results():
        report.problems += res.problems
        report.files += res.files
        report.bytes += res.bytes
        report.records += res.records
        report.captures += res.captures
        failed.update(res.failed)
        content_hashes.update(res.content_hashes)
        ids = res.capture_ids
        for i in range(0, len(ids), 32):
            key = ids[i:i + 32]
            mask = named.get(key, 0)
            if wanted is None:
                named[key] = mask | 1 << len(_TYPES)  # seen in the database
            _check_named(conn, key, mask, report)
    _check_versions(conn, store, files, pks, hi, meta_events, failed, content_hashes, deep,
                    report)
    if wanted is None:
        stored = 1 << len(_TYPES)
        gone = {format_digest(k) if isinstance(k, bytes) else k: m
                for k, m in named.items() if not m & stored}
        for cid in sorted(gone):
            types = ", ".join(t for i, t in enumerate(_TYPES) if gone[cid] >> i & 1)
            report.problems.append(Problem(
                "custody", f"custody events ({types}) name capture {cid}, which is not in "
                "the database: its rows were deleted", capture_id=cid))
        known = {f.relpath for f in files.values()}
        for rel in store.iter_files():
            if rel not in known and not store.in_use(rel):
                what = "an unfinished write" if rel.endswith(OPEN_SUFFIX) else \
                    "no database row"
                report.problems.append(Problem(
                    "untracked", f"{rel}: file in the store has {what}; "
                    "run `archive reconcile` to adopt or quarantine it", path=rel))
    if checkpoints is not None and wanted is None:
        report.problems += [Problem("checkpoint", msg) for msg in checkpoints(conn, leaves)]


def _key(cid: str) -> bytes | str:
    """A capture id as 32 bytes (a third of its text's memory), or as is if not hex."""
    return digest_bytes(cid) if is_digest(cid) else cid


class _IndexCheck:
    """``event_objects`` (how `show`, bundles and the withdrawn mark find an object's
    events) is a cache of each event's hashed ``objects``: compared per batch of events
    during the chain pass, one query per batch."""

    BATCH = 5000

    def __init__(self, conn: Connection, report: VerifyReport) -> None:
        self.conn, self.report = conn, report
        self.pending: dict[int, set[str]] = {}

    def add(self, ev: Event) -> None:
        self.pending[ev.seq] = set(ev.objects)
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        lo, hi = min(self.pending), max(self.pending)
        found: dict[int, set[str]] = {}
        for seq, obj in self.conn.execute(select(event_objects.c.seq, event_objects.c.object_hash)
                                          .where(event_objects.c.seq.between(lo, hi))).all():
            found.setdefault(int(seq), set()).add(obj)
        for seq in sorted(self.pending.keys() | found.keys()):
            want, have = self.pending.get(seq, set()), found.get(seq, set())
            if want != have:
                self.report.problems.append(Problem(
                    "custody", f"event seq {seq}: the event_objects index lists "
                    f"{sorted(have)} but the event names {sorted(want)}; `show` and bundles "
                    "look events up through it: the index was edited",
                    field="event_objects.object_hash"))
        self.pending.clear()


def _check_named(conn: Connection, key: bytes, mask: int, report: VerifyReport) -> None:
    """Every capture is recorded by a capture or ingestion event and a message digest
    calculation naming its id (both are appended with its rows)."""
    types = {t for i, t in enumerate(_TYPES) if mask >> i & 1}
    missing = []
    if not types & RECORDING_TYPES:
        missing.append("capture or ingestion")
    if MESSAGE_DIGEST_CALCULATION not in types:
        missing.append(MESSAGE_DIGEST_CALCULATION)
    if missing:
        url = conn.execute(select(captures.c.url)
                           .where(captures.c.capture_id == format_digest(key))).scalar()
        who = format_digest(key)
        report.problems.append(Problem(
            "custody", f"capture {who} ({url}) has no {' and no '.join(missing)} event in "
            "the custody log: its events were deleted or it was added behind the log's back",
            capture_id=who))


def _check_versions(conn: Connection, store: WarcStore, files: dict[int, Any],
                    pks: list[int] | None, hi: int, meta_events: dict[str, list[Event]],
                    failed: set[int], content_hashes: dict[int, str | None], deep: bool,
                    report: VerifyReport) -> None:
    """Every metadata version (streamed, with its capture's id and content hash: the
    manifest's, which the capture check proved equal to the column unless it said
    otherwise) rebuilds its record; with ``deep`` it is also found in its file."""
    compared = _compared_contents(conn, meta_events)
    q = (select(metadata_versions, captures.c.capture_id.label("cap_id"),
                captures.c.content_hash.label("cap_content"))
         .join(captures, captures.c.id == metadata_versions.c.capture_pk)
         .order_by(metadata_versions.c.id))
    queries = [q.where(captures.c.id <= hi)] if pks is None else \
        [q.where(metadata_versions.c.capture_pk.in_(chunk)) for chunk in in_chunks(pks)]
    in_files: list[Any] = []
    for query in queries:
        for v in conn.execute(query):
            if v.capture_pk in failed:
                continue  # the capture itself failed; its versions cannot be rebuilt
            content = content_hashes.get(v.capture_pk, v.cap_content)
            _check_version(v, v.cap_id, content, files, meta_events, compared,
                           report)
            if deep:
                in_files.append((v.warc_file_id, v.id, v.cap_id, v.warc_record_id,
                                 v.record_sha256, v.created_at))
    if deep:
        _check_versions_in_files(store, in_files, files, report)


def _compared_contents(conn: Connection, meta_events: dict[str, list[Event]]
                       ) -> dict[str, str | None]:
    """The stored content hash of every previous capture a recorded comparison names
    (absent when no such capture is stored)."""
    named = {p for evs in meta_events.values() for e in evs
             if isinstance(e.detail.get("comparison"), dict)
             and isinstance(p := e.detail["comparison"].get("previous"), str)
             and is_digest(p)}
    out: dict[str, str | None] = {}
    for chunk in in_chunks(sorted(named)):
        for r in conn.execute(select(captures.c.capture_id, captures.c.content_hash)
                              .where(captures.c.capture_id.in_(chunk))):
            out[r.capture_id] = r.content_hash
    return out


def _check_version(v: Any, who: str, content_hash: str | None, files: dict[int, Any],
                   meta_events: dict[str, list[Event]], compared: dict[str, str | None],
                   report: VerifyReport) -> None:
    """A metadata version's row rebuilds its WARC metadata record exactly (canonical JSON
    of type, capture id, content hash and the record), whose digest a ``metadata
    extraction`` event of the capture names with the record's id and file. The event's
    comparison with the previous capture of the URL is consistent
    (:func:`archive.metadata.textdiff.comparison_problems`)."""
    # the extractor's modules: import late
    from archive.metadata.store import record_body
    from archive.metadata.textdiff import comparison_problems

    def field(name: str, actual: Any, expected: Any, source: str) -> None:
        if actual != expected:
            report.problems.append(Problem(
                "metadata", f"capture {who}: metadata version {v.id} {name} is {actual!r} "
                f"but {source} says {expected!r}; the database row was edited",
                expected=None if expected is None else str(expected),
                actual=None if actual is None else str(actual), capture_id=who, field=name))

    digest = v.record_sha256
    event = next((e for e in meta_events.get(who, ()) if digest in e.objects
                  and "duplicate_of" not in e.detail), None)
    if event is None:
        field("metadata_versions.record_sha256", digest, None,
              "no metadata extraction event of the capture (the log)")
        return
    rebuilt = sha256_bytes(record_body(who, content_hash, v.record))
    if rebuilt != digest:
        field("metadata_versions.record", f"a record hashing to {rebuilt}", digest,
              f"metadata extraction event #{event.seq}")
        return
    doc = json.loads(v.record)
    field("metadata_versions.extractor", v.extractor, doc.get("extractor"), "its record")
    field("metadata_versions.extractor_version", v.extractor_version,
          doc.get("extractor_version"), "its record")
    if "warc_record_id" in event.detail:
        field("metadata_versions.warc_record_id", v.warc_record_id,
              event.detail["warc_record_id"], f"metadata extraction event #{event.seq}")
    if "warc_file" in event.detail:
        f = files.get(v.warc_file_id)
        field("metadata_versions.warc_file_id", f.relpath if f else None,
              event.detail["warc_file"], f"metadata extraction event #{event.seq}")
    if "comparison" in event.detail:
        rec = event.detail["comparison"]
        prev = rec.get("previous") if isinstance(rec, dict) else None
        for p in comparison_problems(rec, content_hash,
                                     compared.get(prev) if isinstance(prev, str) else None):
            report.problems.append(Problem(
                "metadata", f"capture {who}: the comparison recorded by metadata extraction "
                f"event #{event.seq} is wrong: {p}", capture_id=who, field="comparison"))


def _check_versions_in_files(store: WarcStore, versions: list[Any], files: dict[int, Any],
                             report: VerifyReport) -> None:
    """``deep``: each metadata version's WARC record is in its file, with the version's
    digest and its ``created_at`` as WARC-Date (one scan per file). ``versions``:
    (file id, version id, capture id, record id, record sha256, created_at)."""
    from archive.warc.scan import scan_stream

    by_file: dict[int, list[Any]] = {}
    for v in versions:
        by_file.setdefault(v[0], []).append(v)
    for fid, vs in by_file.items():
        f = files.get(fid)
        if f is None or not store.exists(f.relpath):
            continue  # reported by the file checks
        with store.open(f.relpath) as fh:
            found = {r.record_id: r for r in scan_stream(fh).records}
        for _, vid, who, record_id, record_sha256, created_at in vs:
            rec = found.get(record_id)
            if rec is None or rec.block_sha256 != record_sha256:
                report.problems.append(Problem(
                    "metadata", f"capture {who}: metadata version {vid} names record "
                    f"{record_id} with {record_sha256} in {f.relpath}, which "
                    "holds no such record", path=f.relpath, record_id=record_id,
                    capture_id=who, field="metadata_versions.warc_record_id"))
            elif rec.date != created_at:
                report.problems.append(Problem(
                    "metadata", f"capture {who}: metadata version {vid} "
                    f"metadata_versions.created_at is {created_at!r} but its WARC record "
                    f"{record_id} is dated {rec.date!r}; the database row was edited",
                    path=f.relpath, record_id=record_id, expected=rec.date,
                    actual=created_at, capture_id=who, field="metadata_versions.created_at"))


__all__ = ["Problem", "VerifyReport", "verify"]
