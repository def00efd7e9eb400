"""Asset checks: stored bytes, database and custody log agree; metadata fits its schema.

Checks on ``capture`` and ``article_metadata`` are partitioned (one result per source,
so a bad capture stays red on its own partition) and emit one evaluation per partition
of the run. The integrity checks are blocking: when they fail, nothing downstream of the
capture (metadata, checkpoint, catalogue) is built from it in that run.
"""

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    Output,
    PreviewWarning,
    asset_check,
    multi_asset_check,
)

from archive import CustodyStatus, ShownCapture
from archive.catalog import OK_STATUSES
from archive.errors import MetadataError
from archive.metadata import validate
from pipelines.assets import (
    SOURCES_PARTITIONS,
    article_metadata,
    capture,
    custody_checkpoint,
    fixity_audit,
    source_partitions,
)
from pipelines.partitioned import check_evaluation, latest_materializations, metadata_of
from pipelines.resources import ArchiveResource

WARC_VALID = "warc_valid"
HASHES_MATCH_DB = "hashes_match_db"
CUSTODY_CONSISTENT = "custody_consistent"
CAPTURE_COMPLETE = "capture_complete"
METADATA_SCHEMA_VALID = "metadata_schema_valid"


def _spec(name: str, asset: AssetKey, *, blocking: bool, description: str) -> AssetCheckSpec:
    # Partitioned asset checks are a Dagster preview feature; they are what gives every
    # source its own check status (an unpartitioned check on a partitioned asset would
    # be overwritten by the next run's batch). The preview warning is expected here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PreviewWarning,
                                message="Specifying a partitions_def on an AssetCheckSpec")
        return AssetCheckSpec(name, asset=asset, blocking=blocking, description=description,
                              partitions_def=source_partitions)


def _partition_keys(context: AssetCheckExecutionContext) -> list[str]:
    op = context.op_execution_context
    if op.has_partition_key or op.has_partition_key_range:
        return list(op.partition_keys)
    return list(context.instance.get_dynamic_partitions(SOURCES_PARTITIONS))


def _selected(context: AssetCheckExecutionContext) -> set[str]:
    return {k.name for k in context.selected_asset_check_keys}


# ------------------------------------------------------------------- custody status

def _custody_text(status: CustodyStatus, *, since_checkpoint: bool = False) -> str:
    if status.checkpoint_size is None:
        return f"chain of {status.events} events intact; no checkpoint yet"
    if since_checkpoint:
        return (f"the {status.events} events since the checkpoint at size "
                f"{status.checkpoint_size} re-hashed and linked to it; the stored log "
                "extends its signed root")
    return (f"chain of {status.events} events intact; log matches the checkpoint at size "
            f"{status.checkpoint_size}")


# ------------------------------------------------------------------ capture checks

INTEGRITY_SPECS = [
    _spec(WARC_VALID, capture.key, blocking=True, description=(
        "The capture's WARC file exists and still has the SHA-256 its writer recorded with "
        "its records' digests; when it does not, every record is decompressed and re-hashed "
        "to name the damaged one (Archive.verify).")),
    _spec(HASHES_MATCH_DB, capture.key, blocking=True, description=(
        "The WARC file's SHA-256 matches its database row, and the capture manifest still "
        "hashes to the capture id.")),
    _spec(CUSTODY_CONSISTENT, capture.key, blocking=True, description=(
        "The capture is in the custody log; the events since the latest signed checkpoint "
        "re-hash and link to it, and the stored log extends its signed root (what the "
        "signer checks; the time does not grow with the log). The whole log, every event "
        "and checkpoint, is re-checked by custody_log_consistent after each run's "
        "checkpoint, and by the fixity audit.")),
]
STATUS_SPEC = _spec(CAPTURE_COMPLETE, capture.key, blocking=False, description=(
    "The source was captured completely: a 4xx/5xx or truncated response is recorded but "
    "flagged (warning); no capture at all is an error."))
SCHEMA_SPEC = _spec(METADATA_SCHEMA_VALID, article_metadata.key, blocking=True, description=(
    "The stored metadata record validates against its JSON Schema (every problem is "
    "listed)."))

Emitted = AssetCheckEvaluation | Output[None]


