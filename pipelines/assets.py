"""Assets: sources -> capture -> article_metadata -> custody_checkpoint -> catalog, and the
fixity audit. Each calls ``archive`` and turns its results into metadata an operator can
act on; none of them holds archiving logic of its own.
"""

import random
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    Backoff,
    Config,
    DataVersion,
    DynamicPartitionsDefinition,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RetryRequested,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)

from archive import MetadataVersion
from archive.capture.results import is_transient
from archive.catalog import OK_STATUSES, field_evidence, field_value, render_catalog, write_catalog
from archive.core.canonical import canonical_hash
from archive.core.hashing import sha256_bytes
from archive.core.sources import Source
from archive.errors import (
    ArchiveError,
    ConfigError,
)
from archive.ledger.custody import Withdrawal
from pipelines.partitioned import (
    PartitionReport,
    batch_label,
    finish,
    latest_materializations,
    md_table,
    metadata_of,
    range_asset,
)
from pipelines.resources import ArchiveResource, SourcesFileResource

SOURCES_PARTITIONS = "sources"
source_partitions = DynamicPartitionsDefinition(name=SOURCES_PARTITIONS)
"""One partition per source, keyed by ``archive.core.urls.partition_key`` (16 hex of the
SHA-256 of the normalised URL): short, stable, and never the URL itself."""

CAPTURE_POOL = "archive_capture"
"""Concurrency pool of the capture step: the instance configs in deploy/ limit it to one
step at a time across all runs, and inside the step ``Archive.capture`` keeps
``per_host`` fetches per host, so a host never sees two of our runs at once."""


# Database or disk hiccups (not fetch failures: those are retried by RetryRequested below).
STORAGE_RETRY = RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL,
                            jitter=Jitter.PLUS_MINUS)



def _failure(exc: ArchiveError) -> Failure:
    """Bad settings or a bad sources file: retrying cannot help."""
    return Failure(description=str(exc), allow_retries=False)


# ------------------------------------------------------------------------- sources

@asset(group_name="archive", kinds={"yaml"})
def sources(context: AssetExecutionContext, sources_file: SourcesFileResource,
            ) -> MaterializeResult:
    """The sources file, validated against schemas/sources.schema.json; keeps one dynamic
    partition per source (new sources added, removed ones deleted)."""
    try:
        items = sources_file.load()
    except ArchiveError as exc:
        raise _failure(exc) from exc
    keys = [s.key for s in items]
    existing = list(context.instance.get_dynamic_partitions(SOURCES_PARTITIONS))
    known, wanted = set(existing), set(keys)
    added = [k for k in keys if k not in known]
    removed = [k for k in existing if k not in wanted]
    if added:
        context.instance.add_dynamic_partitions(SOURCES_PARTITIONS, added)
    for key in removed:
        context.instance.delete_dynamic_partition(SOURCES_PARTITIONS, key)
    listing = [{"url": s.url, "label": s.label, "outlet": s.outlet, "group": s.group,
                "allow_private_networks": s.allow_private_networks, "mode": s.mode}
               for s in items]
    table = MetadataValue.table(
        records=[TableRecord({"partition": s.key, "url": s.url, "label": s.label or "",
                              "outlet": s.outlet or ""}) for s in items],
        schema=TableSchema(columns=[TableColumn(c, "string")
                                    for c in ("partition", "url", "label", "outlet")]))
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(sources_file.path),
            "sources": len(items),
            "added": ", ".join(added) or "none",
            "removed": ", ".join(removed) or "none",
            "table": table,
            "summary": MetadataValue.md(
                f"**{len(items)} sources** in `{sources_file.path}`: {len(added)} new "
                f"partition(s), {len(removed)} removed."),
        },
        data_version=DataVersion(canonical_hash(listing)))


# ------------------------------------------------------------------------- capture

def _reconcile(context: AssetExecutionContext, archive: ArchiveResource) -> None:
    """Every run starts by adopting or quarantining files an earlier crash left behind
    (files other live runs are writing are locked and left alone)."""
    with archive.open() as arc:
        report = arc.reconcile(arc.agent(run_id=context.run.run_id))
    for a in report.adopted:
        context.log.warning(f"recovered {a['from']}: adopted {len(a['captures'])} capture(s)")
    for q in report.quarantined:
        context.log.warning(f"quarantined {q['path']}: {q['reason']}")


