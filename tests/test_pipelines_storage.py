"""The embedded instance's event log (pipelines/storage.py): Dagster's SQLite storage with
its connections kept open. A real run on deploy/dagster.yaml; what it wrote must read
back the same through Dagster's stock storage, and a watcher (how the UI follows a live
run) must see every event as it is written."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetCheckKey, DagsterEventType, DagsterInstance
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from pipelinekit import (
    definitions,
    deployment_env,
    example_sources,
    partition_meta,
    register_sources,
    run_archive_job,
)

from archive.cli.demo import serve_site
from pipelines.assets import article_metadata, capture
from pipelines.checks import (
    CAPTURE_COMPLETE,
    CUSTODY_CONSISTENT,
    HASHES_MATCH_DB,
    METADATA_SCHEMA_VALID,
    WARC_VALID,
)
from pipelines.storage import PooledSqliteEventLogStorage

ROOT = Path(__file__).resolve().parent.parent
STOCK_CONFIG = "telemetry:\n  enabled: false\n"  # Dagster's own default storage


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # as scripts/ui sets it
    return home


def _stock(home: Path) -> DagsterInstance:
    """The same directory opened with Dagster's stock SQLite storage."""
    stock = home.parent / "stock"
    stock.mkdir(exist_ok=True)
    (stock / "dagster.yaml").write_text(
        STOCK_CONFIG + f"storage:\n  sqlite:\n    base_dir: {home}\n", "utf-8")
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(stock)))


def test_a_run_on_the_embedded_instance_reads_back_through_stock_storage(
        tmp_path: Path, dagster_home: Path) -> None:
    with serve_site(0) as site:
        env = deployment_env(tmp_path / "home", example_sources(site, tmp_path / "s.yaml"))
        with DagsterInstance.get() as instance:
            storage = instance.event_log_storage
            assert isinstance(storage, PooledSqliteEventLogStorage)
            keys = register_sources(env, instance)
            result = run_archive_job(definitions(env), instance, keys)
            assert result.success
            run_id = result.run_id
            # One engine per database file (the index and the run shards), kept open.
            assert {"index", run_id} <= set(storage._engines)
            # The planned and the range steps' materializations came in batches.
            assert storage.batched >= 4 * len(keys)

    with _stock(dagster_home) as stock:
        assert type(stock.event_log_storage) is SqliteEventLogStorage
        for key in keys:
            cap = partition_meta(stock, capture.key, key)
            assert cap["status"] == "complete" and cap["capture_id"].startswith("sha256:")
            assert partition_meta(stock, article_metadata.key, key)["status"] == "extracted"
        checks = [AssetCheckKey(capture.key, n) for n in
                  (WARC_VALID, HASHES_MATCH_DB, CUSTODY_CONSISTENT, CAPTURE_COMPLETE)]
        checks.append(AssetCheckKey(article_metadata.key, METADATA_SCHEMA_VALID))
        # What the UI shows per partition: each check passed on the latest materialization.
        infos = stock.event_log_storage.get_asset_check_partition_info(checks)
        seen = {(i.check_key.name, i.partition_key): i for i in infos}
        for check in checks:
            for key in keys:
                info = seen[(check.name, key)]
                assert info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED
                assert info.latest_planned_run_id == run_id and info.is_current
        logged = stock.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        assert len(logged) == 5 * len(keys) + 1  # and custody_log_consistent


def _message(run_id: str, text: str) -> EventLogEntry:
    return EventLogEntry(error_info=None, level="INFO", user_message=text, run_id=run_id,
                         timestamp=time.time())


class _Watcher:
    """What a watcher of a run's events (the UI's way of following a live run) has seen,
    each event as ``label`` names it."""

    def __init__(self, label: Any = lambda entry: entry.user_message) -> None:
        self.seen: list[str] = []
        self.label = label
        self.arrived = threading.Condition()

    def on_event(self, entry: EventLogEntry, cursor: Any) -> None:
        with self.arrived:
            self.seen.append(self.label(entry))
            self.arrived.notify_all()

    def wait_for(self, count: int) -> list[str]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.seen) >= count, timeout=10)
            return list(self.seen)


