"""The shared deployment: Dagster's instance on PostgreSQL (deploy/dagster-postgres.yaml)
and the custody database on PostgreSQL, each in a fresh schema dropped afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize
from dagster._core.instance.ref import InstanceRef
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
from pipelines.checks import ALL_CHECKS
from pipelines.resources import resources_from_env

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
            keys = register_sources(env, instance)
            single = materialize([*ASSETS, *ALL_CHECKS], instance=instance, partition_key=key,
                                 resources=resources_from_env(env),
                                 selection=AssetSelection.assets(capture, article_metadata))
            assert single.success
            ranged = run_archive_job(definitions(env), instance, keys)
            assert ranged.success
            assert all(e.passed for e in check_evaluations(ranged).values())

    # A second process would see the same history: read it back through a new instance.
    with _pg_instance(tmp_path / "dagster") as again:
        cap = partition_meta(again, capture.key, key)
        assert cap["status"] == "revisit" and cap["change"] == "unchanged"
        meta = partition_meta(again, article_metadata.key, key)
        assert meta["title"] == "Harbour town votes to restore its lighthouse"
        assert set(again.get_dynamic_partitions("sources")) == set(keys)

    with Archive.open(Settings.from_env(env)) as arc:
        assert arc.engine.dialect.name == "postgresql"
        with read(arc.engine) as conn:
            count, problems = check_chain(conn)
        assert len(arc.list_captures()) == 5 and count > 0 and problems == []
