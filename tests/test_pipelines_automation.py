"""The schedules and the new-sources sensor, evaluated against a real instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    RunRequest,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)
from pipelinekit import write_sources

from archive.core.urls import partition_key
from pipelines.assets import SOURCES_PARTITIONS
from pipelines.automation import (
    MAX_NEW_SOURCES_PER_TICK,
    daily_archive,
    new_sources,
    weekly_fixity_audit,
)
from pipelines.partitioned import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from pipelines.resources import SourcesFileResource


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """On disk: schedule contexts need a persistent instance."""
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as inst:
        yield inst


def _urls(n: int, start: int = 0) -> list[str]:
    return [f"https://news.example/{i:03d}.html" for i in range(start, start + n)]


class Daemon:
    """What the sensor daemon does with a tick: apply its partition requests, keep the
    cursor, remember the run requests."""

    def __init__(self, instance: DagsterInstance, sources_file: Path) -> None:
        self.instance = instance
        self.resource = SourcesFileResource(path=str(sources_file))
        self.cursor: str | None = None

    def tick(self) -> SensorResult:
        context = build_sensor_context(instance=self.instance, cursor=self.cursor,
                                       resources={"sources_file": self.resource})
        result = new_sources(context)
        assert isinstance(result, SensorResult)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name,
                                                 list(request.partition_keys or []))
        if result.cursor is not None:
            self.cursor = result.cursor
        return result


def _range(request: RunRequest) -> tuple[str, str]:
    return (request.tags[ASSET_PARTITION_RANGE_START_TAG],
            request.tags[ASSET_PARTITION_RANGE_END_TAG])


def test_sensor_adds_new_sources_in_bounded_batches(tmp_path: Path,
                                                    instance: DagsterInstance) -> None:
    path = write_sources(tmp_path / "sources.yaml", _urls(30))
    daemon = Daemon(instance, path)
    keys = [partition_key(u) for u in _urls(30)]

    first = daemon.tick()  # 25 of 30 at once: partitions and one run over them
    (request,) = first.run_requests or []
    (add,) = first.dynamic_partitions_requests or []
    assert add.partitions_def_name == SOURCES_PARTITIONS
    assert list(add.partition_keys or []) == keys[:MAX_NEW_SOURCES_PER_TICK]
    assert _range(request) == (keys[0], keys[MAX_NEW_SOURCES_PER_TICK - 1])
    assert request.tags["archive/trigger"] == "new-sources"
    assert json.loads(daemon.cursor or "{}")["pending"] == 5
    (seen,) = first.asset_events
    assert seen.asset_key.to_user_string() == "sources" and seen.metadata["pending"].value == 5

    second = daemon.tick()  # the file did not change, but 5 were still waiting
    (request2,) = second.run_requests or []
    assert _range(request2) == (keys[25], keys[29])
    assert request2.run_key != request.run_key
    assert instance.get_dynamic_partitions(SOURCES_PARTITIONS) == keys

    third = daemon.tick()  # nothing new: skipped without reading the sources
    assert not third.run_requests and not third.dynamic_partitions_requests
    assert isinstance(third.skip_reason, SkipReason)
    assert "has not changed" in (third.skip_reason.skip_message or "")


def test_sensor_notices_an_edit_and_ignores_a_broken_file(tmp_path: Path,
                                                          instance: DagsterInstance) -> None:
    path = write_sources(tmp_path / "sources.yaml", _urls(2))
    daemon = Daemon(instance, path)
    assert len(daemon.tick().run_requests or []) == 1

    write_sources(path, _urls(3))  # one source added by the operator
    result = daemon.tick()
    (request,) = result.run_requests or []
    new_key = partition_key(_urls(1, start=2)[0])
    assert _range(request) == (new_key, new_key)

    path.write_text("sources:\n  - url: 42\n", "utf-8")  # invalid: nothing is added
    broken = daemon.tick()
    assert not broken.run_requests and not broken.dynamic_partitions_requests
    assert "nothing added" in (broken.skip_reason.skip_message or "")
    assert len(instance.get_dynamic_partitions(SOURCES_PARTITIONS)) == 3

    write_sources(path, list(reversed(_urls(3))))  # reordered, nothing new
    assert "no new sources" in (daemon.tick().skip_reason.skip_message or "")

    path.unlink()
    gone = daemon.tick()
    assert "cannot read sources file" in (gone.skip_reason.skip_message or "")


def test_daily_schedule_captures_every_source_in_one_run(instance: DagsterInstance) -> None:
    when = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    empty = daily_archive(build_schedule_context(instance=instance,
                                                 scheduled_execution_time=when))
    assert isinstance(empty, SkipReason)

    keys = [partition_key(u) for u in _urls(40)]
    instance.add_dynamic_partitions(SOURCES_PARTITIONS, keys)
    request = daily_archive(build_schedule_context(instance=instance,
                                                   scheduled_execution_time=when))
    assert isinstance(request, RunRequest)
    assert _range(request) == (keys[0], keys[-1])  # one run for all 40 sources
    assert request.run_key == "daily:2026-01-02"
    assert daily_archive.cron_schedule == "0 3 * * *"
    assert daily_archive.job_name == "archive_job"


def test_weekly_fixity_schedule_evaluates(instance: DagsterInstance) -> None:
    context = build_schedule_context(instance=instance,
                                     scheduled_execution_time=datetime(2026, 1, 4, 4,
                                                                       tzinfo=UTC))
    data = weekly_fixity_audit.evaluate_tick(context)
    assert len(data.run_requests or []) == 1
    assert weekly_fixity_audit.job_name == "fixity_audit_job"
    assert weekly_fixity_audit.cron_schedule == "0 4 * * 0"
