"""Re-hash what is stored and compare it with what the custody database says.

Levels of checking, cheapest first:
- every WARC file's SHA-256 and size against its row (reads each file once, sequentially);
- every record of a file whose hash does not match, to name the damaged record;
  with ``deep=True`` every record of every file (block digest);
- every capture's manifest hashes to its capture id, and every column that caches it
  (``captures``, ``warc_files``, ``records``) equals it; the ``provenance`` column hashes
  to the manifest's metadata record, and the columns cached from the provenance equal
  it; every ``metadata_versions`` row rebuilds the metadata record its custody event
  names (pure CPU over rows already loaded; docs/architecture.md lists each column);
  with ``deep=True`` each metadata version is also found in its WARC file;
- the custody chain (every entry re-hashed, every link checked), every capture named by
  its custody events and every capture an event names present.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from archive.core.canonical import canonical_hash
from archive.core.hashing import is_digest, sha256_bytes, sha256_stream
from archive.ledger.custody import (
    MESSAGE_DIGEST_CALCULATION,
    METADATA_EXTRACTION,
    RECORDING_TYPES,
    Event,
    capture_ids_named,
    check_chain,
    events_for,
)
from archive.ledger.db import in_chunks, read
from archive.ledger.tables import captures, event_objects, metadata_versions, records, warc_files
from archive.warc.reader import record_block
from archive.warc.store import OPEN_SUFFIX, WarcStore

CONTENT_TYPES = ("response", "resource", "revisit")
"""Record types whose payload digest is the capture's (the last one in a manifest)."""


@dataclass(frozen=True)
class Problem:
    # file-missing | file-changed | record-changed | manifest | provenance | metadata |
    # custody | chain | checkpoint | untracked
    kind: str
    message: str
    path: str | None = None
    record_id: str | None = None
    expected: str | None = None
    actual: str | None = None
    capture_id: str | None = None  # sha256:<hex> of the capture the problem is about
    field: str | None = None  # "table.column" of a column that disagrees

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class VerifyReport:
    files: int = 0
    bytes: int = 0
    records: int = 0
    captures: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "bytes": self.bytes,
                "records": self.records, "captures": self.captures, "events": self.events,
                "problems": [p.to_json() for p in self.problems]}


def verify(engine: Engine, store: WarcStore, *, capture_ids: Iterable[str] | None = None,
           deep: bool = False) -> VerifyReport:
    report = VerifyReport()
    wanted = list(capture_ids) if capture_ids is not None else None
    with read(engine) as conn:
        cap_rows = _capture_rows(conn, wanted)
        cap_pks = [c.id for c in cap_rows]
        versions = _version_rows(conn, cap_pks if wanted is not None else None)
        file_ids = sorted({r.warc_file_id for r in cap_rows}
                          | {v.warc_file_id for v in versions}) if wanted is not None else None
        file_rows = _file_rows(conn, file_ids)
        by_file: dict[int, list[Any]] = {}
        by_capture: dict[int, list[Any]] = {}
        for r in _record_rows(conn, file_ids, cap_pks if wanted is not None else None):
            by_file.setdefault(r.warc_file_id, []).append(r)
            by_capture.setdefault(r.capture_pk, []).append(r)
        files = {f.id: f for f in file_rows}
        for f in file_rows:
            _check_file(store, f, by_file.get(f.id, []), report, deep)
        named: dict[str, set[str]] = {}  # capture id -> event types naming it
        meta_events: dict[str, list[Event]] = {}  # capture id -> its metadata extractions
        index = _IndexCheck(conn, report)

        def observe(ev: Event) -> None:
            index.add(ev)
            for cid in capture_ids_named(ev):
                named.setdefault(cid, set()).add(ev.type)
                if ev.type == METADATA_EXTRACTION:
                    meta_events.setdefault(cid, []).append(ev)

        if wanted is None:
            count, chain_problems = check_chain(conn, observe)
            index.flush()
            report.events = count
            report.problems += [Problem("chain", p.message) for p in chain_problems]
        else:
            for c in cap_rows:
                for ev in events_for(conn, c.capture_id):
                    observe(ev)
        manifests: dict[int, dict[str, Any]] = {}
        for c in cap_rows:
            manifest = _check_capture(c, files, by_capture.get(c.id, []), report)
            if manifest is not None:
                manifests[c.id] = manifest
            _check_named(c, named, report)
        caps = {c.id: c for c in cap_rows}
        compared = _compared_contents(conn, meta_events)
        for v in versions:
            _check_version(v, caps[v.capture_pk], manifests.get(v.capture_pk), files,
                           meta_events, compared, report)
        if deep:
            _check_versions_in_files(store, versions, caps, files, report)
        report.captures = len(cap_rows)
        if wanted is None:
            known_ids = {c.capture_id for c in cap_rows}
            for cid in sorted(set(named) - known_ids):
                report.problems.append(Problem(
                    "custody", f"custody events ({', '.join(sorted(named[cid]))}) name "
                    f"capture {cid}, which is not in the database: its rows were deleted",
                    capture_id=cid))
            known = {f.relpath for f in file_rows}
            for rel in store.iter_files():
                if rel not in known and not store.in_use(rel):
                    what = "an unfinished write" if rel.endswith(OPEN_SUFFIX) else \
                        "no database row"
                    report.problems.append(Problem(
                        "untracked", f"{rel}: file in the store has {what}; "
                        "run `archive reconcile` to adopt or quarantine it", path=rel))
    return report


