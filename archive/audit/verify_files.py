"""The per-file and per-capture half of ``archive verify``, spread over processes.

The work is cut into :class:`Unit` s, each a few files to re-hash and a range of
captures whose rows to check (:func:`archive.audit.verify_rows.check_capture`).
:func:`run_units` runs them on worker processes, each with its own database connection,
while the caller checks the custody chain; results come back in unit order, so the report
is the same whatever the number of processes. A unit returns what the caller needs
to finish: its problems, counts, the ids of the captures it saw (32 bytes each) and the
content hashes of captures whose manifest failed or disagrees with the column; never
the rows, so the caller's memory does not grow with the archive.

Snapshots: the caller first reads the bounds (largest capture id) in the read
transaction of its chain pass; workers read later snapshots of an append-only schema
and check only captures up to that bound, so both see the same captures.

Files are read through the store (``exists``, ``open``). Worker processes are used for
a local directory store only: a worker reopens it from its root (a store object holds
locks and clients that do not cross processes); an object store is read in the
caller's process, where the work waits on the network, not the CPU.
"""

from __future__ import annotations

import builtins
import hashlib
import multiprocessing
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from archive.audit.verify_report import Problem
from archive.audit.verify_rows import check_capture
from archive.capture.processes import worker_context
from archive.core.hashing import digest_bytes, format_digest, sha256_bytes
from archive.ledger.db import in_chunks, make_engine
from archive.ledger.tables import captures, records, warc_files
from archive.warc.localstore import DirectoryStore
from archive.warc.reader import record_block
from archive.warc.store import MISSING, WarcStore

CHUNK = 1 << 20
CAPTURES_PER_UNIT = 2000
BYTES_PER_UNIT = 64 << 20


@dataclass(frozen=True)
class Unit:
    """Files (rows: id, relpath, sha256, size) to re-hash and the captures to check:
    ids ``lo``..``hi`` (inclusive), or exactly ``pks`` when a subset is verified."""

    files: tuple[tuple[int, str, str, int], ...] = ()
    lo: int = 0
    hi: int = -1
    pks: tuple[int, ...] | None = None


@dataclass
class UnitResult:
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    records: int = 0
    captures: int = 0
    capture_ids: builtins.bytes = b""  # the checked captures' ids, 32 raw bytes each, in id order
    # capture pk -> its manifest's content hash where the column disagrees with it (the
    # metadata versions check rebuilds from the manifest); captures whose manifest failed
    content_hashes: dict[int, str | None] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)


def run_unit(conn: Connection, store: WarcStore, unit: Unit, deep: bool) -> UnitResult:
    out = UnitResult()
    for fid, relpath, sha256, size in unit.files:
        _check_file(conn, store, fid, relpath, sha256, size, deep, out)
    if unit.pks is not None or unit.hi >= unit.lo:
        _check_captures(conn, unit, out)
    return out


# -- files ----------------------------------------------------------------------------------

def _check_file(conn: Connection, store: WarcStore, fid: int, relpath: str, sha256: str,
                size: int, deep: bool, out: UnitResult) -> None:
    """The file's SHA-256 against its row; with ``deep`` every record's block digest in
    the same read (:func:`_hash_and_check`). When the file's hash is wrong, every record
    is checked too, to name the damaged one. A missing file is found by reading it (no
    existence check first: on an object store that is one request less per file)."""
    out.files += 1
    expected = sha256
    recs = _file_records(conn, fid) if deep else []
    found: list[Problem] = []
    try:
        actual, got = _hash_and_check(store, relpath, recs, found)
    except MISSING:
        out.problems.append(Problem(
            "file-missing", f"{relpath}: file is missing (expected {expected})",
            path=relpath, expected=expected))
        return
    out.bytes += got
    out.records += len(recs)
    if actual != expected:
        out.problems.append(Problem(
            "file-changed", f"{relpath}: file hash is {actual}, expected {expected} "
            f"({got} bytes, expected {size})", path=relpath, expected=expected, actual=actual))
        if not deep:  # a second read only for a damaged file, to name the record
            recs = _file_records(conn, fid)
            out.records += len(recs)
            _hash_and_check(store, relpath, recs, found)
    out.problems += found


def _file_records(conn: Connection, fid: int) -> list[Any]:
    return list(conn.execute(
        select(records.c.record_id, records.c.type, records.c.offset, records.c.length,
               records.c.block_digest)
        .where(records.c.warc_file_id == fid).order_by(records.c.offset)))


def _hash_and_check(store: WarcStore, relpath: str, recs: Sequence[Any],
                    found: list[Problem]) -> tuple[str, int]:
    """One sequential read: every byte goes through the file's hasher, and each record's
    gzip member (``recs``, by offset) is inflated and its block re-hashed as it passes. A
    record that does not sit where the read has got to (rows edited to overlap or point
    back) is read on the side. Returns (``sha256:<hex>``, bytes read)."""
    h = hashlib.sha256()
    pos = 0
    with store.open(relpath) as fh:
        for r in recs:
            if r.offset < pos or r.length < 0:
                fh.seek(r.offset)
                member = fh.read(max(r.length, 0))
                fh.seek(pos)
            else:
                while pos < r.offset:
                    gap = fh.read(min(CHUNK, r.offset - pos))
                    if not gap:
                        break
                    h.update(gap)
                    pos += len(gap)
                member = fh.read(r.length)
                h.update(member)
                pos += len(member)
            problem = _check_record(member, relpath, r)
            if problem is not None:
                found.append(problem)
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            pos += len(chunk)
    return format_digest(h.digest()), pos


