"""Assets: sources -> capture -> article_metadata -> custody_checkpoint -> catalog, and the
fixity audit. Each calls ``archive`` and turns its results into metadata an operator can
act on; none of them holds archiving logic of its own. ``sources`` and ``capture`` live
in :mod:`pipelines.capture` (capture is a graph of ops that fans out over workers).
"""

from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    Config,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from archive import MetadataVersion
from archive.catalog import OK_STATUSES, field_evidence, field_value, write_catalog
from pipelines.capture import (
    CAPTURE_POOL,
    SOURCES_PARTITIONS,
    STORAGE_RETRY,
    capture,
    source_partitions,
    sources,
)
from pipelines.partitioned import (
    PartitionReport,
    batch_label,
    finish,
    latest_materializations,
    md_table,
    metadata_of,
    range_asset,
)
from pipelines.resources import ArchiveResource

__all__ = ["CAPTURE_POOL", "SOURCES_PARTITIONS", "article_metadata", "capture", "catalog",
           "custody_checkpoint", "fixity_audit", "source_partitions", "sources"]

# ------------------------------------------------------------------------ metadata

_SHOWN_FIELDS = ("title", "outlet", "published", "modified", "authors", "language", "tags")


def _metadata_report(capture: Mapping[str, Any], version: MetadataVersion,
                     stored: str | None, source_id: str) -> PartitionReport:
    record = version.record
    values = {f: field_value(record, f) for f in _SHOWN_FIELDS}
    meta: dict[str, Any] = {
        "url": MetadataValue.url(str(capture["url"])) if capture.get("url") else None,
        "capture_id": capture["capture_id"],
        "content_hash": capture.get("content_hash"),
        "status": "extracted",
        "stored": stored,
        "extracted_from": source_id,
        **{k: None if v in (None, "") else str(v) for k, v in values.items()},
        "published_evidence": field_evidence(record, "published"),
        "extractor_version": version.extractor_version,
        "metadata_sha256": version.metadata_sha256,
        "record": MetadataValue.json(dict(record)),
    }
    lines = [f"**{values['title'] or '(no title)'}**", "",
             f"- outlet: {values['outlet'] or 'unknown'}",
             f"- published: {values['published'] or 'unknown'}"
             + (f" (from `{meta['published_evidence']}`)" if meta["published_evidence"] else ""),
             f"- authors: {values['authors'] or 'unknown'}",
             f"- language: {values['language'] or 'unknown'}",
             f"- extractor: {version.extractor_version} ({stored or 'stored'} version)",
             f"- capture id: `{capture['capture_id']}`"]
    meta["summary"] = MetadataValue.md("\n".join(lines))
    return PartitionReport(meta, version.metadata_sha256)


@range_asset(partitions_def=source_partitions, deps=[capture], group_name="archive",
             kinds={"json"}, retry_policy=STORAGE_RETRY)
def article_metadata(context: AssetExecutionContext, archive: ArchiveResource,
                     ) -> MaterializeResult:
    """Publication date, title, authors, outlet, language... each with its evidence,
    extracted from each partition's latest capture (``Archive.extract_metadata_many``: a
    new version is stored only when the extractor version changed)."""
    keys = list(context.partition_keys)
    captures = latest_materializations(context.instance, capture.key, keys)
    reports: dict[str, PartitionReport] = {}
    todo: dict[str, tuple[dict[str, Any], str]] = {}
    for key in keys:
        cap = metadata_of(captures.get(key))
        if not cap.get("capture_id") or cap.get("status") not in OK_STATUSES:
            why = f"no complete capture (status {cap.get('status', 'none')})"
            reports[key] = PartitionReport({"status": "skipped", "reason": why,
                                            "summary": MetadataValue.md(f"skipped: {why}")})
            continue
        # A revisit has its original's payload: its metadata is the original's, so an
        # unchanged page costs no extraction and keeps its data version.
        todo[key] = (cap, cap.get("revisit_of") or cap["capture_id"])
    if todo:
        source_ids = list(dict.fromkeys(source_id for _, source_id in todo.values()))
        with archive.open() as arc:
            agent = arc.agent(run_id=context.run.run_id, partition_key=batch_label(list(todo)))
            stored, errors = arc.extract_metadata_isolated(source_ids, agent, archive.processes)
            versions = arc.latest_metadata([s for s in source_ids if s not in errors])
        for key, (cap, source_id) in todo.items():
            version = versions.get(source_id)
            error = errors.get(source_id) or (
                None if version else f"no metadata stored for {source_id}")
            if error is not None:
                if len(keys) == 1:
                    raise Failure(description=error, allow_retries=False)
                reports[key] = PartitionReport({"status": "failed", "error": error,
                                                "capture_id": cap["capture_id"]})
                continue
            assert version is not None
            reports[key] = _metadata_report(cap, version, stored.get(source_id), source_id)
    return finish(context, {k: reports[k] for k in keys})