def _capture_rows(conn: Connection, wanted: list[str] | None) -> list[Any]:
    q = select(captures).order_by(captures.c.id)
    if wanted is not None:
        q = q.where(captures.c.capture_id.in_(wanted))
    return list(conn.execute(q).all())


def _version_rows(conn: Connection, cap_pks: list[int] | None) -> list[Any]:
    q = select(metadata_versions).order_by(metadata_versions.c.id)
    if cap_pks is None:
        return list(conn.execute(q).all())
    return [r for chunk in in_chunks(cap_pks)
            for r in conn.execute(q.where(metadata_versions.c.capture_pk.in_(chunk)))]


def _record_rows(conn: Connection, file_ids: list[int] | None, cap_pks: list[int] | None,
                 ) -> list[Any]:
    """Every record row, or those of some files and captures (a row moved to another
    file is still found through its capture)."""
    q = select(records).order_by(records.c.warc_file_id, records.c.offset)
    if file_ids is None or cap_pks is None:
        return list(conn.execute(q).all())
    return list(conn.execute(q.where(records.c.warc_file_id.in_(file_ids)
                                     | records.c.capture_pk.in_(cap_pks))).all())


def _file_rows(conn: Connection, ids: list[int] | None) -> list[Any]:
    q = select(warc_files).order_by(warc_files.c.id)
    if ids is not None:
        q = q.where(warc_files.c.id.in_(ids))
    return list(conn.execute(q).all())


def _check_file(store: WarcStore, f: Any, recs: list[Any], report: VerifyReport, deep: bool,
                ) -> None:
    report.files += 1
    if not store.exists(f.relpath):
        report.problems.append(Problem(
            "file-missing", f"{f.relpath}: file is missing (expected {f.sha256})",
            path=f.relpath, expected=f.sha256))
        return
    with store.open(f.relpath) as fh:
        actual, size = sha256_stream(fh)
    report.bytes += size
    changed = actual != f.sha256
    if changed:
        report.problems.append(Problem(
            "file-changed", f"{f.relpath}: file hash is {actual}, expected {f.sha256} "
            f"({size} bytes, expected {f.size})", path=f.relpath,
            expected=f.sha256, actual=actual))
    if changed or deep:
        with store.open(f.relpath) as fh:
            for r in recs:
                report.records += 1
                problem = _check_record(fh, f.relpath, r)
                if problem:
                    report.problems.append(problem)


def _check_record(fh: Any, relpath: str, r: Any) -> Problem | None:
    """Decompress one record's gzip member and re-hash its block."""
    where = f"{relpath}: record {r.record_id} ({r.type} at offset {r.offset})"
    fh.seek(r.offset)
    try:
        block = record_block(fh.read(r.length))
    except (zlib.error, ValueError, StopIteration, UnicodeDecodeError) as exc:
        return Problem("record-changed", f"{where}: record is unreadable ({exc})",
                       path=relpath, record_id=r.record_id)
    actual = sha256_bytes(block)
    if actual != r.block_digest:
        return Problem("record-changed",
                       f"{where}: block digest is {actual}, expected {r.block_digest}",
                       path=relpath, record_id=r.record_id, expected=r.block_digest,
                       actual=actual)
    return None


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
        for r in self.conn.execute(select(event_objects.c.seq, event_objects.c.object_hash)
                                   .where(event_objects.c.seq.between(lo, hi))):
            found.setdefault(int(r.seq), set()).add(r.object_hash)
        for seq in sorted(self.pending.keys() | found.keys()):
            want, have = self.pending.get(seq, set()), found.get(seq, set())
            if want != have:
                self.report.problems.append(Problem(
                    "custody", f"event seq {seq}: the event_objects index lists "
                    f"{sorted(have)} but the event names {sorted(want)}; `show` and bundles "
                    "look events up through it: the index was edited",
                    field="event_objects.object_hash"))
        self.pending.clear()


