"""The custody log: contiguous, chained, tamper-evident; on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
import itertools

import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from archive.custody import (
    CAPTURE,
    FIXITY_CHECK,
    Agent,
    CustodyLog,
    NewEvent,
    check_chain,
    events_for,
    iter_events,
)
from archive.db import open_database, run_write
from archive.hashing import sha256_bytes

OBJ = sha256_bytes(b"object")


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
    assert evs[0].prev_hash == "0" * 64
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
        assert ev.entry_hash == hashlib.sha256(rfc8785.dumps(ev.entry())).hexdigest()