@contextmanager
def _watched(run_id: str, watcher: _Watcher) -> Iterator[PooledSqliteEventLogStorage]:
    """A run's event log with "start" stored, followed by ``watcher`` through a second
    instance (the run worker and the webserver are two processes)."""
    with DagsterInstance.get() as writer, DagsterInstance.get() as reader:
        storage = writer.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        storage.store_event(_message(run_id, "start"))
        reader.event_log_storage.watch(run_id, None, watcher.on_event)
        try:
            time.sleep(0.5)  # the observer is running
            yield storage
        finally:
            reader.event_log_storage.end_watch(run_id, watcher.on_event)


def test_a_watcher_sees_each_event_of_a_live_run(dagster_home: Path) -> None:
    run_id = str(uuid.uuid4())
    watcher = _Watcher()
    on_event, wait_for, seen = watcher.on_event, watcher.wait_for, watcher.seen

    # Two instances, as the run worker and the webserver are two processes.
    with DagsterInstance.get() as writer, DagsterInstance.get() as reader:
        writer.event_log_storage.store_event(_message(run_id, "first"))
        reader.event_log_storage.watch(run_id, None, on_event)
        try:
            time.sleep(0.5)  # the observer is running
            for i, text in enumerate(("second", "third", "fourth"), start=2):
                writer.event_log_storage.store_event(_message(run_id, text))
                assert wait_for(i)[-1] == text
        finally:
            reader.event_log_storage.end_watch(run_id, on_event)
    assert seen == ["first", "second", "third", "fourth"]


def test_engines_are_not_shared_with_a_forked_child(dagster_home: Path) -> None:
    """After a fork, the child opens its own connections (never its parent's)."""
    import multiprocessing

    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_id = str(uuid.uuid4())
        storage.store_event(_message(run_id, "parent"))
        parent_engine = storage._engines[run_id]
        ctx = multiprocessing.get_context("fork")
        done = ctx.Queue()
        child = ctx.Process(target=_child_writes, args=(storage, run_id, done))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert done.get(timeout=5) == "fresh engine"
        assert storage._engines[run_id] is parent_engine
        storage.store_event(_message(run_id, "parent again"))
        messages = [r.event_log_entry.user_message
                    for r in storage.get_records_for_run(run_id).records]
    assert messages == ["parent", "child", "parent again"]


def _child_writes(storage: PooledSqliteEventLogStorage, run_id: str, done: Any) -> None:
    before = storage._engines.get(run_id)
    storage.store_event(_message(run_id, "child"))
    done.put("fresh engine" if storage._engines[run_id] is not before else "shared engine")


def _materialization(run_id: str, key: str) -> EventLogEntry:
    from dagster import AssetMaterialization
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData

    return EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id=run_id, timestamp=time.time(),
        dagster_event=DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value, "job",
            event_specific_data=StepMaterializationData(
                AssetMaterialization(asset_key="capture", partition=key))))


def test_a_burst_of_asset_events_is_not_checkpointed_event_by_event(dagster_home: Path) -> None:
    """A range step's per-partition events wait for the next checkpoint (at most
    CHECKPOINT_INTERVAL apart); the event after the burst checkpoints at once, so a
    watcher (the UI) sees every event of the burst, in order."""
    from pipelines.storage import CHECKPOINT_INTERVAL

    run_id = str(uuid.uuid4())
    watcher = _Watcher(lambda entry: entry.dagster_event.asset_key.to_user_string()
                       if entry.is_dagster_event else entry.user_message)
    with _watched(run_id, watcher) as storage:
        before = storage.checkpoints
        start = time.monotonic()
        for i in range(200):
            storage.store_event(_materialization(run_id, f"p{i}"))
        took = time.monotonic() - start
        made = storage.checkpoints - before
        # At most one checkpoint per interval (and the first), not one per event.
        assert made <= 1 + took / CHECKPOINT_INTERVAL
        assert made < 200
        storage.store_event(_message(run_id, "step end"))
        assert storage.checkpoints == before + made + 1
        seen = watcher.wait_for(202)
    assert seen == ["start", *["capture"] * 200, "step end"]


