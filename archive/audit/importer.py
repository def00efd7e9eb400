"""Bring a foreign WARC file under custody (``archive import``).

Every record is read fully and its digests checked (``archive.warc.scan``). A refused
file is never stored; a partial one only when the operator asks, and then it is
marked partial with every problem's byte offset. Either way a ``validation`` event
records the outcome. The stored copy is named by its SHA-256 (the input's name and
its records' URIs are data, never paths), so importing the same file twice changes
nothing.

Each sound ``response`` and ``resource`` record of the stored copy becomes a capture of
kind ``imported``, committed in the same transaction as the file: a manifest naming the
file's ``warcinfo`` record and that record (our own SHA-256 digests, whatever the file
declares), a content hash of the body as a reader gets it, and ``ingestion`` and
``message digest calculation`` events naming the capture id, so ``list``, ``show``,
``cite``, ``metadata``, ``bundle`` and the catalog find it like any capture. Records
with an error, a failed digest, non-standard framing (line ends, trailer), no target
URI or date, or a record id used twice in the file stay in the file but become no
capture (the validation event lists why).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from archive.capture.commit import commit_file
from archive.capture.prepare import Prepared, capture_facts
from archive.capture.record import Recorder
from archive.capture.results import CaptureResult
from archive.core.hashing import hex_part
from archive.core.timeutil import iso_utc, parse_iso
from archive.core.version import SOFTWARE_NAME, __version__
from archive.errors import WarcFormatError
from archive.http.spool import IMPORT_PREFIX, owned_tempdir
from archive.ledger.custody import INGESTION, VALIDATION, Agent, NewEvent
from archive.ledger.db import read, run_write
from archive.ledger.tables import captures, imports, warc_files
from archive.warc.reader import decoded_payload, read_stored
from archive.warc.scan import ScannedRecord, ScanReport, scan_warc
from archive.warc.store import StoredFile
from archive.warc.writer import WrittenRecord

IMPORT_DIR = "imports"
IMPORTED = "imported"  # the kind of a capture made from an imported record
_CONTENT_TYPES = ("response", "resource")
# warnings that leave a record readable but not as a strict reader (verify-bundle) reads it
_NONSTANDARD_FRAMING = ("header-line-ends", "odd-trailer", "missing-trailer")


@dataclass(frozen=True)
class ImportResult:
    sha256: str
    verdict: str
    stored_path: str | None
    record_counts: dict[str, int]
    problems: list[dict[str, Any]]
    already_imported: bool = False
    captures: list[str] = field(default_factory=list)  # capture ids, in file order

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
            imports.c.file_sha256 == scan.sha256)).first()
        if existing is not None:
            caps = conn.execute(select(captures.c.capture_id).where(
                captures.c.warc_file_id == existing.warc_file_id)
                .order_by(captures.c.id)).scalars().all()
    if existing is not None:
        rel = _relpath(scan)
        return ImportResult(scan.sha256, existing.verdict, rel,
                            json.loads(existing.record_counts), json.loads(existing.problems),
                            already_imported=True, captures=list(caps))
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
    recorder.store.copy_in(path, rel, scan.sha256)
    try:
        stored = StoredFile(relpath=rel, name=rel.rsplit("/", 1)[-1], sha256=scan.sha256,
                            size=scan.size)
        batch, written, skipped = _captures_of(recorder, rel, scan, path.name, agent)

        def commit(conn: Connection) -> list[CaptureResult]:
            now = recorder.clock()
            outcome = "success" if scan.verdict == "valid" else "warning"
            detail = {"file": path.name, "stored_as": rel, "verdict": scan.verdict,
                      "records": scan.record_counts, "problems": _problems(scan)[:50],
                      "captures": len(batch), "records_not_captured": skipped[:50]}
            # the file row comes with the captures (one commit path for both)
            results = recorder.commit_rows(conn, stored, now, batch, written, agent)
            file_pk = conn.execute(select(warc_files.c.id).where(
                warc_files.c.relpath == rel)).scalar_one()
            conn.execute(insert(imports).values(
                warc_file_id=file_pk, file_sha256=scan.sha256,
                original_name=path.name, format=scan.format, compression=scan.compression,
                verdict=scan.verdict,
                record_counts=json.dumps(scan.record_counts, sort_keys=True),
                problems=json.dumps(_problems(scan)), imported_at=iso_utc(now)))
            recorder.log.append(conn, [
                NewEvent(VALIDATION, [scan.sha256], outcome, detail),
                NewEvent(INGESTION, [scan.sha256], outcome,
                         {"file": path.name, "stored_as": rel, "imported": True,
                          "captures": [r.capture_id for r in results]})], agent)
            return results
    except BaseException:
        recorder.store.release(rel)
        raise
    results = commit_file(recorder.engine, recorder.store, stored, commit, adopt_hint=False)
    return ImportResult(scan.sha256, scan.verdict, rel, scan.record_counts, _problems(scan),
                        captures=[r.capture_id for r in results])


def import_files(recorder: Recorder, files: Mapping[str, bytes], agent: Agent, *,
                 accept_partial: bool = False) -> list[ImportResult]:
    """:func:`import_warc` of each of these files (name -> bytes, a WACZ's WARCs), in
    name order, each written first to a locked folder under the archive's ``tmp`` (an
    import killed midway leaves a folder ``verify`` sweeps)."""
    with owned_tempdir(recorder.settings.tmp_dir, IMPORT_PREFIX) as tmp:
        out = []
        for name in sorted(files):
            target = tmp / name.rsplit("/", 1)[-1]
            target.write_bytes(files[name])
            out.append(import_warc(recorder, target, agent, accept_partial=accept_partial))
    return out


def _captures_of(recorder: Recorder, stored: str, scan: ScanReport, original_name: str,
                 agent: Agent) -> tuple[list[Prepared], list[list[WrittenRecord]],
                                        list[dict[str, Any]]]:
    """A capture per sound response/resource record of the stored copy (with the file's
    warcinfo record), and why each other such record became none."""
    ids = [r.record_id for r in scan.records]
    info = next((r for r in scan.records if r.type == "warcinfo" and _sound(r, ids) is None),
                None)
    batch: list[Prepared] = []
    written: list[list[WrittenRecord]] = []
    skipped: list[dict[str, Any]] = []
    for rec in scan.records:
        if rec.type not in _CONTENT_TYPES:
            continue
        why = _sound(rec, ids)
        if why is not None:
            skipped.append({"offset": rec.offset, "record_id": rec.record_id, "reason": why})
            continue
        batch.append(_prepared(recorder, stored, rec, scan, original_name, agent))
        written.append(([_written(info)] if info is not None else []) + [_written(rec)])
    return batch, written, skipped


def _sound(rec: ScannedRecord, ids: list[str | None]) -> str | None:
    """None when ``rec`` can stand in a manifest; else why not."""
    if not rec.ok or rec.digest_status == "fail":
        return "the record has errors: " + "; ".join(
            p.message for p in rec.problems if p.severity == "error")[:300]
    odd = [p.message for p in rec.problems if p.code in _NONSTANDARD_FRAMING]
    if odd:  # a proof bundle's verifier reads records strictly (docs/verifying.md)
        return "its framing is not standard WARC: " + "; ".join(odd)[:300]
    if rec.record_id is None or ids.count(rec.record_id) > 1:
        return "its WARC-Record-ID is missing or used by another record of the file"
    if rec.block_sha256 is None or rec.length <= 0 or not rec.date:
        return "it has no WARC-Date or shares its gzip member with another record"
    if rec.type in _CONTENT_TYPES and not rec.target_uri:
        return "it has no WARC-Target-URI"
    try:
        parse_iso(rec.date)
    except ValueError:
        return f"its WARC-Date {rec.date!r} is not ISO 8601"
    return None


def _written(rec: ScannedRecord) -> WrittenRecord:
    """The record as a manifest names it: our SHA-256 of block and payload."""
    assert rec.record_id is not None and rec.type is not None and rec.block_sha256 is not None
    return WrittenRecord(
        record_id=rec.record_id, type=rec.type, target_uri=rec.target_uri,
        date=rec.date or "", offset=rec.offset, length=rec.length,
        content_length=rec.content_length or 0, block_digest=rec.block_sha256,
        payload_digest=rec.payload_sha256)


def _prepared(recorder: Recorder, stored: str, rec: ScannedRecord, scan: ScanReport,
              original_name: str, agent: Agent) -> Prepared:
    """What the capture of one imported record records, read from the stored copy."""
    assert rec.target_uri is not None and rec.date is not None
    data = read_stored(recorder.store, stored, rec.offset, rec.length)
    http_status: int | None = None
    if data.http_headers is not None:
        try:
            http_status = int(str(data.http_headers.get_statuscode()))
        except ValueError:
            http_status = None
        ctype = data.http_header("Content-Type")
    else:
        ctype = data.header("Content-Type")
    with decoded_payload(data, recorder.settings.fetch) as decoded:
        content_hash = None if decoded.error else decoded.sha256
        decode_error = decoded.error
    problems = [f"content not decodable: {decode_error}"] if decode_error else []
    truncated = data.header("WARC-Truncated")
    if truncated:
        status = "truncated"
        problems.append(f"the imported record is truncated ({truncated})")
    elif http_status is not None and http_status >= 400:
        status = "http-error"
        problems.append(f"HTTP {http_status}")
    else:
        status = "complete"
    moment = parse_iso(rec.date)
    prov = {
        "type": "warc-import", "software": SOFTWARE_NAME, "software_version": __version__,
        "host": recorder.settings.hostname, "operator": recorder.settings.operator,
        "agent": agent.to_json(), "imported_from": original_name,
        "import_sha256": scan.sha256, "warc_record_id": rec.record_id,
        "warc_record_type": rec.type, "warc_date": rec.date, "http_status": http_status,
        "declared_digests": {"block": rec.block_digest_declared,
                             "payload": rec.payload_digest_declared,
                             "status": rec.digest_status},
        "content": {"content_type": ctype, "content_hash": content_hash,
                    "decode_error": decode_error},
    }
    prepared = Prepared(
        url=rec.target_uri, kind=IMPORTED, started_at=moment, ended_at=moment,
        content_hash=content_hash, content_type=ctype, status=status, http_status=http_status,
        final_url=rec.target_uri, provenance=prov, write=lambda _w, _i, _p: [],
        problems=problems, run_id=agent.run_id,
        event_detail={"imported_from": original_name, "import_sha256": scan.sha256,
                      "warc_record_id": rec.record_id})
    prov["capture"] = capture_facts(prepared)
    return prepared


def _relpath(scan: ScanReport) -> str:
    suffix = ".warc.gz" if scan.compression == "gzip" else ".warc"
    return f"{IMPORT_DIR}/{hex_part(scan.sha256)}{suffix}"
