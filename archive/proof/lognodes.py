"""The custody log's Merkle tree read from stored block hashes, not from every leaf.

A proof against a checkpoint of ``n`` events needs ``O(log n)`` subtree hashes, but
building the tree from the leaves reads all ``n`` leaf hashes and hashes about ``n``
nodes: 1.4 s a capture page at 300,000 events, growing with the archive. So the hash of
every complete *block* of :data:`BLOCK` events (``MTH(D[256 j : 256 (j + 1)])``, an
aligned perfect subtree of height :data:`BLOCK_HEIGHT`) is kept in ``log_nodes``. A
tree at size ``n`` is then the ``n // 256`` stored block hashes, hashed into the upper
tree (a :class:`~archive.proof.merkle.MerkleTree` whose leaves are block hashes: an
aligned perfect subtree of blocks has the same hash as one of events), plus the leaf
hashes of the few blocks a proof descends into, read on demand.

Blocks are immutable once complete (the log only grows), so a stored hash is right for
every size that covers it. Each checkpoint stores the hashes its tree had to compute
(:meth:`LogTree.store_computed`, in the checkpoint's transaction); a reader that finds
one missing (an archive older than this table, events appended since the last
checkpoint) computes it from the leaves and goes on. The stored hashes are derived from
the stored leaf hashes, as the tree always was; ``archive verify`` compares each one with
the tree it recomputes from the events' own fields (:func:`check_stored_nodes`).
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from archive.core.hashing import digest_bytes, format_digest
from archive.errors import IntegrityError
from archive.ledger.tables import events, log_nodes
from archive.proof.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_path_ranges,
    inclusion_path_ranges,
    node_hash,
    split_point,
)

BLOCK_HEIGHT = 8
BLOCK = 1 << BLOCK_HEIGHT


def _leaf_range(conn: Connection, lo: int, hi: int) -> list[bytes]:
    rows = conn.execute(select(events.c.leaf_hash).where(events.c.seq >= lo,
                                                         events.c.seq < hi)
                        .order_by(events.c.seq)).all()
    if len(rows) != hi - lo:
        raise IntegrityError(f"the log should hold events {lo} to {hi - 1} but "
                             f"{len(rows)} of those {hi - lo} were found")
    return [digest_bytes(r.leaf_hash) for r in rows]


class LogTree:
    """The log's tree at ``size`` events, in the read transaction of ``conn`` (which
    must stay open while proofs are asked for).

    A signer passes what it has checked itself: ``trusted_below``, the size up to which
    stored block hashes may be used (its last signed checkpoint's, against whose root it
    then checks the tree's consistency); later blocks are computed and compared with any
    stored ones. ``fresh``, ``(start, leaves)``: the leaf hashes of events ``start`` on,
    recomputed from the events' fields (32 bytes each, concatenated), used instead of
    the stored column."""

    def __init__(self, conn: Connection, size: int, *, trusted_below: int | None = None,
                 fresh: tuple[int, bytes] | None = None) -> None:
        self.size = size
        self._conn = conn
        self._blocks: dict[int, MerkleTree] = {}
        self._fresh_start, self._fresh = fresh if fresh is not None else (size, b"")
        complete = size // BLOCK
        stored = {int(idx): digest_bytes(h) for idx, h in conn.execute(
            select(log_nodes.c.idx, log_nodes.c.hash)
            .where(log_nodes.c.height == BLOCK_HEIGHT, log_nodes.c.idx < complete))}
        self.unused: dict[int, bytes] = {}  # stored, not trusted: compared when storing
        if trusted_below is not None:
            for j in [j for j in stored if (j + 1) * BLOCK > trusted_below]:
                self.unused[j] = stored.pop(j)
        self.computed: dict[int, bytes] = {}
        run_start = None
        for j in [*range(complete), complete]:  # the sentinel ends the last run
            if j < complete and j not in stored:
                run_start = j if run_start is None else run_start
                continue
            if run_start is not None:
                self._compute(run_start, j)
                run_start = None
        self._upper = MerkleTree(stored.get(j) or self.computed[j] for j in range(complete))

    def _leaves(self, lo: int, hi: int) -> list[bytes]:
        cut = max(lo, min(hi, self._fresh_start))
        fresh = self._fresh
        start = self._fresh_start
        return [*(_leaf_range(self._conn, lo, cut) if lo < cut else ()),
                *(fresh[(i - start) * 32:(i - start + 1) * 32] for i in range(cut, hi))]

    def _compute(self, first: int, end: int) -> None:
        """Hash blocks ``first`` to ``end - 1`` from their leaves (one read)."""
        tree = MerkleTree(self._leaves(first * BLOCK, end * BLOCK))
        for j in range(first, end):
            lo = (j - first) * BLOCK
            self.computed[j] = tree.subtree_hash(lo, lo + BLOCK)

    def _block(self, j: int) -> MerkleTree:
        block = self._blocks.get(j)
        if block is None:
            lo = j * BLOCK
            block = MerkleTree(self._leaves(lo, min(lo + BLOCK, self.size)))
            self._blocks[j] = block
        return block

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            if n >= BLOCK:
                return self._upper.subtree_hash(lo // BLOCK, hi // BLOCK)
            j = lo // BLOCK
            return self._block(j).subtree_hash(lo - j * BLOCK, hi - j * BLOCK)
        k = split_point(n)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def root(self) -> bytes:
        return self._mth(0, self.size)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1, the same list :meth:`MerkleTree.inclusion_proof` gives."""
        return [self._mth(lo, hi) for lo, hi in inclusion_path_ranges(index, self.size)]

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 from ``old_size`` to this tree's size."""
        return [self._mth(lo, hi) for lo, hi in consistency_path_ranges(old_size, self.size)]

    def check_untrusted(self) -> None:
        """Raise :class:`IntegrityError` when a stored block hash this tree did not trust
        (``trusted_below``) is not the hash it computed from the events: the row is not
        its events' hash."""
        for j, h in sorted(self.computed.items()):
            if j in self.unused and self.unused[j] != h:
                raise IntegrityError(
                    f"the stored hash of events {j * BLOCK} to {(j + 1) * BLOCK - 1} "
                    f"(log_nodes {BLOCK_HEIGHT}/{j}) is not the hash of those events")

    def store_computed(self, conn: Connection) -> int:
        """Store the block hashes this tree computed that are not stored yet (in a write
        transaction that holds the log-head lock, so no other writer stores the same
        ones); returns how many. A stored hash this tree did not trust and computed
        otherwise is an :class:`IntegrityError` (:meth:`check_untrusted`)."""
        self.check_untrusted()
        new = [{"height": BLOCK_HEIGHT, "idx": j, "hash": format_digest(h)}
               for j, h in sorted(self.computed.items()) if j not in self.unused]
        if new:
            conn.execute(insert(log_nodes), new)
        return len(new)


def check_stored_nodes(conn: Connection, tree: MerkleTree) -> list[str]:
    """Each stored block hash against ``tree``, the log's tree recomputed from the
    events' own fields by ``archive verify``."""
    problems = []
    for height, idx, stored in conn.execute(
            select(log_nodes.c.height, log_nodes.c.idx, log_nodes.c.hash)
            .order_by(log_nodes.c.height, log_nodes.c.idx)):
        lo, hi = idx << height, (idx + 1) << height
        where = f"the stored hash of events {lo} to {hi - 1} (log_nodes {height}/{idx})"
        if height != BLOCK_HEIGHT:
            problems.append(f"{where}: no tree node of that height is ever stored")
        elif hi > tree.size:
            problems.append(f"{where} covers events the log does not hold (it has "
                            f"{tree.size}): events were removed")
        elif digest_bytes(stored) != tree.subtree_hash(lo, hi):
            problems.append(f"{where} is not the hash of those events: the row was "
                            "altered, and proofs built on it fail against signed roots")
    return problems


__all__ = ["BLOCK", "BLOCK_HEIGHT", "LogTree", "check_stored_nodes"]
