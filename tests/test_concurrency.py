"""Many processes appending at once never fork or break the chain (FAULTS 24, 26)."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from archive.core.hashing import digest_bytes, sha256_bytes
from archive.ledger.custody import CAPTURE, Agent, CustodyLog, NewEvent, check_chain, iter_events
from archive.ledger.db import open_database, run_write
from archive.proof.merkle import MerkleTree

PROCS, APPENDS = 8, 200


def _worker(args: tuple[str, int]) -> int:
    url, wid = args
    engine = open_database(url)
    log = CustodyLog()
    agent = Agent(host=f"worker-{wid}")
    for i in range(APPENDS):
        obj = sha256_bytes(f"{wid}-{i}".encode())
        run_write(engine, lambda c, obj=obj, i=i: log.append(
            c, [NewEvent(CAPTURE, [obj], detail={"worker": wid, "i": i})], agent))
    engine.dispose()
    return APPENDS


@pytest.mark.slow
def test_parallel_appends_keep_one_contiguous_chain(db_url: str, tmp_path) -> None:
    from archive.proof import logcheck, logtree
    from archive.proof.identity import init_identity
    engine = open_database(db_url)  # migrate once up front
    ctx = mp.get_context("spawn")
    with ctx.Pool(PROCS) as pool:
        done = pool.map(_worker, [(db_url, w) for w in range(PROCS)])
    assert sum(done) == PROCS * APPENDS
    with engine.connect() as c:
        evs = list(iter_events(c))
        count, problems = check_chain(c)
    assert problems == [] and count == PROCS * APPENDS
    assert [e.seq for e in evs] == list(range(PROCS * APPENDS))
    ident = init_identity(tmp_path / "keys", "test.invalid/log")
    ckpt = logtree.make_checkpoint(engine, ident)
    recomputed = MerkleTree([digest_bytes(e.leaf_hash) for e in evs]).root()
    assert ckpt.size == PROCS * APPENDS and ckpt.root_hash == "sha256:" + recomputed.hex()
    assert logcheck.check_checkpoints(engine, ident) == []
    engine.dispose()
