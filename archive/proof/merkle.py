"""RFC 9162 (Certificate Transparency v2) Merkle tree: tree hash, proofs, verifiers.

The custody log is a list of leaves (the RFC 8785 bytes of each event); this module
turns their leaf hashes into a root hash, inclusion proofs (one event is in the log
committed to by a checkpoint) and consistency proofs (a later checkpoint's log is an
append-only extension of an earlier one).

Why these exact rules: the proofs are meant to be checked by third parties with their
own code, so every hash is the one RFC 9162 §2.1 defines and nothing else:

* leaf hash ``SHA-256(0x00 || leaf)`` and node hash ``SHA-256(0x01 || left || right)``
  (§2.1.1; the distinct prefixes stop a leaf from being passed off as a node);
* the tree over ``n`` leaves splits at ``k``, the largest power of two *smaller than*
  ``n`` (not the midpoint), and the hash of the empty tree is ``SHA-256("")``;
* :func:`verify_inclusion` and :func:`verify_consistency` follow the step lists of
  §2.1.3.2 and §2.1.4.2 line by line, so that a reader can hold the RFC next to them.

Everything here works on leaf *hashes* (32-byte ``bytes``); hash leaf data with
:func:`leaf_hash` first. Generators raise :class:`ValueError` on impossible arguments
(a programming error); verifiers never raise on bad input, they return ``False``.

Two shapes of the same tree, for two jobs:

* :class:`MerkleTree` keeps every complete subtree hash (one ``bytearray`` per level),
  so appends cost amortised O(1) hashes and a proof at any earlier tree size costs
  O(log² n) hashes, with no rereading of leaves: the in-memory and verifier side.
* The module functions :func:`root`, :func:`inclusion_proof` and
  :func:`consistency_proof` take a plain sequence of leaf hashes; each builds a
  :class:`MerkleTree` (O(n)), so use a tree object when asking for many proofs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
"""Bytes in every hash here (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 9162 §2.1.1): the root of the tree with no leaves."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


# --------------------------------------------------------------------------- hashing

def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``, the hash of one leaf's bytes (RFC 9162 §2.1.1)."""
    return _sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``, an interior node (RFC 9162 §2.1.1)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): RFC 9162 §2.1.1's ``k``,
    where the tree over ``n`` leaves splits."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes, got {value!r:.80}")
    return value


def _is_proof(value: object) -> bool:
    """A sequence of 32-byte hashes (bytes and str are sequences too, but not of hashes)."""
    return (isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray, str))
            and all(_is_hash(p) for p in value))


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# ------------------------------------------------------------------ proof structure
#
# The shape of a proof depends only on the sizes, never on the hashes. Exposing the
# leaf ranges lets a store that keeps subtree hashes elsewhere (a database, tiles)
# build the same proofs as MerkleTree: proof[i] = MTH(D[lo_i:hi_i]).