def _outputs(context: AssetCheckExecutionContext, specs: Sequence[AssetCheckSpec],
             ) -> Iterator[Output[None]]:
    """One output per selected check: what lets a blocking check gate downstream steps
    (the evaluations themselves are emitted per partition)."""
    wanted = _selected(context)
    for spec in specs:
        if spec.name in wanted:
            yield Output(None, output_name=spec.get_python_identifier())


@multi_asset_check(name="capture_integrity", specs=INTEGRITY_SPECS, can_subset=True)
def capture_integrity(context: AssetCheckExecutionContext, archive: ArchiveResource,
                      ) -> Iterator[Emitted]:
    keys = _partition_keys(context)
    wanted = _selected(context)
    mats = latest_materializations(context.instance, capture.key, keys)
    cids = {k: metadata_of(mats.get(k)).get("capture_id") for k in keys}
    with archive.open() as arc:
        shown = arc.show_many([c for c in cids.values() if c])
        # Not deep: the file hash recorded in the capture's transaction covers every record
        # the writer hashed; a file that differs has each of its records re-checked.
        report = arc.verify_captures(list(shown))  # exact ids, not prefixes
        custody = (arc.check_custody(since_checkpoint=True) if CUSTODY_CONSISTENT in wanted
                   else CustodyStatus())
    for key in keys:
        cid = cids[key]
        facts = shown.get(cid) if cid else None
        results: dict[str, tuple[bool, str, dict[str, Any]]] = {}
        if facts is None:
            reason = f"capture {cid} is not in the database" if cid else None
            for name in (WARC_VALID, HASHES_MATCH_DB, CUSTODY_CONSISTENT):
                results[name] = ((False, reason, {"capture_id": cid}) if reason else
                                 (True, "nothing stored for this partition (no capture)", {}))
        else:
            results = _integrity(facts, report.problems, custody)
        for name, (passed, description, meta) in results.items():
            if name in wanted:
                yield check_evaluation(capture.key, name, partition=key, passed=passed,
                                       description=description, blocking=True,
                                       metadata=meta, target=mats.get(key))
    yield from _outputs(context, INTEGRITY_SPECS)


def _integrity(facts: ShownCapture, problems: Sequence[Any], custody: CustodyStatus,
               ) -> dict[str, tuple[bool, str, dict[str, Any]]]:
    cid = facts.capture_id
    path = facts.warc_file
    record_ids = {r.record_id for r in facts.records}
    warc, hashes = [], []
    for p in problems:
        mine_file = p.path == path
        mine_record = p.record_id in record_ids
        if p.kind == "file-missing" and mine_file:
            warc.append(p.message)
            hashes.append(p.message)
        elif p.kind == "record-changed" and mine_record:
            warc.append(p.message)
        elif (p.kind == "file-changed" and mine_file) or (
                p.kind == "manifest" and (mine_record or p.expected == cid or cid in p.message)):
            hashes.append(p.message)
    base = {"capture_id": cid, "warc_file": path}
    out = {
        WARC_VALID: (not warc, "; ".join(warc) or f"file re-hashed: its {len(record_ids)} "
                     "records are the bytes their digests were computed over",
                     {**base, "problems": len(warc)}),
        HASHES_MATCH_DB: (not hashes, "; ".join(hashes) or "file hash and manifest match the "
                          "database", {**base, "problems": len(hashes)}),
    }
    events = [e for e in facts.events if cid in e.objects]
    custody_problems = list(custody.problems)
    if not events:
        custody_problems.append(f"no custody event names capture {cid}")
    out[CUSTODY_CONSISTENT] = (
        not custody_problems,
        "; ".join(custody_problems[:5])
        or f"{len(events)} event(s) for this capture; "
           f"{_custody_text(custody, since_checkpoint=True)}",
        {**base, "events": custody.events, "problems": len(custody_problems)})
    return out


