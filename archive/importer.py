"""Bring a foreign WARC file under custody (``archive import``).

Every record is read fully and its digests checked (``archive.warcscan``). A refused
file is never stored; a partial one only when the operator asks, and then it is
marked partial with every problem's byte offset. Either way a ``validation`` event
records the outcome. The stored copy is named by its SHA-256 (the input's name and
its records' URIs are data, never paths), so importing the same file twice changes
nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from archive.capture import Recorder
from archive.custody import INGESTION, VALIDATION, Agent, NewEvent
from archive.db import inserted_id, read, run_write
from archive.errors import WarcFormatError
from archive.hashing import PREFIX, hex_part
from archive.tables import imports, warc_files
from archive.timeutil import iso_utc
from archive.warcscan import ScanReport, scan_warc

IMPORT_DIR = "imports"


@dataclass(frozen=True)
class ImportResult:
    sha256: str
    verdict: str
    stored_path: str | None
    record_counts: dict[str, int]
    problems: list[dict[str, Any]]
    already_imported: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _problems(scan: ScanReport) -> list[dict[str, Any]]:
    return [{"offset": p.offset, "code": p.code, "severity": p.severity, "message": p.message}
            for p in scan.problems]


def import_warc(recorder: Recorder, path: Path, agent: Agent, *,
                accept_partial: bool = False) -> ImportResult:
    scan = scan_warc(path)
    with read(recorder.engine) as conn:
        existing = conn.execute(select(imports).where(
            imports.c.file_sha256 == hex_part(scan.sha256))).first()
    if existing is not None:
        rel = _relpath(scan)
        return ImportResult(scan.sha256, existing.verdict, rel,
                            json.loads(existing.record_counts), json.loads(existing.problems),
                            already_imported=True)
    refuse = scan.verdict == "refused" or (scan.verdict == "partial" and not accept_partial)
    if refuse:
        detail = {"file": path.name, "verdict": scan.verdict, "format": scan.format,
                  "compression": scan.compression, "problems": _problems(scan)[:50]}
        event = NewEvent(VALIDATION, [scan.sha256], "failure", detail)
        run_write(recorder.engine, lambda conn: recorder.log.append(conn, [event], agent))
        if scan.verdict == "refused":
            scan.raise_for_verdict()
        raise WarcFormatError(f"{path}: WARC partial: {scan.reason} (pass --accept-partial "
                              "to store it marked partial)", path=path, sha256=scan.sha256)
    rel = _relpath(scan)
    target = recorder.store.copy_in(path, rel)

    def commit(conn: Connection) -> None:
        now = iso_utc(recorder.clock())
        file_pk = inserted_id(conn.execute(insert(warc_files).values(
            relpath=rel, name=target.name, sha256=hex_part(scan.sha256), size=scan.size,
            created_at=now)))
        conn.execute(insert(imports).values(
            warc_file_id=file_pk, file_sha256=hex_part(scan.sha256), original_name=path.name,
            format=scan.format, compression=scan.compression, verdict=scan.verdict,
            record_counts=json.dumps(scan.record_counts, sort_keys=True),
            problems=json.dumps(_problems(scan)), imported_at=now))
        outcome = "success" if scan.verdict == "valid" else "warning"
        detail = {"file": path.name, "stored_as": rel, "verdict": scan.verdict,
                  "records": scan.record_counts, "problems": _problems(scan)[:50]}
        recorder.log.append(conn, [
            NewEvent(VALIDATION, [scan.sha256], outcome, detail),
            NewEvent(INGESTION, [scan.sha256], outcome,
                     {"file": path.name, "stored_as": rel, "imported": True})], agent)

    try:
        run_write(recorder.engine, commit)
    finally:
        recorder.store.release(rel)
    return ImportResult(scan.sha256, scan.verdict, rel, scan.record_counts, _problems(scan))


def _relpath(scan: ScanReport) -> str:
    suffix = ".warc.gz" if scan.compression == "gzip" else ".warc"
    return f"{IMPORT_DIR}/{scan.sha256.removeprefix(PREFIX)}{suffix}"
