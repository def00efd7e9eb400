"""Reporting per partition when one step handles a range of partitions.

A scheduled run takes every source in one run (``BackfillPolicy.single_run()``): each
step sees many partition keys (the capture asset's ops split them into shares, one step
each; the other assets take the whole range in one step). Dagster copies one
``MaterializeResult`` to every partition of the range; per-partition facts go through
``context.add_asset_metadata(..., partition_key=...)``, and checks emit one
``AssetCheckEvaluation`` per partition. A data version can only be given per partition
when the run has exactly one partition (dagster-io/dagster#34013): range runs record
each partition's content hash in its metadata instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    BackfillPolicy,
    BetaWarning,
    DagsterEventType,
    DagsterInstance,
    DataVersion,
    EventLogRecord,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
    graph_asset,
)

# Not exported by dagster, but the only way to tie a check result we emit per partition
# to the materialization it judged (what AssetCheckResult does for one partition).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from archive.ledger.db import in_chunks

__all__ = ["ASSET_PARTITION_RANGE_END_TAG", "ASSET_PARTITION_RANGE_START_TAG"]


def range_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """``@asset`` whose runs take a whole range of partitions in one step."""
    return _single_run(asset, kwargs)


def range_graph_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """``@graph_asset`` whose runs take a whole range of partitions: its ops see the
    range (``context.partition_keys``) and may fan it out (dynamic outputs)."""
    return _single_run(graph_asset, kwargs)


def _single_run(decorator: Callable[..., Any], kwargs: dict[str, Any],
                ) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    def wrap(fn: Callable[..., Any]) -> AssetsDefinition:
        # backfill_policy is a beta parameter in Dagster 1.13; single-run ranges are what
        # keeps a scheduled run from starting one process per source, so we rely on it.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=BetaWarning,
                                    message="Parameter `backfill_policy`")
            made: AssetsDefinition = decorator(backfill_policy=BackfillPolicy.single_run(),
                                               **kwargs)(fn)
        return made
    return wrap


@dataclass
class PartitionReport:
    """What one partition's materialization says: metadata and, when known, a version."""

    metadata: dict[str, Any] = field(default_factory=dict)
    data_version: str | None = None


def range_tags(keys: Sequence[str]) -> dict[str, str]:
    """Run tags that make one run cover the partitions ``keys[0]`` .. ``keys[-1]``."""
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def batch_label(keys: Sequence[str]) -> str:
    """The partition key, or Dagster's ``first...last`` notation for a range."""
    return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"


def finish(context: AssetExecutionContext, reports: Mapping[str, PartitionReport],
           batch_metadata: Mapping[str, Any] | None = None) -> MaterializeResult:
    """The step's result: exact metadata and data version for a single partition; for a
    range, each partition's metadata attached to its own materialization."""
    metadata, version = _finish(context, reports, batch_metadata)
    return MaterializeResult(metadata=metadata,
                             data_version=DataVersion(version) if version else None)


def finish_output(context: AssetExecutionContext, reports: Mapping[str, PartitionReport],
                  batch_metadata: Mapping[str, Any] | None = None) -> Output[None]:
    """:func:`finish` for the last op of a graph-backed asset (ops return an ``Output``)."""
    metadata, version = _finish(context, reports, batch_metadata)
    with warnings.catch_warnings():  # Output's data_version is beta in Dagster 1.13
        warnings.filterwarnings("ignore", category=BetaWarning,
                                message="Parameter `data_version`")
        return Output(None, metadata=metadata,
                      data_version=DataVersion(version) if version else None)


