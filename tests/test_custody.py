"""The custody log: contiguous, chained, tamper-evident; on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, insert, text, update

from archive.core.canonical import canonical_json
from archive.core.hashing import sha256_bytes
from archive.ledger.custody import (
    CAPTURE,
    FIXITY_CHECK,
    Agent,
    CustodyLog,
    Event,
    NewEvent,
    check_chain,
    entry_hash,
    entry_leaf_hash,
    events_for,
    iter_events,
)
from archive.ledger.db import open_database, run_write
from archive.ledger.tables import event_objects, events, log_head

OBJ = sha256_bytes(b"object")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The database of ``db_url``, disposed even when the test fails."""
    eng = open_database(db_url)
    yield eng
    eng.dispose()


def _append(engine, n: int) -> None:
    log = CustodyLog()
    run_write(engine, lambda c: log.append(
        c, [NewEvent(CAPTURE, [OBJ], detail={"i": i}) for i in range(n)], Agent(host="h")))


def test_appends_are_contiguous_and_chained(db_url: str) -> None:
    engine = open_database(db_url)
    _append(engine, 3)
    _append(engine, 2)
    with engine.connect() as c:
        evs = list(iter_events(c))
        count, problems = check_chain(c)
    assert [e.seq for e in evs] == [0, 1, 2, 3, 4]
    assert evs[0].prev_hash == "sha256:" + "0" * 64
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(evs))
    assert count == 5 and problems == []
    engine.dispose()


def test_events_are_found_by_object_hash(db_url: str) -> None:
    engine = open_database(db_url)
    _append(engine, 2)
    other = sha256_bytes(b"other")
    run_write(engine, lambda c: CustodyLog().append(
        c, [NewEvent(FIXITY_CHECK, [other], "failure", {"why": "changed"})], Agent()))
    with engine.connect() as c:
        assert [e.seq for e in events_for(c, OBJ)] == [0, 1]
        (ev,) = events_for(c, other)
    assert ev.outcome == "failure" and ev.detail == {"why": "changed"}
    engine.dispose()


def test_an_edited_event_row_is_named(db_url: str) -> None:
    engine = open_database(db_url)
    _append(engine, 4)
    with engine.begin() as c:
        c.execute(text("UPDATE events SET time = '2000-01-01T00:00:00.000000Z' WHERE seq = 2"))
    with engine.connect() as c:
        _, problems = check_chain(c)
    assert [p.seq for p in problems] == [2]
    assert "event seq 2" in problems[0].message and "edited" in problems[0].message
    engine.dispose()


def test_a_deleted_event_breaks_the_chain(db_url: str) -> None:
    engine = open_database(db_url)
    _append(engine, 4)
    with engine.begin() as c:
        c.execute(text("DELETE FROM event_objects WHERE seq = 3"))
        c.execute(text("DELETE FROM events WHERE seq = 3"))
    with engine.connect() as c:
        _, problems = check_chain(c)
    assert any("log head" in p.message for p in problems)
    engine.dispose()


def _resealed(ev: Event, **changes: Any) -> Event:
    """``ev`` with ``changes`` applied and its entry and leaf hashes recomputed, as an
    attacker with write access would forge it: the row is self-consistent."""
    forged = dataclasses.replace(ev, **changes)
    body = forged.entry_bytes()
    return dataclasses.replace(forged, entry_hash=entry_hash(body),
                               leaf_hash=entry_leaf_hash(body))


def _rewrite_from(c: Connection, first_seq: int, new_events: list[Event]) -> None:
    """Replace every event from ``first_seq`` on by ``new_events`` (rows and object
    links), and point the log head at the last event, as an attacker would."""
    c.execute(delete(event_objects).where(event_objects.c.seq >= first_seq))
    c.execute(delete(events).where(events.c.seq >= first_seq))
    for ev in new_events:
        c.execute(insert(events).values(
            seq=ev.seq, event_id=ev.event_id, type=ev.type, time=ev.time,
            objects=canonical_json(list(ev.objects)).decode(),
            agent=canonical_json(ev.agent).decode(), outcome=ev.outcome,
            detail=canonical_json(ev.detail).decode(), prev_hash=ev.prev_hash,
            entry_hash=ev.entry_hash, leaf_hash=ev.leaf_hash))
        for o in sorted(set(ev.objects)):
            c.execute(insert(event_objects).values(object_hash=o, seq=ev.seq))
    everything = list(iter_events(c))
    c.execute(update(log_head).where(log_head.c.id == 1)
              .values(size=len(everything), head_hash=everything[-1].entry_hash))


