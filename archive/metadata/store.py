"""Run the metadata extractor over stored captures and keep every version.

A version is stored three ways that agree: a WARC ``metadata`` record (refers to the
response or resource record it was extracted from), a ``metadata_versions`` row, and a
``metadata extraction`` custody event naming the extractor version. A capture that
already has a version from the same extractor version is left alone, so re-running is
cheap and a newer extractor adds a version without touching the old ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from archive import metadata as md
from archive.capture.commit import insert_file_row
from archive.capture.processes import worker_context
from archive.capture.record import Recorder
from archive.core.canonical import canonical_json
from archive.core.hashing import sha256_bytes
from archive.core.timeutil import iso_utc, parse_iso
from archive.errors import DatabaseError, MetadataError, NotFoundError
from archive.ledger.custody import METADATA_EXTRACTION, Agent, NewEvent, events_for
from archive.ledger.db import in_chunks, read, run_write
from archive.ledger.tables import captures, metadata_versions
from archive.metadata.inputs import payload_of, previous_captures, source_records
from archive.metadata.schema import errors as schema_errors
from archive.metadata.textdiff import article_sentences, comparison
from archive.warc.writer import (
    ARTICLE_METADATA,
    Block,
    WarcWriter,
    about_uri,
    warc_date,
    warc_fields,
)

RECORD_TYPE = "provenance-archive/article-metadata"


def record_body(capture_id: str, content_hash: str | None, record: str) -> bytes:
    """A metadata version's WARC record: the canonical JSON of its type, the capture's
    id and content hash and ``record``, the version's own canonical JSON as its row
    keeps it, which goes in as it is (keys in JCS order: capture_id, content_hash,
    metadata, type). ``archive verify`` rebuilds each record from its row with this."""
    return b"".join((b'{"capture_id":', canonical_json(capture_id), b',"content_hash":',
                     canonical_json(content_hash), b',"metadata":', record.encode("utf-8"),
                     b',"type":', canonical_json(RECORD_TYPE), b"}"))


@dataclass(frozen=True, slots=True)
class ExtractedMetadata:
    """A capture's current metadata record after extraction: ``stored`` says whether
    this run stored it (``new``) or found that extractor version's record already
    stored (``existing``); ``metadata_sha256`` is the hash of the stored record's WARC
    block. ``record`` is the metadata document (``schemas/metadata.schema.json``)."""

    capture_id: str
    stored: str  # "new" or "existing"
    metadata_sha256: str
    record: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**self.record, "capture_id": self.capture_id, "stored": self.stored,
                "metadata_sha256": self.metadata_sha256}


@dataclass(frozen=True, slots=True)
class MetadataVersion:
    """One stored metadata version of a capture: the extractor and its version, when
    it was stored, its hash and WARC record, and the metadata document itself."""

    extractor: str
    extractor_version: str
    created_at: str
    metadata_sha256: str
    warc_record_id: str
    record: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"extractor": self.extractor, "extractor_version": self.extractor_version,
                "created_at": self.created_at, "metadata_sha256": self.metadata_sha256,
                "warc_record_id": self.warc_record_id, "record": self.record}


@dataclass(frozen=True, slots=True)
class CaptureMetadata:
    """The stored metadata versions of one capture, oldest first (``archive metadata``)."""

    capture_id: str
    url: str
    versions: tuple[MetadataVersion, ...]

    def to_json(self) -> dict[str, Any]:
        return {"capture_id": self.capture_id, "url": self.url,
                "versions": [v.to_json() for v in self.versions]}


@dataclass(frozen=True, slots=True)
class RecordedComparison:
    """What a capture's ``metadata extraction`` event recorded of it against the capture
    of its URL before it (:func:`archive.metadata.textdiff.comparison`), and that
    event's ``seq``. A ``new`` verdict names no previous capture."""

    verdict: str
    seq: int
    previous: str | None = None
    previous_content_hash: str | None = None
    removed: int | None = None
    added: int | None = None
    diff_sha256: str | None = None

    @classmethod
    def of(cls, rec: dict[str, Any], seq: int) -> RecordedComparison:
        return cls(str(rec.get("verdict")), seq, rec.get("previous"),
                   rec.get("previous_content_hash"), rec.get("removed"), rec.get("added"),
                   rec.get("diff_sha256"))

    def to_json(self) -> dict[str, Any]:
        """The record as the event holds it (canonical JSON: keys sorted), then ``seq``."""
        if self.verdict == "new" and self.previous is None:
            return {"verdict": self.verdict, "seq": self.seq}
        return {"added": self.added, "diff_sha256": self.diff_sha256,
                "previous": self.previous, "previous_content_hash": self.previous_content_hash,
                "removed": self.removed, "verdict": self.verdict, "seq": self.seq}