@multi_asset_check(name="capture_status", specs=[STATUS_SPEC], can_subset=True)
def capture_status(context: AssetCheckExecutionContext) -> Iterator[Emitted]:
    keys = _partition_keys(context)
    mats = latest_materializations(context.instance, capture.key, keys)
    for key in keys:
        meta = metadata_of(mats.get(key))
        status = meta.get("status", "not materialized")
        if status in OK_STATUSES:
            passed, severity, text = True, AssetCheckSeverity.ERROR, f"capture {status}"
        elif status in ("http-error", "truncated"):
            passed, severity = False, AssetCheckSeverity.WARN
            text = f"{status}: {meta.get('problems') or meta.get('http_status')}"
        else:
            passed, severity = False, AssetCheckSeverity.ERROR
            text = f"{status}: {meta.get('error') or 'no capture stored'}"
        yield check_evaluation(capture.key, CAPTURE_COMPLETE, partition=key, passed=passed,
                               severity=severity, description=text, blocking=False,
                               metadata={"status": status,
                                         "http_status": meta.get("http_status")},
                               target=mats.get(key))
    yield from _outputs(context, [STATUS_SPEC])


# ----------------------------------------------------------------- metadata check

def schema_problems(record: Any) -> list[str]:
    """Every way ``record`` fails schemas/article-metadata.schema.json (none: valid)."""
    try:
        validate(record)
    except MetadataError as exc:
        return list(exc.errors) or [exc.message]
    return []


@multi_asset_check(name="metadata_schema", specs=[SCHEMA_SPEC], can_subset=True)
def metadata_schema(context: AssetCheckExecutionContext, archive: ArchiveResource,
                    ) -> Iterator[Emitted]:
    keys = _partition_keys(context)
    mats = latest_materializations(context.instance, article_metadata.key, keys)
    metas = {k: metadata_of(mats.get(k)) for k in keys}
    judged = {k: m.get("extracted_from") or m.get("capture_id") for k, m in metas.items()
              if m.get("status") == "extracted"}
    with archive.open() as arc:
        versions = arc.latest_metadata([c for c in judged.values() if c])
    for key in keys:
        meta = metas[key]
        status = meta.get("status")
        if status == "extracted":
            version = versions.get(judged[key] or "")
            problems = (schema_problems(version.record) if version else
                        [f"no metadata stored for capture {judged[key]}"])
            text = "; ".join(problems[:10]) or "the stored record validates against the schema"
        elif status == "skipped":
            problems, text = [], f"nothing extracted: {meta.get('reason')}"
        else:
            problems = [str(meta.get("error") or "no metadata record")]
            text = problems[0]
        yield check_evaluation(article_metadata.key, METADATA_SCHEMA_VALID, partition=key,
                               passed=not problems, description=text, blocking=True,
                               metadata={"problems": len(problems),
                                         "capture_id": meta.get("capture_id")},
                               target=mats.get(key))
    yield from _outputs(context, [SCHEMA_SPEC])


# ------------------------------------------------------------------ custody checks

@asset_check(asset=custody_checkpoint, blocking=True, description=(
    "The custody chain is intact and every signed checkpoint still verifies: signature, "
    "root of the log at its size, consistency with the next."))
def custody_log_consistent(archive: ArchiveResource) -> AssetCheckResult:
    with archive.open() as arc:
        status = arc.check_custody()
    return AssetCheckResult(
        passed=not status.problems,
        description="; ".join(status.problems[:5]) or _custody_text(status),
        metadata={"events": status.events, "problems": len(status.problems),
                  "checkpoint_size": status.checkpoint_size})


@asset_check(asset=fixity_audit, description=(
    "The last fixity audit found every stored file, record and custody entry intact."))
def fixity_clean(context: AssetCheckExecutionContext) -> AssetCheckResult:
    records = context.instance.fetch_materializations(fixity_audit.key, limit=1).records
    meta = metadata_of(records[0] if records else None)
    report = meta.get("report") or {}
    problems = [f"{f['path']}: {f['state']}" for f in report.get("fixity", {}).get("failures", [])]
    problems += [p["message"] for p in report.get("verify", {}).get("problems", [])]
    return AssetCheckResult(
        passed=bool(records) and not problems,
        description="; ".join(problems[:5]) or (
            f"{meta.get('files', 0)} files, {meta.get('records', 0)} records, "
            f"{meta.get('events', 0)} events: all intact" if records else "no audit yet"),
        metadata={"problems": len(problems)})


ALL_CHECKS: list[AssetChecksDefinition] = [capture_integrity, capture_status, metadata_schema,
                                           custody_log_consistent, fixity_clean]