def test_a_forged_middle_event_with_resealed_hashes_breaks_the_link_after_it(
        engine: Engine) -> None:
    """Event 2 is rewritten with its own entry and leaf hashes recomputed, so the row
    passes every per-row check; only event 3's prev link to it can catch the forgery."""
    _append(engine, 4)
    with engine.begin() as c:
        old = list(iter_events(c))
        forged = _resealed(old[2], detail={"i": "forged"}, time="2000-01-01T00:00:00.000000Z")
        _rewrite_from(c, 2, [forged, old[3]])
    with engine.connect() as c:
        assert [e.detail for e in iter_events(c)][2] == {"i": "forged"}
        count, problems = check_chain(c)
    assert count == 4
    assert [p.seq for p in problems] == [3]
    assert problems[0].message == (
        f"event seq 3: prev is {old[2].entry_hash} but the previous entry hashes to "
        f"{forged.entry_hash}; the chain is broken here")


def test_a_deleted_middle_event_with_renumbered_successors_breaks_the_link(
        engine: Engine) -> None:
    """Event 2 of 0..4 is deleted and the attacker closes the gap: events 3 and 4 become
    2 and 3 with fresh entry and leaf hashes, the second chained to the first, and the
    log head is repaired. The seq, per-row hash and head checks all pass; only the first
    renumbered event's prev (still the deleted event's hash) shows the break."""
    _append(engine, 5)
    with engine.begin() as c:
        old = list(iter_events(c))
        moved_first = _resealed(old[3], seq=2)
        moved_second = _resealed(old[4], seq=3, prev_hash=moved_first.entry_hash)
        _rewrite_from(c, 2, [moved_first, moved_second])
    with engine.connect() as c:
        assert [e.detail["i"] for e in iter_events(c)] == [0, 1, 3, 4]
        count, problems = check_chain(c)
    assert count == 4
    assert [p.seq for p in problems] == [2]
    assert problems[0].message == (
        f"event seq 2: prev is {old[2].entry_hash} but the previous entry hashes to "
        f"{old[1].entry_hash}; the chain is broken here")


def test_a_failing_transaction_leaves_no_gap(db_url: str) -> None:
    """FAULTS 23: an exception between appending and the head update rolls back."""
    engine = open_database(db_url)
    _append(engine, 1)

    def boom(c):
        CustodyLog().append(c, [NewEvent(CAPTURE, [OBJ])], Agent())
        raise RuntimeError("crash before commit")

    with contextlib.suppress(RuntimeError):
        run_write(engine, boom)
    _append(engine, 1)
    with engine.connect() as c:
        assert [e.seq for e in iter_events(c)] == [0, 1]
        assert check_chain(c)[1] == []
    engine.dispose()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(details=st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4),
                        min_size=1, max_size=3),
       host=st.text(max_size=12))
def test_every_entry_hash_is_the_sha256_of_its_rfc8785_bytes(details: list[dict],
                                                              host: str) -> None:
    """Whatever the details hold (floats and huge integers take the slow path, the rest
    the fast one), each stored hash is SHA-256 of the entry's RFC 8785 bytes."""
    engine = open_database("sqlite://")
    try:
        stored = run_write(engine, lambda c: CustodyLog().append(
            c, [NewEvent(CAPTURE, [OBJ], detail=d) for d in details], Agent(host=host)))
    except ValueError:  # an integer RFC 8785 cannot write exactly is refused, not hashed
        return
    finally:
        engine.dispose()
    for ev in stored:
        assert ev.entry_hash == "sha256:" + hashlib.sha256(rfc8785.dumps(ev.entry())).hexdigest()