def _finish(context: AssetExecutionContext, reports: Mapping[str, PartitionReport],
            batch_metadata: Mapping[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    keys = list(reports)
    if len(keys) == 1:
        rep = reports[keys[0]]
        return _clean(rep.metadata), rep.data_version
    _add_partition_metadata(context, {k: _clean(r.metadata) for k, r in reports.items()})
    return {"batch": batch_label(keys), "batch_size": len(keys), **(batch_metadata or {})}, None


def _add_partition_metadata(context: AssetExecutionContext,
                            metadata: Mapping[str, Mapping[str, Any]]) -> None:
    """``context.add_asset_metadata(m, partition_key=k)`` for each partition ``k``.

    Dagster checks each call's key against the step's range by listing the partition
    set again: for dynamic partitions a query of every key, about 2 ms a call, 2 s for a
    1,000-source range. The keys are checked here once against ``context.partition_keys``
    and Dagster's metadata accumulator is extended directly (the same call its
    ``add_asset_metadata`` ends with); where that private attribute is missing (another
    Dagster release), the public call is made per partition.
    """
    step = getattr(context.op_execution_context, "_step_execution_context", None)
    if step is None or not hasattr(step, "_metadata_accumulator"):
        for key, meta in metadata.items():
            context.add_asset_metadata(meta, partition_key=key)
        return
    unknown = set(metadata) - set(context.partition_keys)
    if unknown:
        raise ValueError(f"partitions {sorted(unknown)[:5]} are not in this step's range")
    accumulator = step._metadata_accumulator
    for key, meta in metadata.items():
        accumulator = accumulator.with_additional_asset_metadata(
            asset_key=context.asset_key, partition_key=key, metadata=meta)
    step._metadata_accumulator = accumulator


def _clean(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if v is not None}


def latest_materializations(instance: DagsterInstance, asset_key: AssetKey,
                            keys: Iterable[str], *, before_run: str | None = None,
                            ) -> dict[str, EventLogRecord]:
    """The newest materialization record of each partition in ``keys`` (those that have
    one); with ``before_run``, the newest one made by another run.

    Two queries per 500 partitions (``in_chunks``), whatever the length of their history: the newest
    storage id of each partition, then those records. Only a partition whose newest
    record comes from ``before_run`` itself (a step that failed after reporting) is
    looked up on its own."""
    keys = list(dict.fromkeys(keys))
    out: dict[str, EventLogRecord] = {}
    again: list[str] = []
    for chunk in in_chunks(keys):
        newest = instance.get_latest_storage_id_by_partition(
            asset_key, DagsterEventType.ASSET_MATERIALIZATION, set(chunk))
        if not newest:
            continue
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, storage_ids=list(newest.values())),
            limit=len(newest)).records
        for rec in records:
            key = rec.partition_key
            if key is None or newest.get(key) != rec.storage_id:
                continue
            if before_run is not None and rec.run_id == before_run:
                again.append(key)
            else:
                out[key] = rec
    for key in again:
        for rec in instance.fetch_materializations(
                AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]),
                limit=10).records:
            if rec.run_id != before_run:
                out[key] = rec
                break
    return {k: out[k] for k in keys if k in out}


def metadata_of(record: EventLogRecord | None) -> dict[str, Any]:
    """A materialization's metadata as plain Python values."""
    if record is None or record.asset_materialization is None:
        return {}
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def check_evaluation(asset_key: AssetKey, check_name: str, *, partition: str | None,
                     passed: bool, description: str, blocking: bool,
                     severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
                     metadata: Mapping[str, Any] | None = None,
                     target: EventLogRecord | None = None) -> AssetCheckEvaluation:
    """One check result for one partition, tied to the materialization it judged."""
    target_data = None
    if target is not None and target.storage_id is not None:
        target_data = AssetCheckEvaluationTargetMaterializationData(
            storage_id=target.storage_id, run_id=target.run_id, timestamp=target.timestamp)
    return AssetCheckEvaluation(
        asset_key=asset_key, check_name=check_name, passed=passed,
        metadata={k: v for k, v in (metadata or {}).items() if v is not None},
        target_materialization_data=target_data, severity=severity,
        description=description, blocking=blocking, partition=partition)


def md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> MetadataValue:
    """A small markdown table (for summaries in the UI)."""
    def cell(v: Any) -> str:
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return MetadataValue.md("\n".join(lines))
