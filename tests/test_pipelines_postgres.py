"""The shared deployment: Dagster's instance on PostgreSQL (deploy/dagster-postgres.yaml)
and the custody database on PostgreSQL, each in a fresh schema dropped afterwards."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetCheckKey, AssetSelection, DagsterInstance, materialize
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster_postgres.event_log import PostgresEventLogStorage
from pipelinekit import (
    ASSETS,
    check_evaluations,
    definitions,
    deployment_env,
    example_sources,
    partition_meta,
    register_sources,
    run_archive_job,
)

from archive.api import Archive
from archive.cli.demo import serve_site
from archive.core.config import Settings
from archive.core.urls import partition_key
from archive.ledger.custody import check_chain
from archive.ledger.db import read
from pipelines.assets import article_metadata, capture
from pipelines.checks import (
    ALL_CHECKS,
    CAPTURE_COMPLETE,
    CUSTODY_CONSISTENT,
    HASHES_MATCH_DB,
    METADATA_SCHEMA_VALID,
    WARC_VALID,
)
from pipelines.resources import resources_from_env
from pipelines.storage_postgres import PooledPostgresEventLogStorage

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parent.parent
ARTICLE = "/2024/03/04/harbour-lighthouse-vote.html"


def _pg_instance(home: Path) -> DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def test_capture_and_metadata_on_postgres(tmp_path: Path, pg_schema: Callable[[], str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Dagster's own tables; dagster-postgres speaks psycopg2 (see deploy/dagster-postgres.yaml)
    monkeypatch.setenv("DAGSTER_POSTGRES_URL",
                       pg_schema().replace("postgresql://", "postgresql+psycopg2://", 1))
    custody_url = pg_schema()                                 # the archive's, elsewhere
    with serve_site(0) as site:
        env = deployment_env(tmp_path / "home", example_sources(site, tmp_path / "s.yaml"),
                             ARCHIVE_DATABASE_URL=custody_url)
        key = partition_key(site + ARTICLE)
        with _pg_instance(tmp_path / "dagster") as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
            keys = register_sources(env, instance)
            single = materialize([*ASSETS, *ALL_CHECKS], instance=instance, partition_key=key,
                                 resources=resources_from_env(env),
                                 selection=AssetSelection.assets(capture, article_metadata))
            assert single.success
            storage = instance.event_log_storage
            assert isinstance(storage, PooledPostgresEventLogStorage)
            batched = storage.batched
            ranged = run_archive_job(definitions(env), instance, keys)
            assert ranged.success
            # The range steps' materializations (and the planned ones) came in batches.
            assert storage.batched - batched >= 4 * len(keys)
            assert all(e.passed for e in check_evaluations(ranged).values())

    # A second process would see the same history: read it back through a new instance.
    with _pg_instance(tmp_path / "dagster") as again:
        cap = partition_meta(again, capture.key, key)
        assert cap["status"] == "revisit" and cap["change"] == "unchanged"
        meta = partition_meta(again, article_metadata.key, key)
        assert meta["title"] == "Harbour town votes to restore its lighthouse"
        assert set(again.get_dynamic_partitions("sources")) == set(keys)
        # What the UI shows per partition, read by Dagster's own code: every check of the
        # range run (its evaluations were held and written together) passed.
        checks = [AssetCheckKey(capture.key, n) for n in
                  (WARC_VALID, HASHES_MATCH_DB, CUSTODY_CONSISTENT, CAPTURE_COMPLETE)]
        checks.append(AssetCheckKey(article_metadata.key, METADATA_SCHEMA_VALID))
        seen = {(i.check_key.name, i.partition_key): i
                for i in again.event_log_storage.get_asset_check_partition_info(checks)}
        for check in checks:
            for k in keys:
                info = seen[(check.name, k)]
                assert info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED
                assert info.latest_planned_run_id == ranged.run_id

    with Archive.open(Settings.from_env(env)) as arc:
        assert arc.engine.dialect.name == "postgresql"
        with read(arc.engine) as conn:
            count, problems = check_chain(conn)
        assert len(arc.list_captures()) == 5 and count > 0 and problems == []


def test_held_check_results_leave_the_rows_dagsters_own_storage_leaves(
        pg_schema: Callable[[], str]) -> None:
    """The same events (planned materializations and checks, a log line, tagged
    materializations, an observation, check results planned and not, one judged twice)
    through Dagster's PostgresEventLogStorage and ours, each in a fresh schema: every row
    of the event log and the index is the same, and ours wrote the six check results in
    one transaction."""
    from test_pipelines_storage import _asset_events

    run_id = str(uuid.uuid4())
    events = _asset_events(run_id)
    url = pg_schema().replace("postgresql://", "postgresql+psycopg2://", 1)
    stock_url = pg_schema().replace("postgresql://", "postgresql+psycopg2://", 1)
    ours, stock = PooledPostgresEventLogStorage(url), PostgresEventLogStorage(stock_url)
    try:
        for event in events:  # back to back: the results are held well within 0.2 s
            ours.store_event(event)
        mine = _pg_tables(ours)
        assert ours.check_batches == 1
        for event in events:
            stock.store_event(event)
        theirs = _pg_tables(stock)
        executions = mine["asset_check_executions"]
        assert sorted(r["execution_status"] for r in executions) == sorted(
            ["FAILED", "PLANNED", "PLANNED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"])
        assert len(mine["event_logs"]) == len(events)
        assert mine == theirs
        assert ours._engine.pool.checkedin() == 1  # one connection kept between events
        ours.dispose()
        assert ours._engine.pool.checkedin() == 0  # and released with the storage
    finally:
        ours.dispose()
        stock.dispose()


_DEFAULTED = {"create_timestamp", "update_timestamp"}  # the database's clock


def _pg_tables(storage: PostgresEventLogStorage) -> dict[str, list[dict[str, Any]]]:
    import sqlalchemy as sa

    out = {}
    with storage.index_connection() as conn:
        for table in ("event_logs", "asset_keys", "asset_event_tags", "asset_check_executions"):
            reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
            columns = [c for c in reflected.columns if c.name not in _DEFAULTED]
            rows = conn.execute(sa.select(*columns).order_by(columns[0]))
            out[table] = [dict(r._mapping) for r in rows]
    return out
