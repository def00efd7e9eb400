"""RFC 9162 Merkle tree: known answers, an independent reference, and properties.

The reference functions below are the RFC's recursive definitions (§2.1.1 MTH,
§2.1.3.1 PATH, §2.1.4.1 PROOF/SUBPROOF) transcribed as plainly as possible over leaf
*data*, with hashlib only: slow, obviously right, and sharing no code with
archive.proof.merkle.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archive.proof import merkle
from archive.proof.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_path_ranges,
    consistency_proof,
    inclusion_path_ranges,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

PROPS = settings(max_examples=250, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------ the reference (RFC)

def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """Largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_sides(m: int, n: int) -> list[str]:
    """Which side each PATH element is on: the shape of the proof, hashes aside."""
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_sides(m, k), "right"]
    return [*ref_sides(m - k, n - k), "left"]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def data_for(seed: int, n: int) -> list[bytes]:
    """n distinct leaf entries (varying lengths) derived from seed."""
    return [_h(f"{seed}/{i}".encode())[: 1 + (i * 7 + seed) % 32] for i in range(n)]


def hashes_of(data: list[bytes]) -> list[bytes]:
    return [_h(b"\x00" + x) for x in data]


# ------------------------------------------------------- CT known-answer vectors

CT_DATA = [bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [bytes.fromhex(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
CT_INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CT_CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CT_LEAVES = [leaf_hash(x) for x in CT_DATA]


def test_hash_prefixes_and_empty_root() -> None:
    assert EMPTY_ROOT == _h(b"") == CT_ROOTS[0]
    assert leaf_hash(b"abc") == _h(b"\x00abc")
    a, b = _h(b"a"), _h(b"b")
    assert node_hash(a, b) == _h(b"\x01" + a + b)


@pytest.mark.parametrize("n", range(9))
def test_ct_roots(n: int) -> None:
    assert root(CT_LEAVES[:n]) == CT_ROOTS[n]
    assert MerkleTree(CT_LEAVES).root(n) == CT_ROOTS[n]


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_ct_inclusion(index: int, size: int) -> None:
    expected = [bytes.fromhex(x) for x in CT_INCLUSION[index, size]]
    assert inclusion_proof(index, CT_LEAVES[:size]) == expected
    assert verify_inclusion(CT_LEAVES[index], index, size, expected, CT_ROOTS[size])


@pytest.mark.parametrize(("old", "new"), sorted(CT_CONSISTENCY))
def test_ct_consistency(old: int, new: int) -> None:
    expected = [bytes.fromhex(x) for x in CT_CONSISTENCY[old, new]]
    assert consistency_proof(old, CT_LEAVES[:new]) == expected
    assert verify_consistency(old, new, CT_ROOTS[old], CT_ROOTS[new], expected)


# ------------------------------------------------------- against the reference

def test_roots_match_reference_for_sizes_0_to_64() -> None:
    data = data_for(7, 64)
    hashes = hashes_of(data)
    tree = MerkleTree()
    for n in range(65):
        expected = ref_mth(data[:n])
        assert root(hashes[:n]) == expected, n
        assert tree.root() == expected, n
        if n < 64:
            assert tree.append(hashes[n]) == n


def test_every_proof_matches_reference_up_to_40_leaves() -> None:
    data = data_for(11, 40)
    tree = MerkleTree(hashes_of(data))
    for n in range(1, 41):
        for i in range(n):
            assert tree.inclusion_proof(i, n) == ref_path(i, data[:n]), (i, n)
        for m in range(1, n + 1):
            assert tree.consistency_proof(m, n) == ref_proof(m, data[:n]), (m, n)
        assert tree.consistency_proof(0, n) == []


@PROPS
@given(seed=st.integers(0, 2**32), n=st.integers(1, 300), data=st.data())
def test_tree_matches_reference_at_random_sizes(seed: int, n: int, data: st.DataObject) -> None:
    entries = data_for(seed, n)
    hashes = hashes_of(entries)
    i = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(1, n), label="old size")
    assert root(hashes) == ref_mth(entries)
    assert inclusion_proof(i, hashes) == ref_path(i, entries)
    assert consistency_proof(m, hashes) == ref_proof(m, entries)


def test_proof_ranges_partition_the_tree() -> None:
    for n in range(1, 70):
        for i in range(n):
            ranges = inclusion_path_ranges(i, n)
            covered = sorted(x for lo, hi in ranges for x in range(lo, hi))
            assert covered == [x for x in range(n) if x != i], (i, n)
            assert len(ranges) == len(ref_sides(i, n))


# ----------------------------------------------------------- inclusion properties

def _flip(proof: list[bytes], element: int, bit: int) -> list[bytes]:
    out = list(proof)
    b = bytearray(out[element])
    b[bit // 8] ^= 1 << (bit % 8)
    out[element] = bytes(b)
    return out


@PROPS
@given(seed=st.integers(0, 2**32), n=st.integers(1, 300), data=st.data())
def test_inclusion_verifies_and_every_tamper_fails(
    seed: int, n: int, data: st.DataObject
) -> None:
    hashes = hashes_of(data_for(seed, n + 40))
    big = MerkleTree(hashes)          # n + 40 leaves: roots of other sizes
    tree = MerkleTree(hashes[:n])
    r = tree.root()
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = tree.inclusion_proof(i)
    leaf = hashes[i]
    assert big.inclusion_proof(i, n) == proof   # same proof from a larger tree
    assert verify_inclusion(leaf, i, n, proof, r)
    assert root_from_inclusion_proof(leaf, i, n, proof) == r
    junk = data.draw(st.binary(min_size=32, max_size=32), label="junk")
    assume(junk not in proof)

    # a flipped bit anywhere in the path
    if proof:
        e = data.draw(st.integers(0, len(proof) - 1), label="element")
        bit = data.draw(st.integers(0, 255), label="bit")
        assert not verify_inclusion(leaf, i, n, _flip(proof, e, bit), r)
    # a flipped bit in the leaf hash or the root
    bit = data.draw(st.integers(0, 255), label="leaf bit")
    assert not verify_inclusion(_flip([leaf], 0, bit)[0], i, n, proof, r)
    assert not verify_inclusion(leaf, i, n, proof, _flip([r], 0, bit)[0])
    # another leaf at this index
    other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i) if n > 1 else st.none())
    if other is not None:
        assert not verify_inclusion(hashes[other], i, n, proof, r)
        # a wrong index
        assert not verify_inclusion(leaf, other, n, proof, r)
    assert not verify_inclusion(leaf, n, n, proof, r)
    assert not verify_inclusion(leaf, n + 1, n, proof, r)
    # a wrong tree size, with the genuine root of that size (what a signed
    # checkpoint of that size would say)
    n2 = data.draw(st.integers(i + 1, n + 40).filter(lambda s: s != n), label="other size")
    assert not verify_inclusion(leaf, i, n2, proof, big.root(n2))
    # ... and with this root: RFC 9162 §2.1.3.2 only uses the size for the shape of
    # the path, so it passes exactly when the shape is the same (the checkpoint
    # signature is what binds size to root)
    same_shape = ref_sides(i, n) == ref_sides(i, n2)
    assert verify_inclusion(leaf, i, n2, proof, r) == same_shape
    # a swapped root (another size's, or junk)
    assert not verify_inclusion(leaf, i, n, proof, big.root(n2))
    assert not verify_inclusion(leaf, i, n, proof, junk)
    # truncated path
    if proof:
        assert not verify_inclusion(leaf, i, n, proof[:-1], r)
        assert not verify_inclusion(leaf, i, n, proof[1:], r)
    # an extra element, at either end or in the middle
    assert not verify_inclusion(leaf, i, n, [*proof, junk], r)
    assert not verify_inclusion(leaf, i, n, [junk, *proof], r)
    mid = len(proof) // 2
    assert not verify_inclusion(leaf, i, n, [*proof[:mid], junk, *proof[mid:]], r)
    # reordered path
    if len(proof) >= 2 and proof[0] != proof[1]:
        assert not verify_inclusion(leaf, i, n, [proof[1], proof[0], *proof[2:]], r)


# --------------------------------------------------------- consistency properties

@PROPS
@given(seed=st.integers(0, 2**32), n=st.integers(1, 300), data=st.data())
def test_consistency_verifies_and_every_tamper_fails(
    seed: int, n: int, data: st.DataObject
) -> None:
    hashes = hashes_of(data_for(seed, n + 40))
    big = MerkleTree(hashes)
    tree = MerkleTree(hashes[:n])
    m = data.draw(st.integers(0, n), label="old size")
    proof = tree.consistency_proof(m)
    old, new = big.root(m), tree.root()
    assert big.consistency_proof(m, n) == proof
    assert verify_consistency(m, n, old, new, proof)
    junk = data.draw(st.binary(min_size=32, max_size=32), label="junk")
    assume(junk not in proof and junk not in (old, new))

    # an extra element, anywhere
    assert not verify_consistency(m, n, old, new, [*proof, junk])
    assert not verify_consistency(m, n, old, new, [junk, *proof])
    if m in (0, n):
        assert proof == []
        if m == n:
            assert not verify_consistency(m, n, old, junk, proof)
        assert not verify_consistency(m, n, junk, new, proof)
        return

    # a flipped bit anywhere in the proof, or in either root
    e = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_consistency(m, n, old, new, _flip(proof, e, bit))
    assert not verify_consistency(m, n, _flip([old], 0, bit)[0], new, proof)
    assert not verify_consistency(m, n, old, _flip([new], 0, bit)[0], proof)
    # swapped roots, and junk roots
    assert not verify_consistency(m, n, new, old, proof)
    assert not verify_consistency(n, m, new, old, proof)
    assert not verify_consistency(m, n, junk, new, proof)
    assert not verify_consistency(m, n, old, junk, proof)
    # a wrong old size or new size, with the genuine roots of those sizes
    m2 = data.draw(st.integers(1, n - 1).filter(lambda s: s != m) if n > 2 else st.none())
    if m2 is not None:
        assert not verify_consistency(m2, n, big.root(m2), new, proof)
    n2 = data.draw(st.integers(m + 1, n + 40).filter(lambda s: s != n), label="new size")
    assert not verify_consistency(m, n2, old, big.root(n2), proof)
    # truncated proof, from either end
    assert not verify_consistency(m, n, old, new, proof[:-1])
    assert not verify_consistency(m, n, old, new, proof[1:])
    # reordered proof
    if len(proof) >= 2 and proof[0] != proof[1]:
        assert not verify_consistency(m, n, old, new, [proof[1], proof[0], *proof[2:]])
    # the proof ties these two trees: a new tree that rewrote leaf m-1 fails
    rewritten = MerkleTree([*hashes[:m - 1], junk, *hashes[m:n]]).root()
    assert not verify_consistency(m, n, old, rewritten, proof)


def test_consistency_edge_cases() -> None:
    tree = MerkleTree(CT_LEAVES)
    r4, r5 = tree.root(4), tree.root(5)
    assert verify_consistency(4, 4, r4, r4, [])
    assert not verify_consistency(4, 4, r4, r5, [])
    assert not verify_consistency(4, 4, r4, r4, [r4])
    assert verify_consistency(0, 8, EMPTY_ROOT, tree.root(), [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 8, r4, tree.root(), [])
    assert not verify_consistency(0, 8, EMPTY_ROOT, tree.root(), [r4])
    assert not verify_consistency(4, 5, r4, r5, [])            # step 1: empty path fails
    assert not verify_consistency(5, 4, r5, r4, tree.consistency_proof(4, 5))


# ------------------------------------------------------------------- large trees

@pytest.fixture(scope="module")
def large() -> tuple[list[bytes], MerkleTree]:
    hashes = [_h(i.to_bytes(4, "big")) for i in range((1 << 17) + 3)]
    return hashes, MerkleTree(hashes)


@pytest.mark.parametrize("n", [1 << 16, (1 << 16) + 1, 100_000, (1 << 17) + 3])
def test_large_trees(large: tuple[list[bytes], MerkleTree], n: int) -> None:
    hashes, tree = large
    r = tree.root(n)
    for i in (0, 1, n // 3, n // 2, n - 2, n - 1):
        proof = tree.inclusion_proof(i, n)
        assert len(proof) <= n.bit_length()
        assert verify_inclusion(hashes[i], i, n, proof, r)
        assert not verify_inclusion(hashes[i], i, n, _flip(proof, len(proof) // 2, 3), r)
    for m in (1, 2, 1000, 1 << 15, n // 2 + 1, n - 1):
        proof = tree.consistency_proof(m, n)
        assert verify_consistency(m, n, tree.root(m), r, proof)
        assert not verify_consistency(m, n, tree.root(m), r, proof[:-1])


# ---------------------------------------------------------------- the tree object

def test_extend_after_odd_appends_matches_appends() -> None:
    hashes = hashes_of(data_for(3, 500))
    one_by_one = MerkleTree()
    for h in hashes:
        one_by_one.append(h)
    for cut in (0, 1, 3, 64, 65, 127, 128, 499):
        mixed = MerkleTree(hashes[:cut])
        for h in hashes[cut:cut + 5]:
            mixed.append(h)
        mixed.extend(hashes[cut + 5:])
        mixed.extend([])
        assert len(mixed) == 500
        assert mixed.root() == one_by_one.root()
        assert mixed.inclusion_proof(cut % 500) == one_by_one.inclusion_proof(cut % 500)


def test_tree_answers_for_earlier_sizes() -> None:
    hashes = hashes_of(data_for(5, 77))
    tree = MerkleTree(hashes)
    for n in (0, 1, 2, 33, 64, 76):
        small = MerkleTree(hashes[:n])
        assert tree.root(n) == small.root()
        assert tree.subtree_hash(0, n) == small.root()
        if n:
            assert tree.inclusion_proof(n - 1, n) == small.inclusion_proof(n - 1)
            assert tree.consistency_proof(1, n) == small.consistency_proof(1)
    assert tree.leaf(76) == hashes[76]
    assert tree.subtree_hash(3, 10) == ref_mth(data_for(5, 77)[3:10])  # unaligned range


def test_generators_reject_impossible_arguments() -> None:
    tree = MerkleTree(CT_LEAVES)
    with pytest.raises(ValueError, match="a leaf hash must be 32 bytes"):
        tree.append(b"short")
    with pytest.raises(ValueError, match="a leaf hash must be 32 bytes"):
        MerkleTree([b"x" * 33])
    with pytest.raises(ValueError, match="no leaf 8 in a tree of size 8"):
        tree.inclusion_proof(8)
    with pytest.raises(ValueError, match="no leaf -1"):
        tree.inclusion_proof(-1)
    with pytest.raises(ValueError, match=r"tree size 9 is not in 0\.\.8"):
        tree.root(9)
    with pytest.raises(ValueError, match="no consistency proof from size 5 to 4"):
        tree.consistency_proof(5, 4)
    with pytest.raises(ValueError):
        tree.leaf(8)
    with pytest.raises(ValueError):
        tree.subtree_hash(3, 2)
    with pytest.raises(ValueError):
        inclusion_proof(0, [])


def test_verifiers_return_false_on_malformed_input() -> None:
    proof = inclusion_proof(5, CT_LEAVES)
    r = CT_ROOTS[8]
    leaf = CT_LEAVES[5]
    assert verify_inclusion(leaf, 5, 8, proof, r)
    assert not verify_inclusion(leaf[:31], 5, 8, proof, r)
    assert not verify_inclusion(leaf, 5, 8, proof, r[:31])
    assert not verify_inclusion(leaf, 5, 8, [proof[0][:31], *proof[1:]], r)
    assert not verify_inclusion(leaf, -1, 8, proof, r)
    assert not verify_inclusion(leaf, 5, -8, proof, r)
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, True, 8, proof, r)  # bool is not a size
    assert not verify_inclusion(leaf, 5, 8, b"".join(proof), r)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf.hex(), 5, 8, proof, r)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf, 5, 8, None, r)  # type: ignore[arg-type]
    assert verify_inclusion(leaf, 5, 8, tuple(proof), r)
    cproof = consistency_proof(6, CT_LEAVES)
    r6 = CT_ROOTS[6]
    assert verify_consistency(6, 8, r6, r, cproof)
    assert not verify_consistency(6, 8, r6[:31], r, cproof)
    assert not verify_consistency(6, 8, r6, r[:31], cproof)
    assert not verify_consistency(6, 8, r6, r, [cproof[0][:31], *cproof[1:]])
    assert not verify_consistency(-6, 8, r6, r, cproof)
    assert not verify_consistency(6, 8, r6, r, b"".join(cproof))  # type: ignore[arg-type]
    assert not verify_consistency(6, 8, r6, r, None)  # type: ignore[arg-type]


def test_module_exports_documented_constants() -> None:
    assert merkle.HASH_SIZE == 32
    assert consistency_path_ranges(3, 3) == [] == consistency_path_ranges(0, 3)
    with pytest.raises(ValueError):
        consistency_path_ranges(4, 3)
