"""Jobs, schedules and the sensor that keep the archive current without anyone clicking.

A scheduled or sensor run captures many sources in one run: its tags name a range of
partitions and every partitioned asset has ``BackfillPolicy.single_run()``, so one step
captures the whole range with bounded concurrency inside (``Archive.capture``), instead
of one process per source.
"""

import hashlib
import json
from pathlib import Path

from dagster import (
    AssetMaterialization,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    schedule,
    sensor,
)

from archive.errors import ArchiveError
from pipelines.assets import (
    SOURCES_PARTITIONS,
    article_metadata,
    capture,
    catalog,
    custody_checkpoint,
    fixity_audit,
    source_partitions,
    sources,
)
from pipelines.partitioned import range_tags
from pipelines.resources import SourcesFileResource

CAPTURE_RUN_TAG = "archive/capture"
"""Every archiving run carries it; deploy/dagster.yaml allows one such run at a time."""

MAX_NEW_SOURCES_PER_TICK = 25
"""The sensor registers and captures at most this many new sources per tick; the rest
wait for the next tick (the cursor says some are pending)."""

archive_job = define_asset_job(
    "archive_job",
    selection=AssetSelection.assets(capture, article_metadata, custody_checkpoint, catalog),
    tags={CAPTURE_RUN_TAG: "true"},
    description="Capture a range of sources, extract their metadata, sign a custody "
                "checkpoint and rebuild the catalogue, with every check on the way.",
)

fixity_audit_job = define_asset_job(
    "fixity_audit_job",
    selection=AssetSelection.assets(fixity_audit),
    description="Re-hash every stored WARC file and record, and the custody chain.",
)


@schedule(job=archive_job, cron_schedule="0 3 * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING)
def daily_archive(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """Recapture every source once a day, all in one run: unchanged pages become revisit
    records, changed pages new captures (their materializations say ``change: changed``)."""
    keys = context.instance.get_dynamic_partitions(SOURCES_PARTITIONS)
    if not keys:
        return SkipReason("no sources registered yet: materialize `sources` or let the "
                          "new_sources sensor pick up sources.yaml")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return RunRequest(run_key=f"daily:{day}",
                      tags={**range_tags(keys), "archive/trigger": "daily"})


weekly_fixity_audit = ScheduleDefinition(
    name="weekly_fixity_audit", job=fixity_audit_job, cron_schedule="0 4 * * 0",
    execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING,
    description="Sunday 04:00 UTC: the fixity audit (Archive.verify, deep).")


@sensor(job=archive_job, minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING)
def new_sources(context: SensorEvaluationContext, sources_file: SourcesFileResource,
                ) -> SensorResult:
    """Notice sources added to the sources file: register their partitions and launch one
    run that captures them, in one result. The cursor holds the file's hash and how many
    new sources are still waiting, so an unchanged file costs one read per tick."""
    try:
        digest = hashlib.sha256(Path(sources_file.path).read_bytes()).hexdigest()
    except OSError as exc:
        return SensorResult(skip_reason=SkipReason(
            f"cannot read sources file {sources_file.path}: {exc.strerror}"))
    cursor = json.loads(context.cursor) if context.cursor else {}
    if cursor.get("sha256") == digest and not cursor.get("pending"):
        return SensorResult(skip_reason=SkipReason(f"{sources_file.path} has not changed"))
    try:
        items = sources_file.load()
    except ArchiveError as exc:
        return SensorResult(skip_reason=SkipReason(f"nothing added: {exc}"))
    known = set(context.instance.get_dynamic_partitions(SOURCES_PARTITIONS))
    new = [s.key for s in items if s.key not in known]
    batch = new[:MAX_NEW_SOURCES_PER_TICK]
    next_cursor = json.dumps({"sha256": digest, "pending": len(new) - len(batch)})
    if not batch:
        return SensorResult(skip_reason=SkipReason("no new sources"), cursor=next_cursor)
    context.log.info(f"{len(batch)} new source(s); {len(new) - len(batch)} left for later ticks")
    # The sensor did what materializing `sources` does for new sources (validate the file,
    # register partitions), so the asset says so; removals wait for `sources` itself.
    seen = AssetMaterialization(asset_key=sources.key, metadata={
        "path": MetadataValue.path(sources_file.path), "sources": len(items),
        "added": ", ".join(batch), "pending": len(new) - len(batch),
        "summary": MetadataValue.md(
            f"**{len(items)} sources** in `{sources_file.path}`; the new_sources sensor "
            f"registered {len(batch)} new partition(s)")})
    return SensorResult(
        run_requests=[RunRequest(
            run_key=f"new-sources:{digest[:16]}:{batch[0]}...{batch[-1]}",
            tags={**range_tags(batch), "archive/trigger": "new-sources"})],
        dynamic_partitions_requests=[source_partitions.build_add_request(batch)],
        asset_events=[seen], cursor=next_cursor)