def _check_capture(c: Any, files: dict[int, Any], recs: list[Any], report: VerifyReport,
                   ) -> dict[str, Any] | None:
    """The manifest against its capture id, then every column that caches it or the
    provenance record it commits to. Returns the manifest when it is the capture's."""
    who = c.capture_id
    manifest: dict[str, Any] = json.loads(c.manifest)
    # The column holds the manifest's canonical bytes, so hashing the text proves it; a
    # text stored some other way is canonicalised first (slower, same verdict).
    cid = sha256_bytes(c.manifest.encode("utf-8"))
    if cid != who:
        cid = canonical_hash(manifest)
    if cid != who:
        report.problems.append(Problem(
            "manifest", f"capture {who}: manifest hashes to {cid}; the "
            "manifest or the capture id was edited", expected=who, actual=cid,
            capture_id=who, field="captures.manifest"))
        return None

    def field(kind: str, name: str, actual: Any, expected: Any, source: str,
              record_id: str | None = None) -> None:
        if actual != expected:
            where = f" record {record_id}" if record_id else ""
            report.problems.append(Problem(
                kind, f"capture {who}:{where} {name} is {actual!r} but {source} says "
                f"{expected!r}; the database row was edited", record_id=record_id,
                expected=None if expected is None else str(expected),
                actual=None if actual is None else str(actual), capture_id=who, field=name))

    m = "the manifest"
    listed: list[dict[str, Any]] = manifest.get("records", [])
    payload = next((r.get("payload_digest") for r in reversed(listed)
                    if r.get("type") in CONTENT_TYPES), None)
    columns = {"url": c.url, "final_url": c.final_url, "kind": c.kind, "status": c.status,
               "http_status": c.http_status, "capture_time": c.started_at,
               "content_hash": c.content_hash, "revisit_of": c.revisit_of,
               "payload_digest": c.payload_digest}
    cached = {k: manifest.get(k) for k in columns}
    cached["payload_digest"] = payload
    if columns != cached:
        for key, actual in columns.items():
            name = "started_at" if key == "capture_time" else key
            field("manifest", f"captures.{name}", actual, cached[key], m)
    wf = manifest.get("warc_file") or {}
    f = files.get(c.warc_file_id)
    row = None if f is None else {"name": f.name, "sha256": f.sha256, "size": f.size}
    if row is None or (row["name"] != wf.get("name") and
                       (row["sha256"], row["size"]) != (wf.get("sha256"), wf.get("size"))):
        field("manifest", "captures.warc_file_id", row, wf, m)  # another file's row
    else:
        for column in ("name", "sha256", "size"):
            field("manifest", f"warc_files.{column}", row[column], wf.get(column), m)
        if f is not None and f.relpath.rsplit("/", 1)[-1] != f.name:
            field("manifest", "warc_files.relpath", f.relpath, f"…/{f.name}", m)
    _check_records(listed, recs, c.warc_file_id, field)
    _check_provenance(c, listed, field)
    return manifest


def _check_records(listed: list[dict[str, Any]], recs: list[Any], file_id: int,
                   field: Any) -> None:
    rows = {r.record_id: r for r in recs}
    m = "the manifest"
    for entry in listed:
        rid = entry.get("record_id")
        r = rows.pop(rid, None)
        if r is None:
            field("manifest", "records.record_id", None, rid, m, rid)
            continue
        if (r.type, r.target_uri, r.date, r.offset, r.length, r.block_digest,
                r.payload_digest, r.warc_file_id) == (
                entry.get("type"), entry.get("target_uri"), entry.get("date"),
                entry.get("offset"), entry.get("length"), entry.get("block_digest"),
                entry.get("payload_digest"), file_id):
            continue  # the common case, in one comparison
        for column in ("type", "target_uri", "date", "offset", "length"):
            field("manifest", f"records.{column}", getattr(r, column), entry.get(column), m,
                  rid)
        field("manifest", "records.block_digest", r.block_digest,
              entry.get("block_digest"), m, rid)
        field("manifest", "records.payload_digest", r.payload_digest,
              entry.get("payload_digest"), m, rid)
        field("manifest", "records.warc_file_id", r.warc_file_id, file_id,
              "the capture's file row", rid)
    for rid in rows:
        field("manifest", "records.record_id", rid, None, m + " (it lists no such record)",
              rid)