def _capture_sources(archive: ArchiveResource, todo: Mapping[str, Source], run_id: str,
                     ) -> dict[str, dict[str, Any]]:
    """Capture ``todo`` (key -> source); sources that allow private networks are fetched
    with a policy that allows them, the rest with the configured policy; each in its
    own ``mode:`` or the fetcher's."""
    out: dict[str, dict[str, Any]] = {}
    default_mode = archive.fetcher.mode
    modes = list(dict.fromkeys(s.mode or default_mode for s in todo.values()))
    for allow, mode in ((a, m) for a in (False, True) for m in modes):
        group = {k: s for k, s in todo.items() if s.allow_private_networks == allow
                 and (s.mode or default_mode) == mode}
        if not group:
            continue
        with archive.open(allow_private_networks=allow) as arc:
            agent = arc.agent(run_id=run_id, partition_key=batch_label(list(group)))
            try:
                outcomes = arc.capture([s.url for s in group.values()], agent=agent,
                                       concurrency=archive.fetcher.concurrency,
                                       per_host=archive.fetcher.per_host, mode=mode)
            except ConfigError as exc:  # a mode that does not exist: retrying cannot help
                raise _failure(exc) from exc
        for key, outcome in zip(group, outcomes, strict=True):
            out[key] = {**outcome.to_json(), "transient": is_transient(outcome)}
    return out


def _change(outcome: Mapping[str, Any], previous: Mapping[str, Any]) -> str:
    if outcome.get("status") == "revisit":
        return "unchanged"
    if not previous.get("content_hash"):
        return "new"
    return "unchanged" if previous["content_hash"] == outcome.get("content_hash") else "changed"


def _capture_report(source: Source | None, key: str, outcome: Mapping[str, Any] | None,
                    previous: Mapping[str, Any],
                    gone: Mapping[str, Withdrawal] | None = None,
                    public_url: str | None = None) -> PartitionReport:
    """A partition's capture metadata; with ``public_url`` (ARCHIVE_PUBLIC_URL) it links
    to the capture's page on the published resolver, ``<public_url>/c/<capture id>``."""
    if source is None or outcome is None:
        text = (f"partition {key} is not in the sources file any more; materialize "
                "`sources` to remove its partition")
        return PartitionReport({"status": "not-in-sources", "error": text,
                                "summary": MetadataValue.md(f"**not captured**: {text}")})
    url = source.url
    if outcome["status"] == "failed":
        msg = f"{outcome.get('error', 'FetchError')}: {outcome.get('message', '')}"
        return PartitionReport({
            "url": MetadataValue.url(url), "status": "failed", "error": msg,
            "outlet": source.outlet,
            "summary": MetadataValue.md(f"**capture failed** for {url}\n\n`{msg}`")})
    change = _change(outcome, previous)
    problems = "; ".join(outcome.get("problems") or []) or None
    gone = gone or {}
    withdrawn = gone.get(outcome["capture_id"])
    original_withdrawn = gone.get(outcome.get("revisit_of") or "")
    meta = {
        "url": MetadataValue.url(url),
        "final_url": outcome.get("final_url"),
        "status": outcome["status"],
        "http_status": outcome.get("http_status"),
        "content_hash": outcome.get("content_hash"),
        "capture_id": outcome["capture_id"],
        "captured_at": outcome.get("captured_at"),
        "warc_path": MetadataValue.path(outcome["warc_path"]),
        "warc_sha256": outcome.get("warc_sha256"),
        "content_type": outcome.get("content_type"),
        "revisit_of": outcome.get("revisit_of"),
        "mode": outcome.get("mode"),
        "requisites_captured": outcome.get("requisites_captured"),
        "requisites_failed": outcome.get("requisites_failed"),
        "screenshot": outcome.get("screenshot"),
        "change": change,
        "outlet": source.outlet,
        "label": source.label,
        "problems": problems,
        "withdrawn": withdrawn.line() if withdrawn else None,
        "original_withdrawn": original_withdrawn.line() if original_withdrawn else None,
    }
    page = f"{public_url}/c/{outcome['capture_id']}" if public_url else None
    if page:
        meta["capture_page"] = MetadataValue.url(page)
    lines = [f"**{outcome['status']}** · HTTP {outcome.get('http_status')} · {change}", "",
             f"- URL: {url}" + (f" → {outcome['final_url']}"
                                if outcome.get("final_url") not in (None, url) else ""),
             f"- content hash: `{outcome.get('content_hash')}`",
             f"- capture id: `{outcome['capture_id']}`",
             f"- WARC: `{outcome['warc_path']}`"]
    if outcome.get("mode"):
        lines.append(f"- mode: {outcome['mode']}" + (
            f", requisites: {outcome.get('requisites_captured') or 0} captured, "
            f"{outcome.get('requisites_failed') or 0} failed"
            if outcome.get("requisites_captured") is not None else ""))
    if outcome.get("screenshot"):
        lines.append(f"- screenshot: `{outcome['screenshot']}`")
    if page:
        lines.append(f"- capture page: [{page}]({page})")
    if withdrawn:
        lines.insert(0, f"**WITHDRAWN**: {withdrawn.line()}")
    if outcome.get("revisit_of"):
        lines.append(f"- revisit of `{outcome['revisit_of']}` (identical payload)"
                     + (f", which was {original_withdrawn.line()}" if original_withdrawn
                        else ""))
    if problems:
        lines.append(f"- problems: {problems}")
    meta["summary"] = MetadataValue.md("\n".join(lines))
    return PartitionReport(meta, outcome.get("content_hash"))


