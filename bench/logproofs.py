"""Proofs from the custody database as the log grows: the tree from stored block
hashes (``archive.proof.lognodes``) against the tree of every leaf (how proofs were
built before migration 0007), in alternating rounds on the same archive.

    python -m bench.logproofs --events 30000,300000 --rounds 7

For each size: a SQLite archive with that many real custody events (appended through
``CustodyLog.append``, 5,000 a transaction) and one signed checkpoint, which stores
the block hashes (timed: it computes every block once), and a second one after one
more event (timed: it reads them); then, per round, one inclusion proof of an event a
third of the way in (what a capture page, ``archive prove`` and a bundle ask for, with
the read transaction that opens) built both ways. Then a run's worth of events (3,000:
1,000 sources) and, per round, the two checks of the log a run makes: each capture's
(``check_custody(since_checkpoint=True)``: the events since the checkpoint) and the
whole log's (``check_custody()``), alternating. Prints medians and ranges in ms;
asserts nothing about time, only that both ways give the same proof and both checks
pass.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from archive.api import Archive
from archive.core.config import Settings
from archive.core.hashing import digest_bytes, format_digest
from archive.ledger.custody import FIXITY_CHECK, Agent, CustodyLog, NewEvent
from archive.ledger.db import read, run_write
from archive.ledger.tables import events
from archive.proof import logtree
from archive.proof.merkle import MerkleTree
from bench.common import stats

BATCH = 5000
RUN_EVENTS = 3000


def _append(arc: Archive, count: int) -> None:
    log = CustodyLog()
    for start in range(0, count, BATCH):
        new = [NewEvent(FIXITY_CHECK, [format_digest(hashlib.sha256(str(i).encode()).digest())])
               for i in range(start, min(count, start + BATCH))]
        run_write(arc.engine, lambda c, new=new: log.append(c, new, Agent()))


def _every_leaf_proof(arc: Archive, index: int, size: int) -> list[bytes]:
    with read(arc.engine) as conn:
        leaves = [digest_bytes(h) for (h,) in conn.execute(
            select(events.c.leaf_hash).where(events.c.seq < size).order_by(events.c.seq))]
    return MerkleTree(leaves).inclusion_proof(index)


def _checked(arc: Archive, *, since_checkpoint: bool) -> None:
    status = arc.check_custody(since_checkpoint=since_checkpoint)
    if not status.ok:
        raise SystemExit(f"the custody check failed: {status.problems[0]}")


def _ms(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def one_size(n: int, rounds: int, parent: Path) -> dict[str, object]:
    home = parent / f"home-{n}"
    arc = Archive.open(Settings.from_env({"ARCHIVE_HOME": str(home)}))
    try:
        arc.init()
        start = time.perf_counter()
        _append(arc, n)
        appended = time.perf_counter() - start
        first = _ms(arc.checkpoint)
        _append(arc, 1)
        start = time.perf_counter()
        ckpt = arc.checkpoint()
        second = (time.perf_counter() - start) * 1000
        index = n // 3
        blocks, leaves = [], []
        for r in range(rounds):
            a = lambda: logtree.inclusion(arc.engine, index, ckpt)  # noqa: E731
            b = lambda: _every_leaf_proof(arc, index, ckpt.size)  # noqa: E731
            order = (a, b) if r % 2 == 0 else (b, a)
            times = {fn: _ms(fn) for fn in order}
            blocks.append(times[a])
            leaves.append(times[b])
        if logtree.inclusion(arc.engine, index, ckpt) != _every_leaf_proof(arc, index, ckpt.size):
            raise SystemExit("the two proofs differ")
        _append(arc, RUN_EVENTS)
        recent, whole = [], []
        for r in range(rounds):
            c = lambda: _checked(arc, since_checkpoint=True)  # noqa: E731
            d = lambda: _checked(arc, since_checkpoint=False)  # noqa: E731
            times = {fn: _ms(fn) for fn in ((c, d) if r % 2 == 0 else (d, c))}
            recent.append(times[c])
            whole.append(times[d])
        return {"events": n, "append_s": appended, "first_checkpoint_ms": first,
                "next_checkpoint_ms": second, "proof_ms_blocks": stats(blocks),
                "proof_ms_every_leaf": stats(leaves), "check_ms_since_checkpoint": stats(recent),
                "check_ms_whole_log": stats(whole)}
    finally:
        arc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logproofs")
    parser.add_argument("--events", default="30000,300000")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="logproofs-") as tmp:
        for n in (int(x) for x in args.events.split(",")):
            res = one_size(n, args.rounds, Path(tmp))
            b, e = res["proof_ms_blocks"], res["proof_ms_every_leaf"]
            assert isinstance(b, dict) and isinstance(e, dict)
            print(f"{n:>9,} events: inclusion proof from stored blocks {b['median']:.1f} ms "
                  f"({b['min']:.1f}-{b['max']:.1f}), from every leaf {e['median']:.1f} ms "
                  f"({e['min']:.1f}-{e['max']:.1f}); checkpoint storing every block "
                  f"{res['first_checkpoint_ms']:.0f} ms, the next one "
                  f"{res['next_checkpoint_ms']:.0f} ms; {res['append_s']:.1f} s to append",
                  flush=True)
            c, w = res["check_ms_since_checkpoint"], res["check_ms_whole_log"]
            assert isinstance(c, dict) and isinstance(w, dict)
            print(f"{'':>9}  then {RUN_EVENTS:,} more: a capture's check of the log (since "
                  f"the checkpoint) {c['median']:.0f} ms ({c['min']:.0f}-{c['max']:.0f}), "
                  f"the whole log {w['median']:.0f} ms ({w['min']:.0f}-{w['max']:.0f})",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