def _evaluation(run_id: str, key: str) -> EventLogEntry:
    from dagster import AssetCheckSeverity, AssetKey
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluation,
    )
    from dagster._core.events import DagsterEvent

    return EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id=run_id, timestamp=time.time(),
        dagster_event=DagsterEvent(
            DagsterEventType.ASSET_CHECK_EVALUATION.value, "job", step_key="step",
            event_specific_data=AssetCheckEvaluation(
                asset_key=AssetKey("capture"), check_name=WARC_VALID, passed=True,
                partition=key, severity=AssetCheckSeverity.ERROR, blocking=True)))


def test_check_results_are_written_together_and_seen_in_order(dagster_home: Path) -> None:
    """A burst of check evaluations is written in a few statements, not one per event; a
    watcher (the UI) sees each of them, in order, when the step's next event is written,
    and a lone evaluation once CHECKPOINT_INTERVAL has passed, at the next evaluation."""
    from pipelines.storage import CHECKPOINT_INTERVAL

    run_id = str(uuid.uuid4())
    watcher = _Watcher(lambda entry: entry.dagster_event.event_specific_data.partition
                       if entry.is_dagster_event else entry.user_message)
    wait_for = watcher.wait_for
    with _watched(run_id, watcher) as storage:
        start = time.monotonic()
        for i in range(200):
            storage.store_event(_evaluation(run_id, f"p{i}"))
        took = time.monotonic() - start
        storage.store_event(_message(run_id, "step end"))
        assert storage.check_batches <= 1 + took / CHECKPOINT_INTERVAL
        assert storage.check_batches < 20
        assert wait_for(202) == ["start", *[f"p{i}" for i in range(200)], "step end"]
        storage.store_event(_evaluation(run_id, "late-1"))
        time.sleep(CHECKPOINT_INTERVAL + 0.1)
        storage.store_event(_evaluation(run_id, "late-2"))  # the first is due: both go
        assert wait_for(204)[-2:] == ["late-1", "late-2"]
    with _stock(dagster_home) as stock:
        infos = stock.event_log_storage.get_asset_check_partition_info(
            [AssetCheckKey(capture.key, WARC_VALID)])
        assert len(infos) == 202
        assert {i.latest_execution_status for i in infos} == {
            AssetCheckExecutionRecordStatus.SUCCEEDED}


