"""Re-hash what is stored and compare it with what the custody database says.

Levels of checking, cheapest first:
- every WARC file's SHA-256 and size against its row (reads each file once, sequentially);
- every record of a file whose hash does not match, to name the damaged record;
  with ``deep=True`` every record of every file (block digest);
- every capture's manifest hashes to its capture id and names the records stored;
- the custody chain (every entry re-hashed, every link checked).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from archive.canonical import canonical_hash
from archive.custody import check_chain
from archive.db import read
from archive.hashing import PREFIX, sha256_file
from archive.store import OPEN_SUFFIX, WarcStore
from archive.tables import captures, records, warc_files
from archive.warcread import record_bytes


@dataclass(frozen=True)
class Problem:
    kind: str  # file-missing | file-changed | record-changed | manifest | chain | untracked
    message: str
    path: str | None = None
    record_id: str | None = None
    expected: str | None = None
    actual: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class VerifyReport:
    files: int = 0
    bytes: int = 0
    records: int = 0
    captures: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "bytes": self.bytes,
                "records": self.records, "captures": self.captures, "events": self.events,
                "problems": [p.to_json() for p in self.problems]}


def verify(engine: Engine, store: WarcStore, *, capture_ids: Iterable[str] | None = None,
           deep: bool = False) -> VerifyReport:
    report = VerifyReport()
    wanted = list(capture_ids) if capture_ids is not None else None
    with read(engine) as conn:
        cap_rows = _capture_rows(conn, wanted)
        file_ids = sorted({r.warc_file_id for r in cap_rows}) if wanted is not None else None
        file_rows = _file_rows(conn, file_ids)
        rq = select(records).order_by(records.c.warc_file_id, records.c.offset)
        if file_ids is not None:
            rq = rq.where(records.c.warc_file_id.in_(file_ids))
        by_file: dict[int, list[Any]] = {}
        for r in conn.execute(rq):
            by_file.setdefault(r.warc_file_id, []).append(r)
        ids_by_file = {fid: {r.record_id: r for r in recs} for fid, recs in by_file.items()}
        for f in file_rows:
            _check_file(store, f, by_file.get(f.id, []), report, deep)
        for c in cap_rows:
            _check_manifest(c, ids_by_file.get(c.warc_file_id, {}), report)
        report.captures = len(cap_rows)
        if wanted is None:
            count, chain_problems = check_chain(conn)
            report.events = count
            report.problems += [Problem("chain", p.message) for p in chain_problems]
            known = {f.relpath for f in file_rows}
            for path in store.iter_files():
                rel = store.relpath(path)
                if rel not in known and not store.in_use(path):
                    what = "an unfinished write" if path.name.endswith(OPEN_SUFFIX) else \
                        "no database row"
                    report.problems.append(Problem(
                        "untracked", f"{rel}: file in the store has {what}; "
                        "run `archive reconcile` to adopt or quarantine it", path=rel))
    return report


def _capture_rows(conn: Connection, wanted: list[str] | None) -> list[Any]:
    q = select(captures).order_by(captures.c.id)
    if wanted is not None:
        q = q.where(captures.c.capture_id.in_([w.removeprefix(PREFIX) for w in wanted]))
    return list(conn.execute(q).all())


def _file_rows(conn: Connection, ids: list[int] | None) -> list[Any]:
    q = select(warc_files).order_by(warc_files.c.id)
    if ids is not None:
        q = q.where(warc_files.c.id.in_(ids))
    return list(conn.execute(q).all())


def _check_file(store: WarcStore, f: Any, recs: list[Any], report: VerifyReport, deep: bool,
                ) -> None:
    path = store.root / f.relpath
    report.files += 1
    if not path.exists():
        report.problems.append(Problem(
            "file-missing", f"{f.relpath}: file is missing (expected sha256:{f.sha256})",
            path=f.relpath, expected=PREFIX + f.sha256))
        return
    actual, size = sha256_file(path)
    report.bytes += size
    changed = actual != PREFIX + f.sha256
    if changed:
        report.problems.append(Problem(
            "file-changed", f"{f.relpath}: file hash is {actual}, expected sha256:{f.sha256} "
            f"({size} bytes, expected {f.size})", path=f.relpath,
            expected=PREFIX + f.sha256, actual=actual))
    if changed or deep:
        with path.open("rb") as fh:
            for r in recs:
                report.records += 1
                problem = _check_record(fh, f.relpath, r)
                if problem:
                    report.problems.append(problem)


def _check_record(fh: Any, relpath: str, r: Any) -> Problem | None:
    """Decompress one record's gzip member and re-hash its block."""
    where = f"{relpath}: record {r.record_id} ({r.type} at offset {r.offset})"
    fh.seek(r.offset)
    try:
        raw = record_bytes(fh.read(r.length))
        head_end = raw.index(b"\r\n\r\n") + 4
        head = raw[:head_end].decode("utf-8")
        length = int(next(line.split(":", 1)[1] for line in head.split("\r\n")
                          if line.lower().startswith("content-length:")))
    except (zlib.error, ValueError, StopIteration, UnicodeDecodeError) as exc:
        return Problem("record-changed", f"{where}: record is unreadable ({exc})",
                       path=relpath, record_id=r.record_id)
    actual = hashlib.sha256(raw[head_end:head_end + length]).hexdigest()
    if actual != r.block_digest:
        return Problem("record-changed",
                       f"{where}: block digest is sha256:{actual}, expected sha256:"
                       f"{r.block_digest}", path=relpath, record_id=r.record_id,
                       expected=PREFIX + r.block_digest, actual=PREFIX + actual)
    return None


def _check_manifest(c: Any, by_id: dict[str, Any], report: VerifyReport) -> None:
    manifest = json.loads(c.manifest)
    cid = canonical_hash(manifest)
    if cid != PREFIX + c.capture_id:
        report.problems.append(Problem(
            "manifest", f"capture sha256:{c.capture_id}: manifest hashes to {cid}; the "
            "manifest or the capture id was edited", expected=PREFIX + c.capture_id, actual=cid))
        return
    for m in manifest.get("records", []):
        r = by_id.get(m["record_id"])
        if r is None:
            report.problems.append(Problem(
                "manifest", f"capture sha256:{c.capture_id}: record {m['record_id']} named in "
                "the manifest has no row", record_id=m["record_id"]))
            continue
        if PREFIX + r.block_digest != m["block_digest"] or r.offset != m["offset"]:
            report.problems.append(Problem(
                "manifest", f"capture sha256:{c.capture_id}: record {r.record_id} row says "
                f"sha256:{r.block_digest} at {r.offset}, the manifest says "
                f"{m['block_digest']} at {m['offset']}", record_id=r.record_id,
                expected=m["block_digest"], actual=PREFIX + r.block_digest))