def inclusion_path_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """Leaf ranges ``[lo, hi)`` whose subtree hashes form ``PATH(index, D[tree_size])``.

    RFC 9162 §2.1.3.1 defines the path recursively (``PATH(m, D[n]) = PATH(m, D[0:k]) :
    MTH(D[k:n])`` when ``m < k``, else ``PATH(m - k, D[k:n]) : MTH(D[0:k])``). Walking it
    from the root down and reversing gives the same list, leaf level first, without
    recursion.
    """
    if not (_is_size(index) and _is_size(tree_size)) or index >= tree_size:
        raise ValueError(f"no leaf {index!r} in a tree of size {tree_size!r}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_path_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose subtree hashes form ``PROOF(old_size, D[new_size])``.

    RFC 9162 §2.1.4.1: ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``, where
    ``SUBPROOF(m, D[m], true) = {}``, ``SUBPROOF(m, D[m], false) = {MTH(D[m])}``, and for
    ``m < n`` with ``k`` the split point: ``SUBPROOF(m, D[0:k], b) : MTH(D[k:n])`` when
    ``m <= k``, else ``SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])``. The proof between
    equal sizes, and from the empty tree, is empty (there is nothing to prove).
    """
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size:
        raise ValueError(f"no consistency proof from size {old_size!r} to {new_size!r}")
    ranges: list[tuple[int, int]] = []
    if old_size in (0, new_size):
        return ranges
    lo, hi, m, whole = 0, new_size, old_size, True
    while True:
        size = hi - lo
        if m == size:
            if not whole:
                ranges.append((lo, hi))
            break
        k = split_point(size)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    ranges.reverse()
    return ranges


# ------------------------------------------------------------------------ the tree

class MerkleTree:
    """An append-only RFC 9162 tree that caches the hash of every complete subtree.

    ``_levels[h]`` is a ``bytearray`` of the 32-byte hashes of the aligned perfect
    subtrees of height ``h`` (``2**h`` leaves, starting at a multiple of ``2**h``) that
    are complete so far; level 0 holds the leaf hashes. The total is under ``2n``
    hashes (64 bytes per leaf). Appending completes at most ``log n`` subtrees and
    on average one, so appends are amortised O(1) hashes. Every left sibling on a
    proof path is such a subtree (a cache read); each right sibling is a ragged edge
    hashed from O(log n) cached subtrees. Proofs and roots can be asked for any size
    up to the current one: the hashes of an older tree are all still here.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaf_hashes)

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns its index. Amortised O(1) hashes."""
        h = _check_hash(leaf_hash, "a leaf hash")
        index = self._size
        levels = self._levels
        levels[0] += h
        self._size = index + 1
        height = 0
        node = h
        # Leaf `index` completes a subtree of height h+1 for each trailing 1 bit.
        while (index >> height) & 1:
            level = levels[height]
            node = node_hash(bytes(level[-2 * HASH_SIZE:-HASH_SIZE]), node)
            height += 1
            if height == len(levels):
                levels.append(bytearray())
            levels[height] += node
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes, level by level: each level hashes the pairs the
        new leaves completed, from where it stopped (same result as :meth:`append` in a
        loop, with less per-leaf bookkeeping)."""
        new = bytearray()
        for h in leaf_hashes:
            new += _check_hash(h, "a leaf hash")
        if not new:
            return
        levels = self._levels
        levels[0] += new
        self._size += len(new) // HASH_SIZE
        height = 0
        while (want := self._size >> (height + 1)) > 0:
            if height + 1 == len(levels):
                levels.append(bytearray())
            below, above = levels[height], levels[height + 1]
            have = len(above) // HASH_SIZE
            pair = 2 * HASH_SIZE
            above += b"".join(
                _sha256(_NODE_PREFIX + below[j * pair:(j + 1) * pair]).digest()
                for j in range(have, want))
            height += 1

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not _is_size(index) or index >= self._size:
            raise ValueError(f"no leaf {index!r} in a tree of size {self._size}")
        return bytes(self._levels[0][index * HASH_SIZE:(index + 1) * HASH_SIZE])

    def subtree_hash(self, lo: int, hi: int) -> bytes:
        """``MTH(D[lo:hi])``, the RFC 9162 tree hash of leaves ``lo`` to ``hi - 1``.

        Follows the §2.1.1 recursion, reading a cached node whenever the range is an
        aligned perfect subtree. For the ranges proofs use (a left sibling is always
        aligned) this costs O(log n) hashes.
        """
        if not (_is_size(lo) and _is_size(hi)) or lo > hi or hi > self._size:
            raise ValueError(f"no leaf range [{lo!r}, {hi!r}) in a tree of size {self._size}")
        return self._mth(lo, hi)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            height = n.bit_length() - 1
            j = lo >> height
            return bytes(self._levels[height][j * HASH_SIZE:(j + 1) * HASH_SIZE])
        k = split_point(n)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _size_arg(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not _is_size(size) or size > self._size:
            raise ValueError(f"tree size {size!r} is not in 0..{self._size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """``MTH(D[size])``: the root of the first ``size`` leaves (default: all)."""
        return self._mth(0, self._size_arg(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 §2.1.3.1 inclusion path of leaf ``index`` in the tree of the
        first ``size`` leaves (default: all), deepest sibling first."""
        n = self._size_arg(size)
        return [self._mth(lo, hi) for lo, hi in inclusion_path_ranges(index, n)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The RFC 9162 §2.1.4.1 consistency proof from ``old_size`` to ``new_size``
        (default: the current size)."""
        n = self._size_arg(new_size)
        return [self._mth(lo, hi) for lo, hi in consistency_path_ranges(old_size, n)]


# -------------------------------------------------------------- module functions

def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of the given leaf hashes (RFC 9162 §2.1.1); ``EMPTY_ROOT`` for none."""
    return MerkleTree(leaf_hashes).root()


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Inclusion path of leaf ``index`` in the tree of all ``leaf_hashes`` (§2.1.3.1).

    O(n) per call because it builds the tree; keep a :class:`MerkleTree` for many proofs.
    """
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Consistency proof from ``old_size`` to ``len(leaf_hashes)`` (§2.1.4.1).

    O(n) per call because it builds the tree; keep a :class:`MerkleTree` for many proofs.
    """
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


# ---------------------------------------------------------------------- verifiers

def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that ``proof`` leads to, or ``None`` when the proof cannot be right for
    ``(index, tree_size)`` at all (wrong length, malformed hash, index out of range).

    Steps 1-4 and the ``sn == 0`` half of step 5 of RFC 9162 §2.1.3.2; comparing the
    result with the expected root is left to the caller, which lets an error message
    show the root a bad proof leads to.
    """
    if not (_is_hash(leaf_hash) and _is_size(index) and _is_size(tree_size)):
        return None
    if not _is_proof(proof):
        return None
    # 1. If leaf_index is greater than or equal to tree_size, fail.
    if index >= tree_size:
        return None
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, tree_size - 1
    # 3. Set r to hash.
    r = leaf_hash
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return None
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #     until either LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            # Otherwise: i. Set r to HASH(0x01 || r || p).
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. Compare sn to 0 (and, in verify_inclusion, r against the root hash).
    if sn != 0:
        return None
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf_hash`` at ``index`` in the tree of size
    ``tree_size`` whose root is ``root``: RFC 9162 §2.1.3.2, exactly.

    The proof binds the leaf to the root; it is the signed checkpoint that binds the
    root to the tree size. (A proof for leaf 0 of a 5-leaf tree also satisfies the
    algorithm for a claimed size 6 with the same root, because the path shape is the
    same; no real 6-leaf tree has that root, which is why roots are only trusted from
    a signed checkpoint that states their size.)
    """
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    return computed is not None and _is_hash(root) and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows that the tree ``(new_size, new_root)`` extends the tree
    ``(old_size, old_root)``: RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``.

    The RFC's algorithm assumes ``0 < first < second``. The two cases it leaves out
    are decided the way transparency-dev/merkle decides them, since there is nothing
    to prove: equal sizes are consistent iff the proof is empty and the roots are
    equal; the empty tree is consistent with every tree iff the proof is empty and
    ``old_root`` really is the empty tree's root.

    As with inclusion, the sizes only shape the computation: it is the two signed
    checkpoints that bind each root to its size.
    """
    if not (_is_size(old_size) and _is_size(new_size)):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not _is_proof(proof):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        return len(proof) == 0 and old_root == EMPTY_ROOT
    first, second = old_size, new_size
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if len(proof) == 0:
        return False
    path = list(proof)
    # 2. If first is an exact power of 2, then prepend first_hash to the
    #    consistency_path array.
    if first & (first - 1) == 0:
        path.insert(0, old_root)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn)
    #    is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).
            fr = node_hash(c, fr)
            # ii. Set sr to HASH(0x01 || c || sr).
            sr = node_hash(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #      until either LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            # Otherwise: i. Set sr to HASH(0x01 || sr || c).
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
    return fr == old_root and sr == new_root and sn == 0