def test_the_event_log_commits_without_waiting_for_the_disk(dagster_home: Path) -> None:
    """synchronous=NORMAL on every connection of the event log (WAL: durable against a
    killed process, not against a power cut; see the module docstring)."""
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_id = str(uuid.uuid4())
        storage.store_event(_message(run_id, "one"))
        for shard in (run_id, "index"):
            with storage._connect(shard) as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def _asset_events(run_id: str) -> list[EventLogEntry]:
    """What a range run writes: planned materializations and checks over its partitions,
    a log line, materializations (tagged, as Dagster tags a data version) of two assets,
    an observation, check results."""
    from dagster import (
        AssetCheckSeverity,
        AssetKey,
        AssetMaterialization,
        AssetObservation,
        MetadataValue,
    )
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluation,
        AssetCheckEvaluationPlanned,
        AssetCheckEvaluationTargetMaterializationData,
    )
    from dagster._core.definitions.partitions.definition import StaticPartitionsDefinition
    from dagster._core.events import (
        AssetMaterializationPlannedData,
        AssetObservationData,
        DagsterEvent,
        StepMaterializationData,
    )

    keys = [f"p{i}" for i in range(5)]
    subset = StaticPartitionsDefinition(keys).subset_with_partition_keys(keys)

    def entry(event: DagsterEvent) -> EventLogEntry:
        return EventLogEntry(error_info=None, level="DEBUG", user_message="", run_id=run_id,
                             timestamp=time.time(), dagster_event=event)

    def made(asset: str, key: str) -> EventLogEntry:
        return entry(DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value, "job",
            event_specific_data=StepMaterializationData(AssetMaterialization(
                asset_key=asset, partition=key, metadata={"n": int(key[1:])},
                tags={"dagster/data_version": f"v-{asset}-{key}"}))))

    events = [entry(DagsterEvent.build_asset_materialization_planned_event(
        "job", "step", AssetMaterializationPlannedData(AssetKey(asset), partition=key)))
        for asset in ("article_metadata", "capture") for key in keys]
    events.append(entry(DagsterEvent(
        DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value, "job", step_key="step",
        event_specific_data=AssetCheckEvaluationPlanned(
            asset_key=AssetKey("capture"), check_name="warc_valid",
            partitions_subset=subset))))
    events.append(_message(run_id, "between"))
    events += [made("capture", key) for key in keys]
    events += [made("article_metadata", key) for key in keys[:3]]
    events.append(entry(DagsterEvent(
        DagsterEventType.ASSET_OBSERVATION.value, "job",
        event_specific_data=AssetObservationData(AssetObservation("capture", partition="p0")))))
    # Check results: on planned partitions (passed, failed, tied to a materialization),
    # and on a check and a partition nobody planned (a row is added).
    target = AssetCheckEvaluationTargetMaterializationData(storage_id=3, run_id=run_id,
                                                           timestamp=time.time())
    events += [entry(DagsterEvent(
        DagsterEventType.ASSET_CHECK_EVALUATION.value, "job", step_key="step",
        event_specific_data=AssetCheckEvaluation(
            asset_key=AssetKey("capture"), check_name=name, passed=passed, partition=key,
            metadata={"problems": MetadataValue.int(0 if passed else 1)},
            target_materialization_data=target if key == "p1" else None,
            severity=AssetCheckSeverity.ERROR, description=f"{name} {key}", blocking=True)))
        for name, key, passed in [("warc_valid", "p0", True), ("warc_valid", "p1", True),
                                  ("warc_valid", "p2", False), ("hashes_match_db", "p0", True),
                                  ("hashes_match_db", None, False),
                                  ("hashes_match_db", None, True)]]  # judged again: it wins
    return events


_DEFAULTED = {"create_timestamp", "update_timestamp"}  # the database's clock, not the event's


def _tables(storage: SqliteEventLogStorage, run_id: str) -> dict[str, list[dict[str, Any]]]:
    import sqlalchemy as sa

    out = {}
    for shard, table in [(run_id, "event_logs"), ("index", "event_logs"),
                         ("index", "asset_keys"), ("index", "asset_event_tags"),
                         ("index", "asset_check_executions")]:
        with storage._connect(shard) as conn:
            reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
            columns = [c for c in reflected.columns if c.name not in _DEFAULTED]
            rows = conn.execute(sa.select(*columns).order_by(columns[0]))
            out[f"{shard}.{table}"] = [dict(r._mapping) for r in rows]
    return out


def test_a_batch_leaves_the_rows_that_storing_each_event_leaves(tmp_path: Path) -> None:
    """store_event_batch against Dagster's own store_event, event by event, on two fresh
    event logs: every row of the run shard and of the index (events, asset rows with the
    last materialization, tags, planned and judged checks) is the same."""
    run_id = str(uuid.uuid4())
    events = _asset_events(run_id)
    ours = PooledSqliteEventLogStorage(str(tmp_path / "ours"))
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    try:
        ours.store_event_batch(events)
        for event in events:
            stock.store_event(event)
        assert ours.batched == len(events) - 9  # all but the planned check, the log
        #                                   line, the lone observation, the check results
        mine, theirs = _tables(ours, run_id), _tables(stock, run_id)
        assert ours.check_batches == 1  # the six check results together, before the read
        executions = mine["index.asset_check_executions"]
        assert len(executions) == 7  # five planned (three judged), two added
        assert sorted(r["execution_status"] for r in executions) == sorted(
            ["FAILED", "PLANNED", "PLANNED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"])
        assert len(mine["index.asset_event_tags"]) == 8
        assert {r["asset_key"] for r in mine["index.asset_keys"]} >= {
            '["capture"]', '["article_metadata"]'}
        assert mine == theirs
    finally:
        ours.dispose()
        stock.dispose()
