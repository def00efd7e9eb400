"""The archive job on dagster-celery: a real broker (our own redis-server), two Celery
workers, Dagster's instance and the custody log on PostgreSQL, the WARCs in one object
store (SeaweedFS, scripts/objectstore). The capture is fanned out in shares (one step
each, every host in one share); both workers must capture, every source exactly once,
into one custody chain and one bucket that verify."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
from celerykit import (
    ROOT,
    celery_workers,
    dagster_home,
    redis_missing,
    redis_server,
    worker_of_steps,
)
from dagster import DagsterInstance, DagsterRunStatus
from helpers import require
from pipelinekit import deployment_env, register_sources, write_sources
from servers import article_html
from storefixtures import ObjectStore

from archive.api import Archive
from archive.cli.demo import serve_site
from archive.core.config import Settings
from archive.ledger.custody import check_chain
from archive.ledger.db import read
from pipelines.partitioned import range_tags

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")  # four hosts, four shares
PAGES = 10  # per host: 40 captures, past archive.metadata.store's _MIN_PARALLEL (32)


def test_archive_job_on_two_celery_workers_keeps_one_custody_chain(
        tmp_path: Path, pg_schema: Callable[[], str], monkeypatch: pytest.MonkeyPatch,
        objectstore: ObjectStore) -> None:
    require(redis_missing())
    site = tmp_path / "site"  # distinct articles: metadata is extracted on worker processes
    site.mkdir()
    for h in range(len(HOSTS)):
        for i in range(PAGES):
            (site / f"h{h}-{i}.html").write_text(article_html(
                title=f"Harbour story {i} from host {h}", url=f"https://news.example/{h}/{i}"),
                "utf-8")
    with ExitStack() as stack:
        broker = stack.enter_context(redis_server(tmp_path / "redis"))
        bases = [stack.enter_context(serve_site(0, root=site, host=h)) for h in HOSTS]
        urls = [f"{base}/h{h}-{i}.html" for h, base in enumerate(bases) for i in range(PAGES)]
        home = dagster_home(tmp_path / "dagster")
        env = deployment_env(
            tmp_path / "home", write_sources(tmp_path / "s.yaml", urls,
                                             allow_private_networks=True),
            ARCHIVE_DATABASE_URL=pg_schema(), ARCHIVE_CAPTURE_SHARES=str(len(HOSTS)),
            ARCHIVE_PROCESSES="2",  # ≥ 32 captures: extraction starts its own processes
            ARCHIVE_DAGSTER_EXECUTOR="celery",
            DAGSTER_CELERY_BROKER_URL=f"{broker}/0", DAGSTER_CELERY_BACKEND_URL=f"{broker}/1",
            DAGSTER_HOME=str(home),
            # one object store for every worker (its AWS_* settings are in os.environ)
            ARCHIVE_STORE_URL=f"s3://{objectstore.bucket}/celery-{secrets.token_hex(4)}",
            # Dagster's own tables; dagster-postgres speaks psycopg2
            DAGSTER_POSTGRES_URL=pg_schema().replace("postgresql://", "postgresql+psycopg2://",
                                                     1))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        proc_env = {**os.environ, **env}
        with DagsterInstance.get() as instance:
            keys = register_sources(env, instance)
        assert len(keys) == len(urls) == len(HOSTS) * PAGES

        nodes = stack.enter_context(celery_workers(["w1", "w2"], proc_env, tmp_path / "logs"))
        assert len(nodes) == 2
        # The run worker, as the daemon would start it: the run's steps go to the broker.
        done = subprocess.run(
            ["dagster", "job", "execute", "-m", "pipelines.definitions", "-j", "archive_job",
             "--tags", json.dumps(range_tags(keys))],
            cwd=ROOT, env=proc_env, capture_output=True, text=True, timeout=600)

    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        assert run.status == DagsterRunStatus.SUCCESS, done.stdout[-4000:] + done.stderr[-4000:]
        workers = worker_of_steps(instance, run.run_id)
    shares = {k: w for k, w in workers.items() if k.startswith("capture.capture_share[")}
    assert len(shares) == len(HOSTS), workers  # the capture fanned out: one step per share
    assert set(shares.values()) == set(nodes), shares  # and both workers captured
    assert {"capture.capture_report", "article_metadata", "custody_checkpoint",
            "catalog"} <= set(workers)  # every asset's step ran on a worker

    with Archive.open(Settings.from_env(env)) as arc:
        assert arc.engine.dialect.name == "postgresql"
        with read(arc.engine) as conn:
            count, problems = check_chain(conn)
        report = arc.verify()
        captures = arc.list_captures()
        stored = set(arc.store.iter_files())
        assert arc.store.locate(captures[0].warc_file).startswith("s3://")
    assert problems == [], problems
    assert {c.warc_file for c in captures} <= stored  # every capture's WARC is an object
    assert not list((tmp_path / "home").rglob("*.warc.gz"))  # and none stayed on disk
    per_url = Counter(c.url for c in captures)
    assert set(per_url) == set(urls) and set(per_url.values()) == {1}  # each source once
    assert report.events == count and report.problems == [], [
        p.message for p in report.problems]