@dataclass(frozen=True)
class _Job:
    capture_pk: int
    capture_id: str  # sha256:...
    content_hash: str | None
    url: str
    source_record_id: str
    document: dict[str, Any]
    comparison: dict[str, Any] | None  # textdiff.comparison against the previous capture


Extractor = Callable[..., Any]  # extract(data, *, url, content_type, capture_time) -> record


_CHUNK = 256  # captures read and extracted at a time (two chunks in memory: one in flight)
_FIRST_CHUNK = 32  # the workers wait for the first chunk: it is small, and chunks double
_MIN_PARALLEL = 32  # fewer captures than this are extracted in this process


def chunk_bounds(total: int, first: int = _FIRST_CHUNK, most: int = _CHUNK,
                 ) -> list[tuple[int, int]]:
    """(start, end) of each chunk of ``total`` captures: ``first`` (at most ``most``),
    then each twice the one before, up to ``most``. The workers extract a chunk while
    this process reads the next; reading costs about a tenth of extracting, so a chunk's
    extraction on two workers outlasts the reading of one twice its size, and the
    workers start after ``first`` captures are read instead of ``most``."""
    bounds, start, size = [], 0, max(1, min(first, most))
    while start < total:
        bounds.append((start, min(start + size, total)))
        start, size = start + size, min(size * 2, most)
    return bounds


@dataclass(frozen=True)
class _Input:
    """One capture's payload and what the extractor needs besides (picklable)."""

    data: bytes
    url: str
    content_type: str | None
    capture_time: datetime
    problem: str | None


def _compare(recorder: Recorder, conn: Connection, cap: Any, item: _Input, prev: Any,
             ) -> dict[str, Any] | None:
    """What changed in ``cap`` against ``prev``, the capture of its URL before it
    (:func:`~archive.metadata.inputs.previous_captures`; ``None`` for a capture without
    content): the record its metadata extraction event carries."""
    if cap.content_hash is None:
        return None
    if prev is None:  # the first capture of its URL: nothing to compare, nothing to parse
        return comparison(None, ())
    now = article_sentences(item.data, item.content_type)
    if prev.content_hash == cap.content_hash:
        before = now
    else:
        data, ctype, _ = payload_of(recorder, conn, prev)
        before = article_sentences(data, ctype)
    return comparison((prev.capture_id, prev.content_hash, before), now)


def _extract(extractor: Extractor, item: _Input) -> tuple[dict[str, Any], bool]:
    """(record JSON, whether it validates): the CPU work, in a worker process or here."""
    record = extractor(item.data, url=item.url, content_type=item.content_type,
                       capture_time=item.capture_time)
    doc: dict[str, Any] = record.to_json()
    if item.problem:
        doc["payload_problem"] = item.problem  # extraction saw no (or partial) content
    return doc, not schema_errors(doc)