@range_asset(partitions_def=source_partitions, deps=[sources], group_name="archive",
             kinds={"warc"}, pool=CAPTURE_POOL, retry_policy=STORAGE_RETRY)
def capture(context: AssetExecutionContext, archive: ArchiveResource,
            sources_file: SourcesFileResource) -> MaterializeResult:
    """Fetch each partition's URL and store it as WARC with its custody events
    (``Archive.capture``); unchanged pages become revisit records. Transient failures
    are retried with exponential backoff, 4xx responses are recorded and flagged."""
    keys = list(context.partition_keys)
    try:
        by_key = sources_file.by_key()
    except ArchiveError as exc:
        raise _failure(exc) from exc
    if context.retry_number == 0:
        _reconcile(context, archive)
    # A retry captures again only what failed transiently: Archive.capture skips what
    # this run already stored or failed for good (archive.capture.runs.done_in_run).
    todo = {k: by_key[k] for k in keys if k in by_key}
    context.log.info(f"capturing {len(todo)} of {len(keys)} source(s) "
                     f"(attempt {context.retry_number + 1})")
    outcomes = _capture_sources(archive, todo, context.run.run_id) if todo else {}
    transient = [k for k in keys if outcomes.get(k, {}).get("transient")]
    fetcher = archive.fetcher
    if transient and context.retry_number < fetcher.max_retries:
        wait = fetcher.retry_delay * 2 ** context.retry_number * random.uniform(0.8, 1.2)
        context.log.warning(
            f"{len(transient)} transient failure(s) ("
            + "; ".join(f"{outcomes[k]['url']}: {outcomes[k].get('message') or 'HTTP '}"
                        f"{outcomes[k].get('http_status') or ''}" for k in transient[:5])
            + f"); retrying them in {wait:.1f} s")
        raise RetryRequested(max_retries=fetcher.max_retries, seconds_to_wait=wait)
    previous = latest_materializations(context.instance, context.asset_key, keys,
                                       before_run=context.run.run_id)
    stored = [o.get(f) for o in outcomes.values() for f in ("capture_id", "revisit_of")]
    with archive.open() as arc:  # withdrawals are read from the custody log, not a column
        gone = arc.withdrawn(s for s in stored if s)
    reports = {k: _capture_report(by_key.get(k), k, outcomes.get(k),
                                  metadata_of(previous.get(k)), gone,
                                  archive.settings().public_url) for k in keys}
    if len(keys) == 1 and "error" in reports[keys[0]].metadata:
        meta = reports[keys[0]].metadata
        raise Failure(description=meta["error"], metadata=meta, allow_retries=False)
    changed = [f"{by_key[k].url} now {r.data_version}" for k, r in reports.items()
               if r.metadata.get("change") == "changed"]
    if changed:  # one log entry for the run, not one event per changed page
        context.log.info(f"{len(changed)} changed page(s): " + "; ".join(changed))
    counts: dict[str, int] = {}
    for rep in reports.values():
        counts[rep.metadata["status"]] = counts.get(rep.metadata["status"], 0) + 1
    return finish(context, reports,
                  {"statuses": ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))})


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
    with archive.open() as arc:
        rows = arc.catalog_rows()
    csv_bytes, jsonl_bytes = render_catalog(rows)
    csv_path, jsonl_path = write_catalog(archive.store.catalog_dir, csv_bytes, jsonl_bytes)
    return MaterializeResult(
        metadata={
            "rows": len(rows),
            "csv": MetadataValue.path(str(csv_path)),
            "jsonl": MetadataValue.path(str(jsonl_path)),
            "csv_sha256": sha256_bytes(csv_bytes),
            "jsonl_sha256": sha256_bytes(jsonl_bytes),
            "preview": md_table([r.to_json() for r in rows[-10:]],
                                ["title", "outlet", "published", "content_hash", "captured_at"]),
        },
        data_version=DataVersion(sha256_bytes(jsonl_bytes)))
