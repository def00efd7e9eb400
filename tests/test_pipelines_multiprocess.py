"""Many partitions under Dagster's multiprocess executor, two runs at once over
overlapping sources: every step in its own process, all appending to one custody log.
The chain must come out contiguous and intact, and the archive must verify."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository
from pipelinekit import (
    EXAMPLE_PATHS,
    deployment_env,
    register_sources,
    write_sources,
)

from archive.api import Archive
from archive.cli.demo import serve_site
from archive.core.config import Settings
from archive.ledger.custody import check_chain
from archive.ledger.db import read
from pipelines.partitioned import range_tags

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
# Step processes fork from a server that has already imported the definitions: the same
# multiprocess executor, without paying for a fresh interpreter per step.
FORKSERVER = {"execution": {"config": {"multiprocess": {"start_method": {"forkserver": {
    "preload_modules": ["pipelines.definitions"]}}}}}}


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A persistent instance: the multiprocess executor's step processes report to it."""
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as inst:
        yield inst


def test_many_partitions_multiprocess_keep_the_custody_chain(
        tmp_path: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_site(0) as site:
        pages = [p for p in EXAMPLE_PATHS if p != "/latest"]  # its redirect ignores queries
        urls = [f"{site}{path}?copy={i}" for i in range(8) for path in pages]
        env = deployment_env(tmp_path / "home", write_sources(tmp_path / "s.yaml", urls,
                                                              allow_private_networks=True))
        for name, value in env.items():  # step processes load the definitions from env
            monkeypatch.setenv(name, value)
        keys = register_sources(env, instance)
        assert len(keys) == 24
        job = ReconstructableRepository.for_module(
            "pipelines.definitions", "defs", working_directory=str(ROOT),
        ).get_reconstructable_job("archive_job")

        results: dict[str, tuple[bool, list[Any]]] = {}

        def run(name: str, part: list[str]) -> None:
            with execute_job(job, instance=instance, tags=range_tags(part),
                             run_config=FORKSERVER, raise_on_error=False) as result:
                results[name] = (result.success, [
                    (e.event_type, e.step_key, e.pid, e.message) for e in result.all_events])

        threads = [threading.Thread(target=run, args=("a", keys[:16])),
                   threading.Thread(target=run, args=("b", keys[8:]))]  # 8 sources overlap
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)

    for name in ("a", "b"):
        success, events = results[name]
        failures = [e for e in events if e[0] == DagsterEventType.STEP_FAILURE]
        assert success, (name, failures)
        starts = [e for e in events if e[0] == DagsterEventType.STEP_START]
        # one capture share (one step) for 16 sources on one host
        assert [s[1] for s in starts].count("capture.capture_share[0]") == 1
        assert not [s for s in starts if s[1] == "capture.capture_share[1]"]
        assert len({s[2] for s in starts}) == len(starts) > 1  # each step its own process

    with Archive.open(Settings.from_env(env)) as arc:
        with read(arc.engine) as conn:
            count, problems = check_chain(conn)
        report = arc.verify()
        captures = arc.list_captures()
    assert problems == [], problems
    assert len(captures) == 32 and count >= 2 * len(captures)
    assert report.events == count
    # Both runs may extract metadata of one capture at once: the loser's file must still
    # be recorded (with a duplicate event), never left untracked.
    assert report.problems == [], [p.message for p in report.problems]
