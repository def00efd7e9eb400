"""The append-only custody log.

Every action on an archived object is an :class:`Event` (PREMIS event types). An
event's *entry* is the RFC 8785 canonical JSON of its fields plus ``seq`` and the
previous entry's hash, so each entry commits to all before it. The same bytes are
the leaf of the RFC 9162 Merkle tree that signed checkpoints commit to.

Appends happen inside the caller's write transaction (so a capture's rows and its
events commit together or not at all) and lock the single ``log_head`` row first:
``SELECT ... FOR UPDATE`` on PostgreSQL, and the ``BEGIN IMMEDIATE`` write lock on
SQLite. Sequence numbers are therefore contiguous and the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring as _jstr  # a JSON string, as canonical_json
from typing import Any

from sqlalchemy import Connection, insert, select, update

from archive.core.canonical import canonical_json
from archive.core.hashing import PREFIX, format_digest, is_digest, sha256_bytes
from archive.core.timeutil import iso_utc, utc_now
from archive.core.version import SOFTWARE
from archive.ledger.db import in_chunks
from archive.ledger.tables import event_objects, events, log_head

ZERO_HASH = PREFIX + "0" * 64

# PREMIS event types (id.loc.gov/vocabulary/preservation/eventType) we use.
CAPTURE = "capture"
INGESTION = "ingestion"
MESSAGE_DIGEST_CALCULATION = "message digest calculation"
METADATA_EXTRACTION = "metadata extraction"
FIXITY_CHECK = "fixity check"
VALIDATION = "validation"
REPLICATION = "replication"
MIGRATION = "migration"
DELETION = "deletion"
QUARANTINE = "quarantine"
EVENT_TYPES = frozenset({CAPTURE, INGESTION, MESSAGE_DIGEST_CALCULATION, METADATA_EXTRACTION,
                         FIXITY_CHECK, VALIDATION, REPLICATION, MIGRATION, DELETION, QUARANTINE})
OUTCOMES = frozenset({"success", "failure", "warning"})


@dataclass(frozen=True)
class Agent:
    """Who acted: the software, where, under which run, and the person if a person did."""

    software: str = SOFTWARE
    host: str | None = None
    run_id: str | None = None
    partition_key: str | None = None
    person: str | None = None

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class NewEvent:
    type: str
    objects: Sequence[str]  # "sha256:<hex>" identifiers of the objects acted on
    outcome: str = "success"
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [o for o in self.objects if not is_digest(o)]
        if bad:
            raise ValueError(f"event objects are sha256:<hex> identifiers, not {bad[0]!r}")
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")


@dataclass(frozen=True)
class Event:
    seq: int
    event_id: str
    type: str
    time: str
    objects: tuple[str, ...]
    agent: dict[str, Any]
    outcome: str
    detail: dict[str, Any]
    prev_hash: str  # sha256:<hex>, like every digest below
    entry_hash: str
    leaf_hash: str | None = None  # RFC 9162 leaf hash (None only before migration 0002)

    def entry(self) -> dict[str, Any]:
        return entry_dict(self.seq, self.event_id, self.type, self.time, list(self.objects),
                          self.agent, self.outcome, self.detail, self.prev_hash)

    def entry_bytes(self) -> bytes:
        return canonical_json(self.entry())

    def to_json(self) -> dict[str, Any]:
        return {**self.entry(), "hash": self.entry_hash}


def entry_dict(seq: int, event_id: str, etype: str, time: str, objects: list[str],
               agent: dict[str, Any], outcome: str, detail: dict[str, Any],
               prev_hash: str) -> dict[str, Any]:
    """The committed form of an event (what is hashed, chained and put in the tree)."""
    return {
        "seq": seq,
        "event_id": event_id,
        "type": etype,
        "time": time,
        "objects": objects,
        "agent": agent,
        "outcome": outcome,
        "detail": detail,
        "prev": prev_hash,
    }


def entry_hash(entry_bytes: bytes) -> str:
    return sha256_bytes(entry_bytes)


def entry_leaf(entry_bytes: bytes) -> bytes:
    """RFC 9162 leaf hash of an entry, raw: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry_bytes).digest()


