"""The code location loads, validates with Dagster's own CLI, and reads its environment in
one place; the instance configurations are valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, Definitions, materialize
from dagster._core.instance.ref import InstanceRef

from archive.core.packagedata import examples_dir
from archive.errors import ConfigError
from pipelines.assets import custody_checkpoint
from pipelines.executors import CELERY_SETTINGS, executor_from_env
from pipelines.resources import ArchiveResource, resources_from_env
from pipelines.storage import PooledSqliteEventLogStorage

ROOT = Path(__file__).resolve().parent.parent


def test_definitions_load() -> None:
    from pipelines.definitions import defs

    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "sources", "capture", "article_metadata", "custody_checkpoint", "catalog",
        "fixity_audit"}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert checks == {
        ("capture", "warc_valid"), ("capture", "hashes_match_db"),
        ("capture", "custody_consistent"), ("capture", "capture_complete"),
        ("article_metadata", "metadata_schema_valid"),
        ("custody_checkpoint", "custody_log_consistent"), ("fixity_audit", "fixity_clean")}
    assert graph.get(AssetKey("capture")).partitions_def is not None
    assert {j.name for j in defs.jobs or []} == {"archive_job", "fixity_audit_job"}
    assert {s.name for s in defs.schedules or []} == {"daily_archive", "weekly_fixity_audit"}
    assert {s.name for s in defs.sensors or []} == {"new_sources"}
    assert set(defs.resources or {}) == {"store", "database", "fetcher", "archive",
                                         "sources_file"}


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ARCHIVE_HOME": str(tmp_path / "a")}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
         "-w", "workspace.yaml"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All code locations passed validation" in proc.stdout + proc.stderr


def test_resources_come_from_the_environment(tmp_path: Path) -> None:
    res = resources_from_env({"ARCHIVE_HOME": str(tmp_path), "ARCHIVE_PER_HOST": "2",
                              "ARCHIVE_CAPTURE_CONCURRENCY": "8", "ARCHIVE_RETRY_DELAY": "1.5",
                              "ARCHIVE_SOURCES": "my.yaml", "ARCHIVE_OPERATOR": "ops"})
    archive = res["archive"]
    assert isinstance(archive, ArchiveResource)
    assert archive.store.home == str(tmp_path)
    assert archive.database.url == f"sqlite:///{tmp_path / 'custody.sqlite'}"
    assert (archive.fetcher.per_host, archive.fetcher.concurrency) == (2, 8)
    assert archive.fetcher.retry_delay == 1.5 and not archive.fetcher.allow_private_networks
    assert res["sources_file"].path == str(Path("my.yaml").resolve())
    settings = archive.settings(allow_private_networks=True)
    assert settings.operator == "ops" and settings.fetch.allow_private_networks

    defaults = resources_from_env({"ARCHIVE_HOME": str(tmp_path)})
    expected = (Path("sources.yaml").resolve() if Path("sources.yaml").exists()
                else examples_dir() / "sources.yaml")
    assert defaults["sources_file"].path == str(expected)

    with pytest.raises(ConfigError, match="ARCHIVE_PER_HOST"):
        resources_from_env({"ARCHIVE_PER_HOST": "many"})


def test_database_url_from_the_process_environment_is_not_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", url)
    res = resources_from_env()
    assert res["database"].url == "ARCHIVE_DATABASE_URL"  # the UI shows the name only
    with DagsterInstance.ephemeral() as instance:
        assert materialize([custody_checkpoint], instance=instance, resources=res).success
    assert (tmp_path / "elsewhere.sqlite").is_file()  # ...and the run used the value


def test_embedded_instance_config_keeps_politeness_limits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # as scripts/ui sets it
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert {"key": "archive/capture", "limit": 1} in \
            config.run_queue_config.tag_concurrency_limits
        assert instance.storage_directory().startswith(str(tmp_path))
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert instance.event_log_storage.supports_global_concurrency_limits  # pools need it
    assert (tmp_path / "history" / "runs" / "index.db").is_file()  # Dagster's usual place


def test_the_executor_comes_from_the_environment() -> None:
    assert executor_from_env({}) is None  # Dagster's multiprocess default
    assert executor_from_env({"ARCHIVE_DAGSTER_EXECUTOR": "multiprocess"}) is None
    with pytest.raises(ConfigError, match="not one of multiprocess, celery"):
        executor_from_env({"ARCHIVE_DAGSTER_EXECUTOR": "k8s"})
    with pytest.raises(ConfigError, match="needs DAGSTER_CELERY_BROKER_URL"):
        executor_from_env({"ARCHIVE_DAGSTER_EXECUTOR": "celery"})
    celery = executor_from_env({"ARCHIVE_DAGSTER_EXECUTOR": "celery",
                                "DAGSTER_CELERY_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert celery is not None and celery.name == "celery"
    # The workers' settings (deploy/celery.yaml) are the executor's: same broker and
    # backend variables, same Celery settings.
    worker = yaml.safe_load((ROOT / "deploy" / "celery.yaml").read_text("utf-8"))
    assert worker["execution"]["config"] == {
        "broker": {"env": "DAGSTER_CELERY_BROKER_URL"},
        "backend": {"env": "DAGSTER_CELERY_BACKEND_URL"},
        "config_source": CELERY_SETTINGS}


def test_the_store_url_reaches_the_library_settings(tmp_path: Path) -> None:
    res = resources_from_env({"ARCHIVE_HOME": str(tmp_path),
                              "ARCHIVE_STORE_URL": "s3://bucket/prefix"})
    assert res["archive"].store.url == "s3://bucket/prefix"
    assert resources_from_env({"ARCHIVE_HOME": str(tmp_path)})["archive"].store.url == ""


@pytest.mark.postgres
def test_celery_instance_config_lets_shares_run_side_by_side(
        tmp_path: Path, pg_schema: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "deploy" / "dagster-celery.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL",
                       pg_schema().replace("postgresql://", "postgresql+psycopg2://", 1))
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 4  # shares at once, all runs
        assert {"key": "archive/capture", "limit": 1} in \
            config.run_queue_config.tag_concurrency_limits