def _check_provenance(c: Any, listed: list[dict[str, Any]], field: Any) -> None:
    """The provenance column is the exact bytes of the capture's metadata record (its
    digest is in the manifest), so hashing it proves it without reading the file; the
    columns not in the manifest are then checked against it."""
    meta = [r for r in listed if r.get("type") == "metadata"]
    if not meta:
        return  # nothing to prove it by (never the case for captures we write)
    digest = sha256_bytes(c.provenance.encode("utf-8"))
    if digest != meta[-1].get("block_digest"):
        field("provenance", "captures.provenance", digest, meta[-1].get("block_digest"),
              f"the manifest's metadata record {meta[-1].get('record_id')}")
        return
    prov = json.loads(c.provenance)
    facts = prov.get("capture") or {}
    content = prov.get("content") or {}
    src = "the provenance metadata record"
    ctype = facts["content_type"] if "content_type" in facts else \
        content.get("declared_type", prov.get("content_type"))
    field("provenance", "captures.content_type", c.content_type, ctype, src)
    ended = facts.get("ended_at", prov.get("ended_at", prov.get("ingested_at")))
    field("provenance", "captures.ended_at", c.ended_at, ended, src)
    run_id = prov.get("run_id") or (prov.get("agent") or {}).get("run_id")
    field("provenance", "captures.run_id", c.run_id, run_id, src)


def _check_named(c: Any, named: dict[str, set[str]], report: VerifyReport) -> None:
    """Every capture is recorded by a capture or ingestion event and a message digest
    calculation naming its id (both are appended with its rows)."""
    who = c.capture_id
    types = named.get(who, set())
    missing = []
    if not types & RECORDING_TYPES:
        missing.append("capture or ingestion")
    if MESSAGE_DIGEST_CALCULATION not in types:
        missing.append(MESSAGE_DIGEST_CALCULATION)
    if missing:
        report.problems.append(Problem(
            "custody", f"capture {who} ({c.url}) has no {' and no '.join(missing)} event in "
            "the custody log: its events were deleted or it was added behind the log's back",
            capture_id=who))


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


def _check_version(v: Any, c: Any, manifest: dict[str, Any] | None, files: dict[int, Any],
                   meta_events: dict[str, list[Event]], compared: dict[str, str | None],
                   report: VerifyReport) -> None:
    """A metadata version's row rebuilds its WARC metadata record exactly (canonical JSON
    of type, capture id, content hash and the record), whose digest a ``metadata
    extraction`` event of the capture names with the record's id and file. The event's
    comparison with the previous capture of the URL is consistent
    (:func:`archive.metadata.textdiff.comparison_problems`)."""
    # the extractor's modules: import late
    from archive.metadata.store import RECORD_TYPE
    from archive.metadata.textdiff import comparison_problems

    who = c.capture_id
    if manifest is None:
        return  # the capture itself failed; its versions cannot be rebuilt

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
    content_hash = manifest.get("content_hash")
    body = ('{"capture_id":' + json.dumps(who) + ',"content_hash":'
            + json.dumps(content_hash) + ',"metadata":' + v.record + ',"type":'
            + json.dumps(RECORD_TYPE) + "}").encode("utf-8")
    rebuilt = sha256_bytes(body)
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


def _check_versions_in_files(store: WarcStore, versions: list[Any], caps: dict[int, Any],
                             files: dict[int, Any], report: VerifyReport) -> None:
    """``deep``: each metadata version's WARC record is in its file, with the version's
    digest and its ``created_at`` as WARC-Date (one scan per file)."""
    from archive.warc.scan import scan_stream

    by_file: dict[int, list[Any]] = {}
    for v in versions:
        by_file.setdefault(v.warc_file_id, []).append(v)
    for fid, vs in by_file.items():
        f = files.get(fid)
        if f is None or not store.exists(f.relpath):
            continue  # reported by the file checks
        with store.open(f.relpath) as fh:
            found = {r.record_id: r for r in scan_stream(fh).records}
        for v in vs:
            who = caps[v.capture_pk].capture_id
            rec = found.get(v.warc_record_id)
            if rec is None or rec.block_sha256 != v.record_sha256:
                report.problems.append(Problem(
                    "metadata", f"capture {who}: metadata version {v.id} names record "
                    f"{v.warc_record_id} with {v.record_sha256} in {f.relpath}, which "
                    "holds no such record", path=f.relpath, record_id=v.warc_record_id,
                    capture_id=who, field="metadata_versions.warc_record_id"))
            elif rec.date != v.created_at:
                report.problems.append(Problem(
                    "metadata", f"capture {who}: metadata version {v.id} "
                    f"metadata_versions.created_at is {v.created_at!r} but its WARC record "
                    f"{v.warc_record_id} is dated {rec.date!r}; the database row was edited",
                    path=f.relpath, record_id=v.warc_record_id, expected=rec.date,
                    actual=v.created_at, capture_id=who, field="metadata_versions.created_at"))
