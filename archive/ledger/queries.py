"""Read queries over the custody database: list, resolve a hash (prefix), show
captures with their records and custody events, withdrawals, counts.

Pure reads (one connection each); what they return is what ``archive list``,
``show`` and the pipeline's checks display, every hash as ``sha256:<hex>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    exists,
    func,
    or_,
    select,
    type_coerce,
)

from archive.core.hashing import PREFIX, parse_hash
from archive.errors import AmbiguousHashError, NotFoundError
from archive.ledger.custody import (
    Event,
    Withdrawal,
    events_for,
    row_to_event,
    withdrawal_of,
    withdrawals,
)
from archive.ledger.db import in_chunks, read
from archive.ledger.tables import (
    captures,
    event_objects,
    events,
    metadata_versions,
    records,
    warc_files,
)


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """One capture as its row records it: what :func:`resolve` finds. Every hash is
    ``sha256:<hex>``; ``captured_at`` is the capture's start, UTC ISO 8601."""

    capture_id: str
    content_hash: str | None
    url: str
    final_url: str | None
    kind: str
    status: str
    http_status: int | None
    content_type: str | None
    captured_at: str
    warc_file: str
    revisit_of: str | None

    def to_json(self) -> dict[str, Any]:
        return {"capture_id": self.capture_id, "content_hash": self.content_hash,
                "url": self.url, "final_url": self.final_url, "kind": self.kind,
                "status": self.status, "http_status": self.http_status,
                "content_type": self.content_type, "captured_at": self.captured_at,
                "warc_file": self.warc_file, "revisit_of": self.revisit_of}


@dataclass(frozen=True, slots=True)
class ListedCapture(CaptureSummary):
    """A capture as ``archive list`` shows it: its summary and its withdrawal (the
    custody log's first ``deletion`` event naming it, or ``None``)."""

    withdrawal: Withdrawal | None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawal is not None

    def to_json(self) -> dict[str, Any]:
        return {**CaptureSummary.to_json(self), "withdrawn": self.withdrawn,
                "withdrawal": self.withdrawal.to_json() if self.withdrawal else None}


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """One WARC record of a capture as the database indexes it."""

    record_id: str
    type: str
    target_uri: str | None
    date: str
    offset: int
    length: int
    block_digest: str
    payload_digest: str | None

    def to_json(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "type": self.type,
                "target_uri": self.target_uri, "date": self.date, "offset": self.offset,
                "length": self.length, "block_digest": self.block_digest,
                "payload_digest": self.payload_digest}