def extract_and_store(recorder: Recorder, capture_ids: Sequence[str], agent: Agent,
                      *, force: bool = False, extractor: Extractor = md.extract,
                      version: str = md.EXTRACTOR_VERSION, processes: int = 1,
                      ) -> list[ExtractedMetadata]:
    """Extract metadata for each capture; store new versions in one WARC file.

    ``extractor``/``version`` default to the current extractor; passing another (an
    upgraded release) adds its version beside the stored ones. With ``processes`` > 1
    and enough captures, extraction and validation (CPU work, about 30 ms a page) run
    on that many worker processes; ``extractor`` must then be a module-level function.
    Nothing is stored unless every record validates.
    """
    jobs: list[_Job] = []
    results: dict[str, ExtractedMetadata] = {}
    pool: ProcessPoolExecutor | None = None
    work = partial(_extract, extractor)
    # One chunk in flight: the workers extract a chunk while this process reads the next.
    pending: tuple[list[Any], Any] | None = None
    try:
        for i, end in chunk_bounds(len(capture_ids)):
            todo = _read_payloads(recorder, capture_ids[i:end], version, force,
                                  results)
            if pending is not None:
                jobs += _collect(*pending)
                pending = None
            if not todo:
                continue
            if pool is None and processes > 1 and len(capture_ids) - i >= _MIN_PARALLEL:
                pool = ProcessPoolExecutor(max_workers=processes, mp_context=worker_context())
            items = [t[3] for t in todo]
            if pool is None:
                jobs += _collect(todo, map(work, items))
            else:  # map submits every item now and yields results in order later
                pending = (todo, pool.map(work, items,
                                          chunksize=max(1, len(items) // (4 * processes))))
        if pending is not None:
            jobs += _collect(*pending)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if jobs:
        for r in _store(recorder, jobs, agent):
            results[r.capture_id] = r
    return [results[cid] for cid in capture_ids]


def _collect(todo: list[Any], done: Any) -> list[_Job]:
    """The jobs of one chunk, from its captures and their extraction results in order;
    a record that does not validate stops the run with every problem named."""
    jobs = []
    for (cid, cap, src, _, compared), (doc, valid) in zip(todo, done, strict=True):
        if not valid:
            try:
                md.validate(doc)
            except MetadataError as exc:
                raise MetadataError(f"metadata for {cid} does not validate: {exc}",
                                    errors=exc.errors) from exc
        jobs.append(_Job(cap.id, cap.capture_id, cap.content_hash,
                         cap.final_url or cap.url, src.record_id, doc, compared))
    return jobs


def _read_payloads(recorder: Recorder, capture_ids: Sequence[str], version: str, force: bool,
                   results: dict[str, ExtractedMetadata]
                   ) -> list[tuple[str, Any, Any, _Input, dict[str, Any] | None]]:
    """(capture id, capture row, source record row, extractor input, comparison with
    the previous capture of its URL) of each capture that still needs a ``version``
    record; those that have one go into ``results``."""
    todo = []
    with read(recorder.engine) as conn:
        caps: dict[str, Any] = {}
        for chunk in in_chunks(capture_ids):
            caps.update((c.capture_id, c) for c in conn.execute(
                select(captures).where(captures.c.capture_id.in_(chunk))))
        for cid in capture_ids:
            if cid not in caps:
                raise NotFoundError(f"no capture {cid}")
        existing: dict[int, Any] = {}
        if not force:
            for chunk in in_chunks(c.id for c in caps.values()):
                existing.update((v.capture_pk, v) for v in conn.execute(
                    select(metadata_versions).where(
                        metadata_versions.c.capture_pk.in_(chunk),
                        metadata_versions.c.extractor == md.EXTRACTOR_NAME,
                        metadata_versions.c.extractor_version == version)))
        for cid in capture_ids:
            if (version_row := existing.get(caps[cid].id)) is not None:
                results[cid] = ExtractedMetadata(
                    cid, "existing", version_row.record_sha256, json.loads(version_row.record))
        wanted = [caps[cid] for cid in dict.fromkeys(capture_ids) if cid not in results]
        sources = source_records(conn, wanted)
        previous = previous_captures(conn, [c for c in wanted if c.content_hash is not None])
        for cap in wanted:
            src = sources.get(cap.id)
            data, ctype, problem = payload_of(recorder, conn, cap, src)
            item = _Input(data, cap.final_url or cap.url, ctype, parse_iso(cap.started_at),
                          problem)
            todo.append((cap.capture_id, cap, src, item,
                         _compare(recorder, conn, cap, item, previous.get(cap.id))))
    return todo


def _store(recorder: Recorder, jobs: list[_Job], agent: Agent) -> list[ExtractedMetadata]:
    moment = recorder.clock()
    records = [canonical_json(j.document).decode() for j in jobs]  # the rows' text
    bodies = [record_body(j.capture_id, j.content_hash, r) for j, r in zip(jobs, records,
                                                                           strict=True)]
    written = []
    with recorder.store.new_file(moment, recorder.settings.hostname) as out:
        w = WarcWriter(out)
        info_id = recorder.new_id()
        w.write("warcinfo", [("WARC-Filename", out.name)], Block.of(warc_fields([
            ("software", agent.software), ("format", "WARC File Format 1.1"),
            ("description", "article metadata extracted from earlier captures")])),
            record_id=info_id, date=warc_date(moment), content_type="application/warc-fields")
        for job, body in zip(jobs, bodies, strict=True):
            written.append(w.write(
                "metadata", [("WARC-Target-URI", about_uri(ARTICLE_METADATA, job.url)),
                             ("WARC-Refers-To", job.source_record_id),
                             ("WARC-Warcinfo-ID", info_id)],
                Block.of(body), record_id=recorder.new_id(), date=warc_date(moment),
                content_type="application/json", compute_payload_digest=False))
    stored = out.stored
    assert stored is not None

    def commit(conn: Connection) -> list[ExtractedMetadata]:
        file_pk = insert_file_row(conn, stored, moment)
        out_docs: list[ExtractedMetadata] = []
        events: list[NewEvent] = []
        for job, record, body, rec in zip(jobs, records, bodies, written, strict=True):
            digest = sha256_bytes(body)
            version = job.document["extractor_version"]
            existing = conn.execute(select(metadata_versions.c.record_sha256).where(
                metadata_versions.c.capture_pk == job.capture_pk,
                metadata_versions.c.extractor == job.document["extractor"],
                metadata_versions.c.extractor_version == version)).first()
            if existing is not None:
                # Another run stored this version first. Our file stays recorded (never an
                # orphan) and the event says its record duplicates the stored version.
                events.append(NewEvent(METADATA_EXTRACTION, [job.capture_id, digest],
                                       "warning", {
                    "extractor": job.document["extractor"], "extractor_version": version,
                    "warc_file": stored.relpath, "warc_record_id": rec.record_id,
                    "duplicate_of": existing.record_sha256,
                    "note": "a concurrent run stored this extractor version first"}))
                out_docs.append(ExtractedMetadata(job.capture_id, "existing",
                                                  existing.record_sha256,
                                                  job.document))
                continue
            conn.execute(insert(metadata_versions).values(
                capture_pk=job.capture_pk, extractor=job.document["extractor"],
                extractor_version=job.document["extractor_version"],
                record=record, record_sha256=digest,
                warc_file_id=file_pk, warc_record_id=rec.record_id, created_at=iso_utc(moment)))
            objects = [job.capture_id, digest] + ([job.content_hash] if job.content_hash else [])
            fields = {k: v["value"] is not None for k, v in job.document.items()
                      if isinstance(v, dict) and "value" in v}
            events.append(NewEvent(METADATA_EXTRACTION, objects, "success", {
                "extractor": job.document["extractor"],
                "extractor_version": job.document["extractor_version"],
                "warc_file": stored.relpath, "warc_record_id": rec.record_id,
                "fields_found": sorted(k for k, found in fields.items() if found),
                **({"comparison": job.comparison} if job.comparison is not None else {})}))
            out_docs.append(ExtractedMetadata(job.capture_id, "new", digest, job.document))
        recorder.log.append(conn, events, agent)
        return out_docs

    try:
        for attempt in range(3):
            try:
                return run_write(recorder.engine, commit)
            except DatabaseError as exc:
                # PostgreSQL: a concurrent run inserted the same version between our check
                # and our insert; the next attempt sees its row and records a duplicate.
                if attempt == 2 or not isinstance(exc.__cause__, SAIntegrityError):
                    raise
        raise AssertionError("unreachable")
    finally:
        recorder.store.release(stored.relpath)


def stored_versions(recorder: Recorder, capture_id: str) -> list[MetadataVersion]:
    """Every stored version for a capture, oldest first."""
    with read(recorder.engine) as conn:
        cap = conn.execute(select(captures.c.id).where(
            captures.c.capture_id == capture_id)).first()
        if cap is None:
            raise NotFoundError(f"no capture {capture_id}")
        rows = conn.execute(select(metadata_versions).where(
            metadata_versions.c.capture_pk == cap.id).order_by(metadata_versions.c.id)).all()
    return [_version(r) for r in rows]


def latest_versions(recorder: Recorder, capture_ids: Sequence[str], *,
                    fields: Collection[str] | None = None) -> dict[str, MetadataVersion]:
    """The newest stored version of each capture in ``capture_ids`` (``sha256:<hex>``),
    keyed by capture id, in :func:`stored_versions`' form; captures without one are left
    out. Two queries per 500 ids. ``fields``: see :func:`latest_versions_in`."""
    with read(recorder.engine) as conn:
        return latest_versions_in(conn, capture_ids, fields=fields)


def latest_versions_in(conn: Connection, capture_ids: Sequence[str], *,
                       fields: Collection[str] | None = None) -> dict[str, MetadataVersion]:
    """:func:`latest_versions` in the caller's read transaction.

    ``fields``: each record keeps only these fields, each as ``{"value": ...}``, without
    its evidence (what a listing of every capture shows). Held whole, the records of
    10,000 captures kept about a million objects alive, and the garbage collector's
    passes over them were a third of the catalogue's time."""
    out: dict[str, MetadataVersion] = {}
    for chunk in in_chunks(capture_ids):
        newest = (select(func.max(metadata_versions.c.id))
                  .join(captures, captures.c.id == metadata_versions.c.capture_pk)
                  .where(captures.c.capture_id.in_(chunk))
                  .group_by(metadata_versions.c.capture_pk))
        rows = conn.execute(
            select(metadata_versions, captures.c.capture_id)
            .join(captures, captures.c.id == metadata_versions.c.capture_pk)
            .where(metadata_versions.c.id.in_(newest))).all()
        for r in rows:
            out[r.capture_id] = _version(r, fields)
    return out


def _version(r: Any, fields: Collection[str] | None = None) -> MetadataVersion:
    record = json.loads(r.record)
    if fields is not None:
        record = {k: {"value": v.get("value")} if isinstance(v, dict) else v
                  for k, v in record.items() if k in fields}
    return MetadataVersion(r.extractor, r.extractor_version, r.created_at,
                           r.record_sha256, r.warc_record_id, record)


def recorded_comparisons(recorder: Recorder, capture_ids: Sequence[str]
                         ) -> dict[str, RecordedComparison]:
    """The comparison with the previous capture of its URL that the newest ``metadata
    extraction`` event of each capture recorded (``textdiff.comparison``'s record plus
    the event's ``seq``), keyed by capture id; captures without one are left out."""
    out: dict[str, RecordedComparison] = {}
    with read(recorder.engine) as conn:
        for cid in capture_ids:
            for ev in events_for(conn, cid):
                rec = ev.detail.get("comparison")
                if ev.type == METADATA_EXTRACTION and ev.objects[:1] == (cid,) and \
                        isinstance(rec, dict):
                    out[cid] = RecordedComparison.of(rec, ev.seq)
    return out
