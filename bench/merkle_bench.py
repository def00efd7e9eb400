"""Figures for the RFC 9162 Merkle tree at a million leaves (no pass/fail).

Run from the repository root: ``.venv/bin/python bench/merkle_bench.py [LEAVES]``.
Prints build times (bulk, one append at a time), inclusion and
consistency proof generation and verification times (median of many), and proof
sizes in bytes as they would travel (32 bytes per hash, no framing).
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive.proof.merkle import (
    HASH_SIZE,
    MerkleTree,
    verify_consistency,
    verify_inclusion,
)

REPEATS = 201


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _median_us(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e6:,.1f} µs"


def main(n: int = 1_000_000) -> None:
    rng = random.Random(9162)
    print(f"Python {sys.version.split()[0]}, {n:,} leaves, SHA-256 (RFC 9162)")

    start = time.perf_counter()
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]
    print(f"leaf hashes generated      {time.perf_counter() - start:8.3f} s  (not the tree)")

    tree = MerkleTree()
    print(f"build, bulk (extend)       {_seconds(lambda: tree.extend(leaves)):8.3f} s")

    def one_by_one() -> MerkleTree:
        t = MerkleTree()
        for h in leaves:
            t.append(h)
        return t

    start = time.perf_counter()
    appended = one_by_one()
    elapsed = time.perf_counter() - start
    print(f"build, append one by one   {elapsed:8.3f} s  ({elapsed / n * 1e6:.2f} µs per append)")

    root = tree.root()
    assert appended.root() == root
    print(f"root                       {root.hex()}")
    print(f"root from cache            {_median_us([_seconds(tree.root) for _ in range(REPEATS)])}")
    print(f"tree cache                 ~{2 * n * HASH_SIZE / 1e6:.0f} MB of hashes (2n × 32 bytes)")

    indices = [rng.randrange(n) for _ in range(REPEATS)]
    gen: list[float] = []
    ver: list[float] = []
    sizes: list[int] = []
    for i in indices:
        start = time.perf_counter()
        proof = tree.inclusion_proof(i)
        gen.append(time.perf_counter() - start)
        start = time.perf_counter()
        ok = verify_inclusion(leaves[i], i, n, proof, root)
        ver.append(time.perf_counter() - start)
        assert ok
        sizes.append(len(proof) * HASH_SIZE)
    print(f"inclusion proof, generate  {_median_us(gen)} median of {REPEATS}")
    print(f"inclusion proof, verify    {_median_us(ver)} median of {REPEATS}")
    print(f"inclusion proof size       {min(sizes)}-{max(sizes)} bytes "
          f"({min(sizes) // HASH_SIZE}-{max(sizes) // HASH_SIZE} hashes), "
          f"median {int(statistics.median(sizes))}")

    olds = [rng.randrange(1, n) for _ in range(REPEATS)]
    gen, ver, sizes = [], [], []
    for m in olds:
        start = time.perf_counter()
        proof = tree.consistency_proof(m)
        gen.append(time.perf_counter() - start)
        old_root = tree.root(m)
        start = time.perf_counter()
        ok = verify_consistency(m, n, old_root, root, proof)
        ver.append(time.perf_counter() - start)
        assert ok
        sizes.append(len(proof) * HASH_SIZE)
    print(f"consistency proof, gen.    {_median_us(gen)} median of {REPEATS} (old size random)")
    print(f"consistency proof, verify  {_median_us(ver)} median of {REPEATS}")
    print(f"consistency proof size     {min(sizes)}-{max(sizes)} bytes, "
          f"median {int(statistics.median(sizes))}")
    for m in (1, n // 2, n - 1):
        size = len(tree.consistency_proof(m)) * HASH_SIZE
        print(f"  from size {m:>9,}         {size} bytes")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
