"""The custody log's tree from stored block hashes (archive.proof.lognodes): the same
roots and proofs as the tree of every leaf, whichever blocks are stored; each checkpoint
stores the blocks it completed; verify names a stored hash that is not its events'."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from archfixtures import make_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from archive.api import Archive
from archive.core.hashing import digest_bytes, format_digest
from archive.errors import IntegrityError
from archive.ledger.custody import FIXITY_CHECK, Agent, CustodyLog, NewEvent
from archive.ledger.db import read, run_write
from archive.ledger.tables import checkpoints, events, log_nodes
from archive.proof import logtree
from archive.proof.lognodes import BLOCK, BLOCK_HEIGHT, LogTree
from archive.proof.merkle import MerkleTree, verify_inclusion

EVENTS = 3 * BLOCK + 45


def _append(arc: Archive, count: int) -> None:
    objects = [format_digest(hashlib.sha256(str(i).encode()).digest()) for i in range(count)]
    run_write(arc.engine, lambda c: CustodyLog().append(
        c, [NewEvent(FIXITY_CHECK, [o]) for o in objects], Agent()))


def _reference(arc: Archive) -> MerkleTree:
    """The tree of every stored leaf hash, the way proofs were built before blocks."""
    with read(arc.engine) as conn:
        return MerkleTree(digest_bytes(h) for (h,) in conn.execute(
            select(events.c.leaf_hash).order_by(events.c.seq)))


def _block_hash(ref: MerkleTree, j: int) -> bytes:
    return ref.subtree_hash(j * BLOCK, (j + 1) * BLOCK)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Archive, MerkleTree]]:
    arc = Archive.open(make_settings(tmp_path_factory.mktemp("lognodes") / "home"))
    _append(arc, EVENTS)
    yield arc, _reference(arc)
    arc.close()


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_the_tree_from_stored_blocks_gives_every_root_and_proof_the_leaves_give(
        log: tuple[Archive, MerkleTree], data: st.DataObject) -> None:
    arc, ref = log
    size = data.draw(st.integers(1, EVENTS), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old size")
    complete = size // BLOCK
    stored = data.draw(st.sets(st.integers(0, max(complete - 1, 0)))) if complete else set()
    trusted = data.draw(st.none() | st.integers(0, size), label="trusted below")
    start = data.draw(st.integers(0, size), label="fresh leaves from")
    fresh = b"".join(ref.leaf(i) for i in range(start, size))
    with arc.engine.connect() as conn, conn.begin() as tx:
        conn.execute(delete(log_nodes))
        if stored:
            conn.execute(insert(log_nodes), [
                {"height": BLOCK_HEIGHT, "idx": j, "hash": format_digest(_block_hash(ref, j))}
                for j in stored])
        # the stored column from ``start`` on is not what the tree may read there
        conn.execute(update(events).where(events.c.seq >= start).values(
            leaf_hash=format_digest(hashlib.sha256(b"not these").digest())))
        tree = LogTree(conn, size, trusted_below=trusted, fresh=(start, fresh))
        assert tree.root() == ref.root(size)
        assert tree.inclusion_proof(index) == ref.inclusion_proof(index, size)
        assert tree.consistency_proof(old) == ref.consistency_proof(old, size)
        used = {j for j in stored if trusted is None or (j + 1) * BLOCK <= trusted}
        assert sorted(tree.computed) == sorted(set(range(complete)) - used)
        assert tree.store_computed(conn) == len(set(range(complete)) - stored)
        tx.rollback()


def _nodes(arc: Archive) -> list[tuple[int, int, str]]:
    with read(arc.engine) as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(log_nodes.c.height, log_nodes.c.idx, log_nodes.c.hash)
            .order_by(log_nodes.c.idx))]


def _checkpoint_problems(arc: Archive) -> list[str]:
    return [p.message for p in arc.verify().problems if p.kind == "checkpoint"]


def test_checkpoints_store_their_blocks_and_verify_names_an_altered_one(
        arc: Archive, tmp_path: Path) -> None:
    arc.init()
    _append(arc, 2 * BLOCK + 10)
    first = arc.checkpoint()
    ref = _reference(arc)
    assert _nodes(arc) == [(BLOCK_HEIGHT, j, format_digest(_block_hash(ref, j)))
                           for j in range(2)]
    _append(arc, BLOCK)
    second = arc.checkpoint()
    ref = _reference(arc)
    assert [n[1] for n in _nodes(arc)] == [0, 1, 2]  # only the block completed since
    assert digest_bytes(second.root_hash) == ref.root()

    assert logtree.prove_consistency(arc.engine, first.id, second.id).verified
    index = BLOCK + 44  # its path's left sibling at height 8 is block 0
    proof = logtree.inclusion(arc.engine, index, second)
    root = digest_bytes(second.root_hash)
    assert verify_inclusion(ref.leaf(index), index, second.size, proof, root)
    assert _checkpoint_problems(arc) == []

    forged = format_digest(hashlib.sha256(b"forged").digest())
    run_write(arc.engine, lambda c: c.execute(
        update(log_nodes).where(log_nodes.c.idx == 0).values(hash=forged)))
    proof = logtree.inclusion(arc.engine, index, second)  # read from the stored block
    assert not verify_inclusion(ref.leaf(index), index, second.size, proof, root)
    (problem,) = _checkpoint_problems(arc)
    assert "the stored hash of events 0 to 255 (log_nodes 8/0) is not the hash" in problem

    run_write(arc.engine, lambda c: c.execute(
        update(log_nodes).where(log_nodes.c.idx == 0)
        .values(hash=format_digest(_block_hash(ref, 0)))))
    run_write(arc.engine, lambda c: c.execute(insert(log_nodes).values(
        height=BLOCK_HEIGHT, idx=9, hash=forged)))
    (problem,) = _checkpoint_problems(arc)
    assert "events 2304 to 2559 (log_nodes 8/9) covers events the log does not hold" in problem


def _signed(arc: Archive) -> tuple[int, int]:
    """(checkpoint rows, note files): what a refused checkpoint must leave unchanged."""
    with read(arc.engine) as conn:
        rows = len(conn.execute(select(checkpoints.c.id)).all())
    return rows, len(list((arc.settings.home / "checkpoints").glob("*.note")))


def _refused(arc: Archive, match: str) -> None:
    """Not signed, and reported alike by the check a run makes for each capture (the
    same checks, the problem without the signer's words)."""
    before = _signed(arc)
    with pytest.raises(IntegrityError, match=match) as info:
        arc.checkpoint()
    assert "\n" not in str(info.value)
    assert _signed(arc) == before
    status = arc.check_custody(since_checkpoint=True)
    assert not status.ok
    assert re.search(match.removeprefix("not signing: "), status.problems[0])


def test_the_signer_signs_only_what_it_rechecked(arc: Archive) -> None:
    """A database edited by someone without the key never gets a note signed over it:
    new events are re-hashed from their fields (not their stored leaf hashes), the tree
    up to the last checkpoint must extend its signed root, and a stored block the signer
    did not trust must be its events' hash."""
    arc.init()
    _append(arc, BLOCK + 20)
    first = arc.checkpoint()
    _append(arc, BLOCK)
    new = first.size + 3
    forged = format_digest(hashlib.sha256(b"forged").digest())

    with read(arc.engine) as conn:
        (true_leaf,) = conn.execute(select(events.c.leaf_hash).where(events.c.seq == new)).one()
    run_write(arc.engine, lambda c: c.execute(
        update(events).where(events.c.seq == new).values(leaf_hash=forged)))
    _refused(arc, rf"not signing: event seq {new} .*stored Merkle leaf hash does not match")
    run_write(arc.engine, lambda c: c.execute(
        update(events).where(events.c.seq == new).values(leaf_hash=true_leaf)))

    run_write(arc.engine, lambda c: c.execute(
        update(log_nodes).where(log_nodes.c.idx == 0).values(hash=forged)))
    _refused(arc, rf"not signing: the stored log no longer extends checkpoint {first.id}")
    ref = _reference(arc)
    run_write(arc.engine, lambda c: c.execute(
        update(log_nodes).where(log_nodes.c.idx == 0)
        .values(hash=format_digest(_block_hash(ref, 0)))))

    run_write(arc.engine, lambda c: c.execute(insert(log_nodes).values(
        height=BLOCK_HEIGHT, idx=1, hash=forged)))  # a block no checkpoint has covered
    _refused(arc, r"the stored hash of events 256 to 511 \(log_nodes 8/1\) is not the hash")
    run_write(arc.engine, lambda c: c.execute(delete(log_nodes).where(log_nodes.c.idx == 1)))

    note = first.note.replace(str(first.size), str(first.size - 1), 1)
    run_write(arc.engine, lambda c: c.execute(
        update(checkpoints).where(checkpoints.c.id == first.id).values(note=note)))
    _refused(arc, rf"not signing: checkpoint {first.id} does not verify")
    run_write(arc.engine, lambda c: c.execute(
        update(checkpoints).where(checkpoints.c.id == first.id).values(note=first.note)))

    second = arc.checkpoint()  # everything put back: signed, and it extends the first
    assert second.size == first.size + BLOCK
    assert digest_bytes(second.root_hash) == _reference(arc).root()
    assert [n[1] for n in _nodes(arc)] == [0, 1]
    assert _checkpoint_problems(arc) == []


def test_the_check_since_the_checkpoint_rehashes_what_came_after_it(arc: Archive) -> None:
    """A run's check of the log for each capture: before anything is signed, the whole
    chain; after, the events since the latest checkpoint, re-hashed from their fields
    and linked to it, whatever the log's length. An edit of an event the checkpoint
    covers is the whole-log check's to find (``archive verify``, the run's
    ``custody_log_consistent``)."""
    arc.init()
    _append(arc, BLOCK + 20)
    unsigned = arc.check_custody(since_checkpoint=True)
    assert unsigned.ok and unsigned.events == BLOCK + 20 and unsigned.checkpoint_size is None
    first = arc.checkpoint()
    _append(arc, 30)

    status = arc.check_custody(since_checkpoint=True)
    assert status.ok and status.events == 30 and status.checkpoint_size == first.size
    assert arc.check_custody().events == first.size + 30

    def forge(seq: int, detail: str) -> None:
        run_write(arc.engine, lambda c: c.execute(
            update(events).where(events.c.seq == seq).values(detail=detail)))

    with read(arc.engine) as conn:
        original = dict(conn.execute(select(events.c.seq, events.c.detail)).all())
    after, before = first.size + 7, 3
    forge(after, '{"status":"forged"}')
    (problem, *_) = arc.check_custody(since_checkpoint=True).problems
    assert problem.startswith(f"event seq {after} ") and "no longer match" in problem
    forge(after, original[after])

    forge(before, '{"status":"forged"}')
    assert arc.check_custody(since_checkpoint=True).ok  # vouched for by the signed root
    problems = arc.check_custody().problems
    assert any(p.startswith(f"event seq {before} ") for p in problems)
    assert any("no longer hash to its signed root" in p for p in problems)
    forge(before, original[before])
    assert arc.check_custody().ok