@dataclass(frozen=True, slots=True)
class RequisiteEntry:
    """One requisite of a page or browser capture: captured (``revisit`` says whether
    its record is a revisit) or failed (``reason`` says why)."""

    url: str
    kind: str | None
    status: str  # "captured" or "failed"
    revisit: bool = False
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        head = {"url": self.url, "kind": self.kind, "status": self.status}
        if self.status == "captured":
            return {**head, "revisit": self.revisit}
        return {**head, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Requisites:
    """How many requisites a capture captured and failed, and each of them."""

    captured: int = 0
    failed: int = 0
    entries: tuple[RequisiteEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"captured": self.captured, "failed": self.failed,
                "list": [e.to_json() for e in self.entries]}


@dataclass(frozen=True, slots=True)
class ShownCapture(ListedCapture):
    """Everything ``archive show`` says of one capture: its listing, its mode, the
    screenshot's hash (browser mode) and requisites (read from the provenance, which
    ``verify`` checks against its WARC record), the stored manifest and provenance, its
    WARC records in file order and the custody events that name it, in log order."""

    mode: str | None
    screenshot: str | None
    requisites: Requisites
    manifest: dict[str, Any]
    provenance: dict[str, Any]
    records: tuple[RecordEntry, ...]
    events: tuple[Event, ...]

    @property
    def own_events(self) -> tuple[Event, ...]:
        """The events naming this capture's id: its own, what its bundle carries.
        ``events`` also holds those naming only its content hash, which belong to
        another capture of the same content."""
        return tuple(e for e in self.events if self.capture_id in e.objects)

    def to_json(self) -> dict[str, Any]:
        return {**ListedCapture.to_json(self), "mode": self.mode,
                "screenshot": self.screenshot, "requisites": self.requisites.to_json(),
                "manifest": self.manifest, "provenance": self.provenance,
                "records": [r.to_json() for r in self.records],
                "events": [e.to_json() for e in self.events]}


_SUMMARY_FIELDS = tuple(f.name for f in fields(CaptureSummary))


# Captures newest first by capture time (UTC ISO 8601 of one width: its text order is
# time order), the row id breaking ties; index ix_captures_started_at_id serves it.
NEWEST_FIRST = (captures.c.started_at.desc(), captures.c.id.desc())


def captured_before(rows: Any, started_at: Any, row_id: Any) -> ColumnElement[bool]:
    """Rows of ``rows`` (``captures`` or an alias of it) that come after the capture at
    (``started_at``, ``row_id``) in :data:`NEWEST_FIRST` order: captured before it, the
    row id breaking ties. The bounds may be values or another table's columns."""
    return or_(rows.c.started_at < started_at,
               and_(rows.c.started_at == started_at, rows.c.id < row_id))


_LISTED_COLUMNS = (captures.c.id, captures.c.capture_id, captures.c.content_hash,
                   captures.c.url, captures.c.final_url, captures.c.kind, captures.c.status,
                   captures.c.http_status, captures.c.content_type, captures.c.started_at,
                   captures.c.revisit_of, warc_files.c.relpath)
"""What a listed capture shows (:func:`_summary_fields`), without the manifest and
provenance texts."""


def oldest_first(conn: Connection, *, batch: int = 2000) -> Iterator[list[ListedCapture]]:
    """Every capture, oldest first by capture time then capture id (the catalogue's
    order), in batches of about ``batch`` with their withdrawals, so a caller going
    through the whole archive holds one batch at a time. Each batch is one keyset query
    on the (``started_at``, ``id``) index; the captures of a page's last capture time
    wait for the next page, so ties are sorted by capture id across pages too."""
    last: tuple[str, int] | None = None
    held: list[Any] = []
    while True:
        q = (select(*_LISTED_COLUMNS)
             .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
             .order_by(captures.c.started_at, captures.c.id).limit(batch))
        if last is not None:
            q = q.where(or_(captures.c.started_at > last[0],
                            and_(captures.c.started_at == last[0], captures.c.id > last[1])))
        page = conn.execute(q).all()
        more = len(page) == batch
        if page:
            last = (page[-1].started_at, page[-1].id)
        rows, held = [*held, *page], []
        if more:  # the last capture time may go on in the next page
            cut = next(i for i, r in enumerate(rows) if r.started_at == page[-1].started_at)
            rows, held = rows[:cut], rows[cut:]
        if rows:
            yield _listed(conn, sorted(rows, key=lambda r: (r.started_at, r.capture_id)))
        if not more:
            return


def list_captures(engine: Engine, *, limit: int | None = None) -> list[ListedCapture]:
    """Every capture (or the ``limit`` newest), newest first, withdrawn ones marked:
    what ``archive list`` shows. The summary columns only: the manifest and provenance
    texts (about 4 KB a capture) are not shown."""
    with read(engine) as conn:
        q = select(*_LISTED_COLUMNS).join(
            warc_files, warc_files.c.id == captures.c.warc_file_id).order_by(
            *NEWEST_FIRST)
        if limit:
            q = q.limit(limit)
        return _listed(conn, conn.execute(q).all())

def count_captures(engine: Engine) -> int:
    with read(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(captures)).scalar_one())


def _sql_word(word: str) -> bool:
    """Whether SQL can pre-filter on ``word`` without missing a match: ASCII (SQLite's
    ``lower`` folds only ASCII) and nothing canonical JSON escapes (``"``, ``\\``,
    control characters)."""
    return word.isascii() and word.isprintable() and not any(c in word for c in '"\\')


def search_captures(engine: Engine, words: Sequence[str], *, batch: int = 200
                    ) -> Iterator[list[ListedCapture]]:
    """Captures newest first (:data:`NEWEST_FIRST`), in batches of ``batch``, whose URL,
    final URL or one of whose metadata records contains every word of ``words`` (lower
    case) as text: a superset of the captures whose URL, title or outlet holds them, for
    the caller to filter exactly. Each batch is one indexed query (keyset on capture
    time and id, so a caller that stops early reads no more rows); a word SQL cannot
    fold or match the stored JSON of (non-ASCII, quotes) is left to the caller.
    Withdrawn ones marked."""
    conds = []
    for w in (w for w in words if _sql_word(w)):
        conds.append(or_(
            func.lower(captures.c.url).contains(w, autoescape=True),
            func.lower(func.coalesce(captures.c.final_url, "")).contains(w, autoescape=True),
            exists(select(metadata_versions.c.id).where(
                metadata_versions.c.capture_pk == captures.c.id,
                func.lower(metadata_versions.c.record).contains(w, autoescape=True)))))
    last: tuple[str, int] | None = None
    while True:
        q = (select(captures, warc_files.c.relpath)
             .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
             .order_by(*NEWEST_FIRST).limit(batch))
        after = [] if last is None else [captured_before(captures, *last)]
        where = [*conds, *after]
        if where:
            q = q.where(*where)
        with read(engine) as conn:
            rows = conn.execute(q).all()
            found = _listed(conn, rows)
        if found:
            yield found
        if len(rows) < batch:
            return
        last = (rows[-1].started_at, rows[-1].id)


