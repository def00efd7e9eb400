"""The ``sources`` and ``capture`` assets: the sources file becomes one dynamic partition
per source, and a run's range of partitions is captured in shares, one step each.

``capture`` is a graph of three ops: ``capture_plan`` reconciles what an earlier crash
left and splits the range into shares (``ARCHIVE_CAPTURE_SHARES``, every host in one
share); ``capture_share`` captures one share (``Archive.capture``), one step per share,
so a distributed executor (dagster-celery, dagster-k8s) runs them on different workers,
all appending to the one custody log; ``capture_report`` reports each partition. With
one share (the default) a run captures in one step. docs/deploy.md has the deployments.
"""

import random
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    Backoff,
    DataVersion,
    DynamicOut,
    DynamicOutput,
    DynamicPartitionsDefinition,
    Failure,
    In,
    Jitter,
    MaterializeResult,
    MetadataValue,
    Nothing,
    Output,
    RetryPolicy,
    RetryRequested,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    op,
)

from archive.capture.results import is_transient
from archive.core.canonical import canonical_hash
from archive.core.sources import Source, share_out
from archive.errors import ArchiveError, ConfigError
from archive.ledger.custody import Withdrawal
from pipelines.partitioned import (
    PartitionReport,
    batch_label,
    finish_output,
    latest_materializations,
    metadata_of,
    range_graph_asset,
)
from pipelines.resources import ArchiveResource, SourcesFileResource

SOURCES_PARTITIONS = "sources"
source_partitions = DynamicPartitionsDefinition(name=SOURCES_PARTITIONS)
"""One partition per source, keyed by ``archive.core.urls.partition_key`` (16 hex of the
SHA-256 of the normalised URL): short, stable, and never the URL itself."""

CAPTURE_POOL = "archive_capture"
"""Concurrency pool of the capture shares: deploy/dagster.yaml and dagster-postgres.yaml
limit it to one share at a time across all runs (a host never sees two of our captures
at once); deploy/dagster-celery.yaml lets as many run as there are workers, which is
still polite inside a run because a host's sources are all in one share
(``archive.core.sources.share_out``) and ``Archive.capture`` keeps ``per_host`` fetches
per host within it."""


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
                                       per_host=archive.fetcher.per_host, mode=mode,
                                       processes=archive.processes)
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


def _by_key(sources_file: SourcesFileResource) -> dict[str, Source]:
    try:
        return sources_file.by_key()
    except ArchiveError as exc:
        raise _failure(exc) from exc


@op(ins={"sources": In(Nothing)}, out=DynamicOut(list), retry_policy=STORAGE_RETRY)
def capture_plan(context: AssetExecutionContext, archive: ArchiveResource,
                 sources_file: SourcesFileResource) -> Iterator[DynamicOutput[list[str]]]:
    """Reconcile, then split the run's partitions into shares (host-disjoint): one
    ``capture_share`` step each. Partitions no longer in the sources file go to no share
    (``capture_report`` says so); a range with none left still yields one empty share,
    so that the report runs."""
    keys = list(context.partition_keys)
    by_key = _by_key(sources_file)
    _reconcile(context, archive)
    shares = share_out([by_key[k] for k in keys if k in by_key], archive.fetcher.shares)
    context.log.info(f"{len(keys)} partition(s) in {max(1, len(shares))} share(s): "
                     + ", ".join(str(len(s)) for s in shares))
    for i, share in enumerate(shares or [[]]):
        yield DynamicOutput([s.key for s in share], mapping_key=str(i))


@op(retry_policy=STORAGE_RETRY, pool=CAPTURE_POOL)
def capture_share(context: AssetExecutionContext, archive: ArchiveResource,
                  sources_file: SourcesFileResource, keys: list[str],
                  ) -> dict[str, dict[str, Any]]:
    """Fetch each URL of the share and store it as WARC with its custody events
    (``Archive.capture``). Transient failures are retried with exponential backoff (the
    share's step again); 4xx responses are recorded and flagged."""
    by_key = _by_key(sources_file)
    # A retry captures again only what failed transiently: Archive.capture skips what
    # this run already stored or failed for good (archive.capture.runs.done_in_run).
    todo = {k: by_key[k] for k in keys if k in by_key}
    context.log.info(f"capturing {len(todo)} source(s) (attempt {context.retry_number + 1})")
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
    return outcomes


@op(retry_policy=STORAGE_RETRY)
def capture_report(context: AssetExecutionContext, archive: ArchiveResource,
                   sources_file: SourcesFileResource,
                   shares: list[dict[str, dict[str, Any]]]) -> Output[None]:
    """Each partition's capture metadata (change since the last capture, withdrawals,
    the capture page); a single partition that failed fails the step."""
    keys = list(context.partition_keys)
    by_key = _by_key(sources_file)
    outcomes = {k: o for share in shares for k, o in share.items()}
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
    return finish_output(context, reports, {
        "statuses": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        "shares": len(shares)})


@range_graph_asset(partitions_def=source_partitions, group_name="archive", kinds={"warc"},
                   ins={"sources": AssetIn(key=sources.key, dagster_type=Nothing)})
def capture(sources: Any) -> Any:
    """Fetch each partition's URL and store it as WARC with its custody events, in
    shares that workers capture side by side; unchanged pages become revisit records.
    Transient failures are retried with exponential backoff, 4xx responses are recorded
    and flagged."""
    return capture_report(capture_plan(sources).map(capture_share).collect())