def _check_record(member: bytes, relpath: str, r: Any) -> Problem | None:
    """Decompress one record's gzip member and re-hash its block."""
    where = f"{relpath}: record {r.record_id} ({r.type} at offset {r.offset})"
    try:
        block = record_block(member)
    except (zlib.error, ValueError, StopIteration, UnicodeDecodeError) as exc:
        return Problem("record-changed", f"{where}: record is unreadable ({exc})",
                       path=relpath, record_id=r.record_id)
    actual = sha256_bytes(block)
    if actual != r.block_digest:
        return Problem("record-changed",
                       f"{where}: block digest is {actual}, expected {r.block_digest}",
                       path=relpath, record_id=r.record_id, expected=r.block_digest,
                       actual=actual)
    return None


# -- captures -------------------------------------------------------------------------------

def _check_captures(conn: Connection, unit: Unit, out: UnitResult) -> None:
    """Every capture of the unit against its manifest, with its record rows (found
    through the capture, so a row moved to another file is still seen)."""
    ids = bytearray()
    for cap_rows in _capture_batches(conn, unit):
        pks = [c.id for c in cap_rows]
        files = {f.id: f for f in conn.execute(select(warc_files).where(
            warc_files.c.id.in_(sorted({c.warc_file_id for c in cap_rows}))))}
        by_capture: dict[int, list[Any]] = {}
        for r in conn.execute(select(records).where(records.c.capture_pk.in_(pks))
                              .order_by(records.c.warc_file_id, records.c.offset)).all():
            by_capture.setdefault(r.capture_pk, []).append(r)
        for c in cap_rows:
            manifest = check_capture(c, files, by_capture.get(c.id, []), out.problems)
            ids += digest_bytes(c.capture_id)
            if manifest is None:
                out.failed.append(c.id)
            elif (content := manifest.get("content_hash")) != c.content_hash:
                out.content_hashes[c.id] = content
        out.captures += len(cap_rows)
    out.capture_ids = bytes(ids)


def _capture_batches(conn: Connection, unit: Unit) -> Iterator[Sequence[Any]]:
    q = select(captures).order_by(captures.c.id)
    if unit.pks is not None:
        for chunk in in_chunks(unit.pks):
            yield conn.execute(q.where(captures.c.id.in_(chunk))).all()
        return
    lo = unit.lo
    while lo <= unit.hi:
        hi = min(unit.hi, lo + 499)
        yield conn.execute(q.where(captures.c.id.between(lo, hi))).all()
        lo = hi + 1


# -- running them ---------------------------------------------------------------------------

def plan(file_rows: Sequence[Any], cap_lo: int, cap_hi: int, pks: Sequence[int] | None,
         processes: int) -> list[Unit]:
    """Cut the work into units of about equal cost, at least one per process."""
    total = sum(f.size for f in file_rows) or 1
    per = max(1, min(BYTES_PER_UNIT, total // max(1, processes * 2)))
    groups: list[list[tuple[int, str, str, int]]] = [[]]
    acc = 0
    for f in file_rows:
        if acc >= per:
            groups.append([])
            acc = 0
        groups[-1].append((f.id, f.relpath, f.sha256, f.size))
        acc += f.size
    units = [Unit(files=tuple(g)) for g in groups if g]
    if pks is not None:
        step = CAPTURES_PER_UNIT
        units += [Unit(pks=tuple(pks[i:i + step])) for i in range(0, len(pks), step)]
    else:
        count = cap_hi - cap_lo + 1
        step = max(1, min(CAPTURES_PER_UNIT, -(-count // max(1, processes * 2))))
        units += [Unit(lo=lo, hi=min(cap_hi, lo + step - 1))
                  for lo in range(cap_lo, cap_hi + 1, step)]
    return units


class Runner:
    """Runs units on ``processes`` worker processes (started when created, before the
    caller opens its read transaction), or in the caller's process when 1."""

    def __init__(self, engine: Engine, store: WarcStore, processes: int, deep: bool) -> None:
        self.store, self.deep = store, deep
        self.root = store.root if isinstance(store, DirectoryStore) else None
        self.pool: ProcessPoolExecutor | None = None
        url = engine.url.render_as_string(hide_password=False)
        if processes > 1 and self.root is not None \
                and url.split("?")[0] not in ("sqlite://", "sqlite:///:memory:") \
                and not multiprocessing.current_process().daemon:  # a daemon has no children
            self.pool = ProcessPoolExecutor(max_workers=processes, mp_context=worker_context(),
                                            initializer=_worker_init, initargs=(url,))
            for f in [self.pool.submit(_ping) for _ in range(processes)]:
                f.result()  # every worker started and connected

    def run(self, conn: Connection, units: Sequence[Unit]) -> Callable[[], Iterator[UnitResult]]:
        """Start the units; returns a function that yields their results in order (in
        the caller's process, the units run when that is iterated, on ``conn``)."""
        if self.pool is None or self.root is None:
            return lambda: (run_unit(conn, self.store, u, self.deep) for u in units)
        futures: list[Future[UnitResult]] = [
            self.pool.submit(_worker_run, self.root, u, self.deep) for u in units]
        return lambda: (f.result() for f in futures)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


_ENGINE: list[Engine] = []


def _worker_init(url: str) -> None:
    _ENGINE.append(make_engine(url))


def _ping() -> None:
    with _ENGINE[0].connect():
        pass


def _worker_run(root: Path, unit: Unit, deep: bool) -> UnitResult:
    with _ENGINE[0].connect() as conn, conn.begin():
        return run_unit(conn, DirectoryStore(root), unit, deep)


__all__ = ["Runner", "Unit", "UnitResult", "plan", "run_unit"]