def resolve(engine: Engine, hash_or_prefix: str) -> list[CaptureSummary]:
    """Captures whose capture id or content hash is ``hash_or_prefix`` (or starts with it).

    A prefix that matches more than one distinct hash raises ``AmbiguousHashError``.
    """
    try:
        h = parse_hash(hash_or_prefix)
    except ValueError as exc:
        raise NotFoundError(str(exc)) from exc
    if len(h) < len(PREFIX) + 4:
        raise NotFoundError(f"hash prefix {hash_or_prefix!r} is too short; give at least "
                            "4 hex digits")
    with read(engine) as conn:
        q = select(captures, warc_files.c.relpath).join(
            warc_files, warc_files.c.id == captures.c.warc_file_id).where(or_(
                digest_prefix(captures.c.capture_id, h),
                digest_prefix(captures.c.content_hash, h),
            )).order_by(captures.c.id)
        rows = conn.execute(q).all()
    if not rows:
        raise NotFoundError(f"no capture has a capture id or content hash {hash_or_prefix}")
    ids = {r.capture_id for r in rows if r.capture_id.startswith(h)}
    contents = {r.content_hash for r in rows if (r.content_hash or "").startswith(h)}
    if len(ids) + len(contents) > 1 and not (len(ids) == 0 and len(contents) == 1):
        raise AmbiguousHashError(
            f"hash prefix {hash_or_prefix} matches {len(ids)} capture ids and "
            f"{len(contents)} content hashes; give more digits")
    return [CaptureSummary(**_summary_fields(r)) for r in rows]


def digest_prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    """Rows whose digest ``column`` (a :class:`~archive.ledger.tables.Sha256Hex`) starts
    with ``prefix`` (``sha256:`` and 1 to 64 hex digits, as :func:`parse_hash` gives it).

    The one query that compares the stored hex itself: the range ``[hex, hex + "g")``
    (hex digits sort below ``g``) holds exactly the values starting with ``hex``, and an
    index on the column serves it on SQLite and PostgreSQL alike (``LIKE 'abc%'`` would
    not use a PostgreSQL index under a non-C collation)."""
    stored = type_coerce(column, String)  # binds the bounds as they are: bare hex
    h = prefix[len(PREFIX):]
    return (stored >= h) & (stored < h + "g")


def show(engine: Engine, hash_or_prefix: str) -> list[ShownCapture]:
    """Everything we know of the matching captures: rows, records, provenance, events."""
    out = []
    for cap in resolve(engine, hash_or_prefix):
        with read(engine) as conn:
            row = conn.execute(select(captures).where(
                captures.c.capture_id == cap.capture_id)).one()
            recs = conn.execute(select(records).where(records.c.capture_pk == row.id)
                                .order_by(records.c.offset)).all()
            evs: dict[int, Event] = {}
            for obj in filter(None, [cap.capture_id, cap.content_hash]):
                for e in events_for(conn, obj):
                    evs[e.seq] = e
        out.append(_shown(_fields_of(cap), row, recs, [evs[k] for k in sorted(evs)]))
    return out

def show_many(engine: Engine, capture_ids: Sequence[str]) -> dict[str, ShownCapture]:
    """:meth:`show` for many exact capture ids at once (``sha256:<hex>``), keyed by
    capture id; ids not stored are left out. A few queries per 500 ids however many
    there are, for a pipeline step that checks a whole range of captures. ``events``
    are those naming the capture id itself (``show`` adds those naming its content
    hash, which grow with every revisit of an unchanged page)."""
    out: dict[str, ShownCapture] = {}
    with read(engine) as conn:
        for chunk in in_chunks(capture_ids):
            rows = conn.execute(
                select(captures, warc_files.c.relpath)
                .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
                .where(captures.c.capture_id.in_(chunk))).all()
            recs: dict[int, list[Any]] = {}
            for r in conn.execute(select(records)
                                  .where(records.c.capture_pk.in_([r.id for r in rows]))
                                  .order_by(records.c.capture_pk, records.c.offset)):
                recs.setdefault(r.capture_pk, []).append(r)
            evs: dict[str, list[Event]] = {}
            for e in conn.execute(
                    select(events, event_objects.c.object_hash)
                    .join(event_objects, event_objects.c.seq == events.c.seq)
                    .where(event_objects.c.object_hash.in_(chunk))
                    .order_by(events.c.seq)):
                evs.setdefault(e.object_hash, []).append(row_to_event(e))
            for row in rows:
                summary = _summary_fields(row)
                out[summary["capture_id"]] = _shown(summary, row, recs.get(row.id, []),
                                                    evs.get(row.capture_id, []))
    return out