def entry_leaf_hash(entry_bytes: bytes) -> str:
    """:func:`entry_leaf` as ``sha256:<hex>`` (the form the events table keeps)."""
    return format_digest(entry_leaf(entry_bytes))


class CustodyLog:
    def __init__(self, *, clock: Callable[[], datetime] = utc_now,
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self._clock = clock
        self._new_id = new_id

    def append(self, conn: Connection, new: Iterable[NewEvent], agent: Agent) -> list[Event]:
        """Append events inside ``conn``'s write transaction; returns them as stored."""
        items = list(new)
        if not items:
            return []
        head = conn.execute(
            select(log_head.c.size, log_head.c.head_hash).where(log_head.c.id == 1)
            .with_for_update()
        ).one()
        size, prev = int(head.size), str(head.head_hash)
        stored: list[Event] = []
        detail_text: list[str] = []
        agent_json = agent.to_json()
        agent_text = canonical_json(agent_json).decode()
        for ev in items:
            objects = list(ev.objects)
            detail_bytes = canonical_json(ev.detail)
            detail = json.loads(detail_bytes)  # normalise (tuples, etc.)
            detail_text.append(detail_bytes.decode())
            time = iso_utc(self._clock())
            event_id = self._new_id()
            entry = entry_dict(size, event_id, ev.type, time, objects, agent_json, ev.outcome,
                               detail, prev)
            entry_bytes = canonical_json(entry)
            h = entry_hash(entry_bytes)
            stored.append(Event(size, event_id, ev.type, time, tuple(objects), agent_json,
                                ev.outcome, detail, prev, h, entry_leaf_hash(entry_bytes)))
            size, prev = size + 1, h
        conn.execute(insert(events), [
            {"seq": e.seq, "event_id": e.event_id, "type": e.type, "time": e.time,
             "objects": canonical_json(list(e.objects)).decode(),
             "agent": agent_text, "outcome": e.outcome, "detail": text,
             "prev_hash": e.prev_hash, "entry_hash": e.entry_hash, "leaf_hash": e.leaf_hash}
            for e, text in zip(stored, detail_text, strict=True)
        ])
        links = {(o, e.seq) for e in stored for o in e.objects}
        if links:
            conn.execute(insert(event_objects),
                         [{"object_hash": o, "seq": s} for o, s in sorted(links)])
        conn.execute(update(log_head).where(log_head.c.id == 1)
                     .values(size=size, head_hash=prev))
        return stored


def row_to_event(row: Any) -> Event:
    return Event(
        seq=int(row.seq), event_id=row.event_id, type=row.type, time=row.time,
        objects=tuple(json.loads(row.objects)), agent=json.loads(row.agent),
        outcome=row.outcome, detail=json.loads(row.detail), prev_hash=row.prev_hash,
        entry_hash=row.entry_hash, leaf_hash=row.leaf_hash,
    )


def iter_events(conn: Connection, *, start: int = 0, batch: int = 5000) -> Iterator[Event]:
    seq = start
    while True:
        rows = conn.execute(select(events).where(events.c.seq >= seq)
                            .order_by(events.c.seq).limit(batch)).all()
        if not rows:
            return
        for r in rows:
            yield row_to_event(r)
        seq = int(rows[-1].seq) + 1


def events_for(conn: Connection, object_hash: str) -> list[Event]:
    rows = conn.execute(
        select(events).join(event_objects, event_objects.c.seq == events.c.seq)
        .where(event_objects.c.object_hash == object_hash).order_by(events.c.seq)
    ).all()
    return [row_to_event(r) for r in rows]


def events_naming(conn: Connection, object_hashes: Iterable[str]) -> list[Event]:
    """Every event naming any of ``object_hashes``, once each, in log order (one query
    per few hundred objects instead of :func:`events_for` per object)."""
    seqs: set[int] = set()
    for chunk in in_chunks(sorted(set(object_hashes))):
        seqs.update(int(s) for s in conn.execute(
            select(event_objects.c.seq).where(event_objects.c.object_hash.in_(chunk))
        ).scalars())
    return [row_to_event(r) for chunk in in_chunks(sorted(seqs)) for r in conn.execute(
        select(events).where(events.c.seq.in_(chunk)).order_by(events.c.seq))]


RECORDING_TYPES = frozenset({CAPTURE, INGESTION})
"""Event types that record a stored capture (with a message digest calculation beside)."""


def capture_ids_named(ev: Event) -> tuple[str, ...]:
    """The capture ids (``sha256:<hex>``) an event is about, by where each type puts them.

    - ``capture`` / ``ingestion`` of a stored capture (``detail`` has ``status`` and
      ``warc_file``): the first object. A failed fetch names only its URL key and an
      imported WARC file only its file hash: no capture.
    - ``message digest calculation``, ``metadata extraction``, ``deletion``: the first
      object.
    - ``fixity check``: every object after the file's hash (the file's captures).
    - others (validation, quarantine, ...) name files, not captures.

    ``archive verify`` holds the log to this: every capture is named by a recording
    event and a message digest calculation, and every capture named exists.
    """
    if ev.type in RECORDING_TYPES:
        if "status" in ev.detail and "warc_file" in ev.detail:
            return ev.objects[:1]
        return ()
    if ev.type in (MESSAGE_DIGEST_CALCULATION, METADATA_EXTRACTION, DELETION):
        return ev.objects[:1]
    if ev.type == FIXITY_CHECK:
        return ev.objects[1:]
    return ()


@dataclass(frozen=True)
class Withdrawal:
    """A capture's withdrawal, as its ``deletion`` event (the tombstone) records it."""

    seq: int
    time: str
    reason: str
    person: str | None

    def to_json(self) -> dict[str, Any]:
        return {"event": self.seq, "time": self.time, "reason": self.reason,
                "person": self.person}

    def line(self) -> str:
        """``withdrawn <time> by <person>: <reason>``, for people."""
        who = f" by {self.person}" if self.person else ""
        return f"withdrawn {self.time}{who}: {self.reason}"


def withdrawal_of(ev: Event, capture_id: str) -> Withdrawal | None:
    """The withdrawal ``ev`` records for ``capture_id``, read from its hashed entry (its
    type and objects), or ``None`` when it is not a deletion naming that capture."""
    if ev.type != DELETION or capture_id not in ev.objects:
        return None
    person = ev.agent.get("person")
    return Withdrawal(ev.seq, ev.time, str(ev.detail.get("reason") or "no reason given"),
                      person if isinstance(person, str) else None)


def withdrawals(conn: Connection, capture_ids: Iterable[str]) -> dict[str, Withdrawal]:
    """The first deletion event of each withdrawn capture among ``capture_ids``, keyed
    by ``sha256:<hex>`` capture id. Withdrawn is a fact of the custody log (a hashed,
    chained entry that ``verify`` re-checks), never of a mutable column."""
    out: dict[str, Withdrawal] = {}
    for chunk in in_chunks(capture_ids):
        rows = conn.execute(
            select(events, event_objects.c.object_hash)
            .join(event_objects, event_objects.c.seq == events.c.seq)
            .where(event_objects.c.object_hash.in_(chunk), events.c.type == DELETION)
            .order_by(events.c.seq)).all()
        for row in rows:
            found = withdrawal_of(row_to_event(row), row.object_hash)
            if found is not None:
                out.setdefault(row.object_hash, found)
    return out


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    message: str


_COLUMNS = (events.c.seq, events.c.event_id, events.c.type, events.c.time, events.c.objects,
            events.c.agent, events.c.outcome, events.c.detail, events.c.prev_hash,
            events.c.entry_hash, events.c.leaf_hash)


def _stored_entry(seq: int, event_id: str, etype: str, time: str, objects: str, agent: str,
                  outcome: str, detail: str, prev_hash: str) -> bytes:
    """The entry bytes spliced from a row's stored texts (``objects``, ``agent`` and
    ``detail`` are stored as canonical JSON), without parsing and re-encoding them.

    Only a guess until hashed: when it hashes to the row's ``entry_hash`` the row's texts
    are exactly the committed entry's (each text is also parsed as one JSON value and
    each string is JSON-encoded, so no field can borrow another's bytes), and when it
    does not, :func:`check_chain` falls back to the canonical form of the parsed fields:
    the same verdict as always re-encoding, at a fraction of the cost."""
    return (f'{{"agent":{agent},"detail":{detail},"event_id":{_jstr(event_id)},'
            f'"objects":{objects},"outcome":{_jstr(outcome)},"prev":{_jstr(prev_hash)},'
            f'"seq":{seq},"time":{_jstr(time)},"type":{_jstr(etype)}}}').encode()


def check_chain(conn: Connection, observe: Callable[[Event], None] | None = None,
                on_leaf: Callable[[bytes], None] | None = None, *, since: int = 0,
                ) -> tuple[int, list[ChainProblem]]:
    """Recompute every entry hash and link; returns (events checked, problems).

    ``observe`` sees every event on the way, so a caller that needs to look at the whole
    log (which captures it names) does so in the same pass; ``on_leaf`` gets each
    event's RFC 9162 leaf hash (32 bytes) recomputed from its fields, so the checkpoint
    check builds its tree from the same pass instead of encoding every event again.
    ``since``: check the events from that seq on only (what a new checkpoint adds to the
    last one), linked to the hash of event ``since - 1`` recomputed from its fields."""
    problems: list[ChainProblem] = []
    prev = ZERO_HASH if since == 0 else _recomputed_hash(conn, since - 1)
    expected_seq = since
    count = 0
    agents: dict[str, dict[str, Any]] = {}  # an agent's text is shared by many events
    start = since
    while True:
        rows = conn.execute(select(*_COLUMNS).where(events.c.seq >= start)
                            .order_by(events.c.seq).limit(5000)).all()
        if not rows:
            break
        start = int(rows[-1][0]) + 1
        for (seq, event_id, etype, time, objects, agent_text, outcome, detail, prev_hash,
             stored_hash, leaf_hash) in rows:
            agent = agents.get(agent_text)
            if agent is None:
                if len(agents) > 256:
                    agents.clear()
                agent = agents[agent_text] = json.loads(agent_text)
            seq = int(seq)
            ev = Event(seq, event_id, etype, time, tuple(json.loads(objects)), agent, outcome,
                       json.loads(detail), prev_hash, stored_hash, leaf_hash)
            count += 1
            if observe is not None:
                observe(ev)
            if ev.seq != expected_seq:
                problems.append(ChainProblem(ev.seq, f"event seq {ev.seq}: expected seq "
                                                     f"{expected_seq} (a gap or reordering)"))
            entry_bytes = _stored_entry(seq, event_id, etype, time, objects, agent_text,
                                        outcome, detail, prev_hash)
            recomputed = entry_hash(entry_bytes)
            if recomputed != ev.entry_hash:  # not the committed texts: encode the fields
                entry_bytes = ev.entry_bytes()
                recomputed = entry_hash(entry_bytes)
            leaf = entry_leaf(entry_bytes)
            if on_leaf is not None:
                on_leaf(leaf)
            if recomputed == ev.entry_hash and ev.leaf_hash is not None and \
                    format_digest(leaf) != ev.leaf_hash:
                problems.append(ChainProblem(ev.seq, (
                    f"event seq {ev.seq} ({ev.type}, {ev.event_id}): its stored Merkle leaf "
                    "hash does not match its fields; the row was edited")))
            if recomputed != ev.entry_hash:
                problems.append(ChainProblem(ev.seq, (
                    f"event seq {ev.seq} ({ev.type}, {ev.event_id}): its fields no longer "
                    f"match its hash (stored {ev.entry_hash}, recomputed "
                    f"{recomputed}); the row was edited")))
            if ev.prev_hash != prev:
                problems.append(ChainProblem(ev.seq, (
                    f"event seq {ev.seq}: prev is {ev.prev_hash} but the previous "
                    f"entry hashes to {prev}; the chain is broken here")))
            prev = ev.entry_hash
            expected_seq = ev.seq + 1
    head = conn.execute(select(log_head).where(log_head.c.id == 1)).one()
    if int(head.size) != since + count or head.head_hash != prev:
        problems.append(ChainProblem(since + count, (
            f"log head says size {head.size} ending {head.head_hash}, but the events "
            f"give size {since + count} ending {prev}")))
    return count, problems


def _recomputed_hash(conn: Connection, seq: int) -> str:
    """The entry hash of event ``seq`` recomputed from its fields; ``""`` (which no
    event's ``prev`` equals) when there is no such event."""
    row = conn.execute(select(*_COLUMNS).where(events.c.seq == seq)).first()
    return "" if row is None else entry_hash(row_to_event(row).entry_bytes())