# ------------------------------------------------------------------------- custody

@asset(deps=[article_metadata], group_name="custody", kinds={"sqlite", "postgres"},
       retry_policy=STORAGE_RETRY)
def custody_checkpoint(context: AssetExecutionContext, archive: ArchiveResource,
                       ) -> MaterializeResult:
    """A signed checkpoint (Ed25519, C2SP tlog-checkpoint) of the custody log's Merkle
    tree, stored in the custody database and filed as a note under
    ``$ARCHIVE_HOME/checkpoints`` (and ``ARCHIVE_CHECKPOINT_MIRROR``): what every later
    consistency check compares the log with. With ``ARCHIVE_TSA_URLS`` each authority
    is asked for an RFC 3161 token over the note; the metadata shows every answer
    (authority, its time and serial, or why it gave none)."""
    with archive.open() as arc:
        cp = arc.checkpoint(agent=arc.agent(run_id=context.run.run_id))
    granted = [t for t in cp.timestamps if t.ok]
    rows = [f"| {t.tsa} | {t.gen_time} | {t.serial} |" if t.ok
            else f"| {t.tsa} | failed: {(t.error or '').replace('|', '/')} | |"
            for t in cp.timestamps]
    stamps: dict[str, Any] = ({"timestamps": MetadataValue.md(
        "| TSA | authority time (UTC) | serial |\n|---|---|---|\n" + "\n".join(rows)),
        "timestamps_granted": len(granted),
        "timestamps_failed": len(cp.timestamps) - len(granted)} if cp.timestamps else {})
    return MaterializeResult(
        metadata={
            "checkpoint_id": cp.id,
            "size": cp.size,
            "root_hash": cp.root_hash,
            "origin": cp.origin,
            "created_at": cp.created_at,
            "note": MetadataValue.md(f"```\n{cp.note}```"),
            **stamps,
        },
        data_version=DataVersion(cp.root_hash))


class FixityConfig(Config):
    deep: bool = True
    """Also re-hash every record of every file (not only whole files)."""


@asset(group_name="custody", kinds={"warc"}, retry_policy=STORAGE_RETRY)
def fixity_audit(context: AssetExecutionContext, config: FixityConfig,
                 archive: ArchiveResource) -> MaterializeResult:
    """Re-hash every stored file and record a fixity check event per file
    (``Archive.fixity``), then re-check records, manifests and the custody chain
    (``Archive.verify``). Problems turn its check red."""
    with archive.open() as arc:
        fixity = arc.fixity(agent=arc.agent(run_id=context.run.run_id))
        report = arc.verify(deep=config.deep)
    problems = [{"kind": f"fixity-{r['state']}", "message": f"{r['path']}: {r['state']}"
                 + (f" (expected {r['expected']}, now {r['actual']})" if r.get("actual") else "")}
                for r in fixity.failures]
    problems += [p.to_json() for p in report.problems]
    metadata: dict[str, Any] = {
        "ok": not problems, "files": fixity.checked, "files_ok": fixity.ok,
        "bytes": fixity.bytes, "records": report.records, "captures": report.captures,
        "events": report.events, "problems": len(problems),
        "report": MetadataValue.json({"fixity": fixity.to_json(), "verify": report.to_json()}),
    }
    if problems:
        metadata["problem_list"] = md_table(problems[:50], ["kind", "message"])
    return MaterializeResult(metadata=metadata)


# ------------------------------------------------------------------------- catalog

@asset(deps=[article_metadata, custody_checkpoint], group_name="archive", kinds={"csv"},
       retry_policy=STORAGE_RETRY)
def catalog(context: AssetExecutionContext, archive: ArchiveResource) -> MaterializeResult:
    """The researchers' catalogue of every capture, as CSV and JSON Lines: URL, title,
    outlet, publication date, content hash, capture id, capture time, withdrawal (time
    and reason, empty unless withdrawn) and a citation."""
    with archive.open() as arc:  # a batch of rows at a time, however large the archive
        written = write_catalog(archive.store.catalog_dir, arc.catalog_batches())
    return MaterializeResult(
        metadata={
            "rows": written.rows,
            "csv": MetadataValue.path(str(written.csv)),
            "jsonl": MetadataValue.path(str(written.jsonl)),
            "csv_sha256": written.csv_sha256,
            "jsonl_sha256": written.jsonl_sha256,
            "preview": md_table([r.to_json() for r in written.newest],
                                ["title", "outlet", "published", "content_hash", "captured_at"]),
        },
        data_version=DataVersion(written.jsonl_sha256))