def withdrawn(engine: Engine, capture_ids: Iterable[str]) -> dict[str, Withdrawal]:
    """The withdrawn captures among these exact capture ids, keyed by capture id,
    each with its deletion event's time, reason and person (from the custody log)."""
    with read(engine) as conn:
        return withdrawals(conn, capture_ids)

@dataclass(frozen=True)
class Counts:
    """How many captures and WARC files the archive holds."""

    captures: int
    warc_files: int

    def to_json(self) -> dict[str, int]:
        return {"captures": self.captures, "warc_files": self.warc_files}


def stats(engine: Engine) -> Counts:
    with read(engine) as conn:
        return Counts(
            captures=conn.execute(select(func.count()).select_from(captures)).scalar_one(),
            warc_files=conn.execute(select(func.count()).select_from(warc_files)).scalar_one(),
        )


def _summary_fields(r: Any) -> dict[str, Any]:
    """The :class:`CaptureSummary` fields of a captures row joined with its file's
    ``relpath`` (built once, for whichever result type the query returns)."""
    return {
        "capture_id": r.capture_id,
        "content_hash": r.content_hash,
        "url": r.url, "final_url": r.final_url, "kind": r.kind, "status": r.status,
        "http_status": r.http_status, "content_type": r.content_type,
        "captured_at": r.started_at, "warc_file": r.relpath,
        "revisit_of": r.revisit_of,
    }


def _fields_of(cap: CaptureSummary) -> dict[str, Any]:
    return {f: getattr(cap, f) for f in _SUMMARY_FIELDS}


def _listed(conn: Connection, rows: Sequence[Any]) -> list[ListedCapture]:
    """These rows (with ``relpath``) as listed captures, their withdrawals looked up."""
    found = [_summary_fields(r) for r in rows]
    gone = withdrawals(conn, [c["capture_id"] for c in found])
    return [ListedCapture(**c, withdrawal=gone.get(c["capture_id"])) for c in found]


def listed(cap: CaptureSummary, gone: Withdrawal | None) -> ListedCapture:
    """``cap`` with its withdrawal (the deletion event naming it, or ``None``)."""
    return ListedCapture(**_fields_of(cap), withdrawal=gone)


def _shown(summary: dict[str, Any], row: Any, recs: Sequence[Any], evs: Sequence[Event],
           ) -> ShownCapture:
    """What :meth:`Archive.show` says of one capture: its summary, the stored manifest
    and provenance, its WARC records and the custody events given (in log order)."""
    gone = next(filter(None, (withdrawal_of(e, summary["capture_id"]) for e in evs)), None)
    prov = json.loads(row.provenance)
    facts = page_facts(prov)
    return ShownCapture(
        **summary, withdrawal=gone,
        mode=facts["mode"], screenshot=facts["screenshot"], requisites=requisites_of(prov),
        manifest=json.loads(row.manifest), provenance=prov,
        records=tuple(_record_entry(r) for r in recs), events=tuple(evs))


def page_facts(prov: dict[str, Any]) -> dict[str, Any]:
    """What a capture result reports of its mode: the mode, the requisites captured and
    failed, the screenshot's hash (browser mode), from the capture's provenance."""
    found = prov.get("requisites") or {}
    browser = prov.get("browser") or {}
    mode = prov.get("mode") or ("html" if prov.get("type") == "http-capture" else None)
    return {"mode": mode,
            "requisites_captured": len(found.get("captured") or []) if found else None,
            "requisites_failed": len(found.get("failed") or []) if found else None,
            "screenshot": (browser.get("screenshot") or {}).get("sha256")}


def requisites_of(prov: dict[str, Any]) -> Requisites:
    """A capture's requisites (captured, and failed with the reason), read from the
    provenance (which ``archive verify`` checks against its WARC record)."""
    found = prov.get("requisites") or {}
    captured, failed = found.get("captured") or [], found.get("failed") or []
    return Requisites(len(captured), len(failed), tuple(
        [RequisiteEntry(r["url"], r.get("kind"), "captured",
                        revisit=bool(r.get("revisit_of_record"))) for r in captured]
        + [RequisiteEntry(r["url"], r.get("kind"), "failed", reason=r.get("reason"))
           for r in failed]))


def _record_entry(r: Any) -> RecordEntry:
    return RecordEntry(r.record_id, r.type, r.target_uri, r.date, r.offset, r.length,
                       block_digest=r.block_digest, payload_digest=r.payload_digest)


def captures_of_url(engine: Engine, url: str) -> list[ListedCapture]:
    """Every capture requested as (or redirected to) ``url``, oldest first, withdrawn
    ones marked (what ``list`` shows of each)."""
    with read(engine) as conn:
        rows = conn.execute(
            select(captures, warc_files.c.relpath)
            .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
            .where(or_(captures.c.url == url, captures.c.final_url == url))
            .order_by(captures.c.started_at, captures.c.id)).all()
        return _listed(conn, rows)
