"""Helpers for the Dagster pipeline tests: sources files, test definitions, result lookups.

Everything is real: a loopback HTTP server, an archive in a temporary folder, a Dagster
instance (ephemeral, on disk, or on PostgreSQL) and ``execute_in_process`` runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    materialize,
)

from archive.core.packagedata import examples_dir
from pipelines.assets import (
    SOURCES_PARTITIONS,
    article_metadata,
    capture,
    catalog,
    custody_checkpoint,
    fixity_audit,
    sources,
)
from pipelines.automation import (
    archive_job,
    daily_archive,
    fixity_audit_job,
    new_sources,
    weekly_fixity_audit,
)
from pipelines.checks import ALL_CHECKS
from pipelines.partitioned import latest_materializations, metadata_of, range_tags
from pipelines.resources import resources_from_env

EXAMPLE_PATHS = ("/2024/03/04/harbour-lighthouse-vote.html", "/latest",
                 "/world/river-bridge-reopens.html", "/sv/2024/03/02/farjestrejk.txt")
ASSETS = [sources, capture, article_metadata, custody_checkpoint, catalog, fixity_audit]


def example_sources(base: str, dest: Path) -> Path:
    """examples/sources.yaml with the demo site's fixed port replaced by ``base``."""
    text = (examples_dir() / "sources.yaml").read_text("utf-8")
    dest.write_text(text.replace("http://127.0.0.1:8765", base), "utf-8")
    return dest


def write_sources(dest: Path, urls: Iterable[str], **fields: Any) -> Path:
    doc = {"sources": [{"url": u, **fields} for u in urls]}
    dest.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return dest


def deployment_env(home: Path, sources_file: Path, **extra: str) -> dict[str, str]:
    """The environment a test deployment would have (loopback allowed, quick retries)."""
    return {"ARCHIVE_HOME": str(home), "ARCHIVE_SOURCES": str(sources_file),
            "ARCHIVE_ALLOW_PRIVATE_NETWORKS": "1", "ARCHIVE_RETRY_DELAY": "0.05",
            "ARCHIVE_DEADLINE": "10", "ARCHIVE_OPERATOR": "tester", **extra}


def definitions(env: Mapping[str, str]) -> Definitions:
    """The production definitions with resources from ``env`` instead of os.environ."""
    return Definitions(assets=ASSETS, asset_checks=ALL_CHECKS,
                       jobs=[archive_job, fixity_audit_job],
                       schedules=[daily_archive, weekly_fixity_audit], sensors=[new_sources],
                       resources=resources_from_env(env))


def register_sources(env: Mapping[str, str], instance: DagsterInstance) -> list[str]:
    """Materialize ``sources`` (validates the file, registers the partitions)."""
    result = materialize([sources], instance=instance, resources=resources_from_env(env))
    assert result.success
    return list(instance.get_dynamic_partitions(SOURCES_PARTITIONS))


def run_archive_job(defs: Definitions, instance: DagsterInstance, keys: list[str],
                    ) -> ExecuteInProcessResult:
    """One run over the partition range ``keys[0]..keys[-1]``, as the schedule does."""
    return defs.resolve_job_def("archive_job").execute_in_process(
        instance=instance, tags=range_tags(keys), raise_on_error=False)


def partition_meta(instance: DagsterInstance, asset: AssetKey, key: str) -> dict[str, Any]:
    return metadata_of(latest_materializations(instance, asset, [key]).get(key))


def asset_meta(instance: DagsterInstance, asset: AssetKey) -> dict[str, Any]:
    records = instance.fetch_materializations(asset, limit=1).records
    return metadata_of(records[0] if records else None)


def check_evaluations(result: ExecuteInProcessResult,
                      ) -> dict[tuple[str, str | None], AssetCheckEvaluation]:
    """(check name, partition) -> evaluation, from one run's events."""
    out = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            assert isinstance(ev, AssetCheckEvaluation)
            out[(ev.check_name, ev.partition)] = ev
    return out


def step_keys(result: ExecuteInProcessResult, event_type: DagsterEventType) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type == event_type and e.step_key]
