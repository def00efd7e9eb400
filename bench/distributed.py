"""The archive job on dagster-celery against the single-process run, same sources.

``python -m bench.distributed [--pages 1000] [--workers 2] [--rounds 1]``

Both contenders run ``archive_job`` over the same N sources (the bench corpus served by
``bench.server`` on 127.0.0.1 and 127.0.0.2, half each: two hosts, so two shares), with
Dagster's instance and the custody log on PostgreSQL (fresh schemas each run,
ARCHIVE_TEST_POSTGRES_URL), started as the daemon would (``dagster job execute``):

- single: the in-process executor, one capture step (``ARCHIVE_CAPTURE_SHARES=1``);
- celery: ``ARCHIVE_DAGSTER_EXECUTOR=celery`` with ``--workers`` workers (started before
  the clock starts) and one share per worker, our own redis-server as the broker.

Each step's fetches: ``ARCHIVE_CAPTURE_CONCURRENCY`` 8, per host 8 (the bench's hosts are
loopback). Rounds go single, celery, celery, single, ... (ABBA); prints the run's wall
time (Dagster's start to end) and the capture steps' seconds, median and range. Uses the
deployment kit of the celery test (tests/celerykit.py, one copy). Figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench import corpus
from bench.common import Server, ratio, stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the celery test's deployment kit

from celerykit import (  # noqa: E402
    celery_workers,
    dagster_home,
    redis_missing,
    redis_server,
)

PG_URL = os.environ.get("ARCHIVE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOSTS = ("127.0.0.1", "127.0.0.2")


@contextmanager
def _schemas() -> Iterator[list[str]]:
    """Two fresh schemas (Dagster's tables, the custody log), dropped afterwards."""
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    names = ["b_" + uuid.uuid4().hex[:12] for _ in range(2)]
    with admin.begin() as c:
        for n in names:
            c.execute(text(f'CREATE SCHEMA "{n}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield [f"{PG_URL}{sep}options=-csearch_path%3D{n}" for n in names]
    finally:
        with admin.begin() as c:
            for n in names:
                c.execute(text(f'DROP SCHEMA "{n}" CASCADE'))
        admin.dispose()


def _run(kind: str, urls: list[str], workers: int, tmp: Path) -> dict[str, Any]:
    from dagster import DagsterInstance, materialize

    from pipelines.capture import sources as sources_asset
    from pipelines.partitioned import range_tags
    from pipelines.resources import resources_from_env

    with ExitStack() as stack:
        dagster_url, custody_url = stack.enter_context(_schemas())
        src = tmp / "sources.yaml"
        src.write_text("sources:\n" + "".join(
            f"  - url: {u}\n    allow_private_networks: true\n" for u in urls), "utf-8")
        env = {"DAGSTER_HOME": str(dagster_home(tmp / "dagster")),
               "DAGSTER_POSTGRES_URL": dagster_url.replace("postgresql://",
                                                           "postgresql+psycopg2://", 1),
               "ARCHIVE_HOME": str(tmp / "archive"), "ARCHIVE_SOURCES": str(src),
               "ARCHIVE_DATABASE_URL": custody_url, "ARCHIVE_OPERATOR": "bench",
               "ARCHIVE_CAPTURE_CONCURRENCY": "8", "ARCHIVE_PER_HOST": "8",
               "ARCHIVE_RETRY_DELAY": "1", "ARCHIVE_ALLOW_PRIVATE_NETWORKS": "1",
               "ARCHIVE_CAPTURE_SHARES": "1"}
        config: list[str] = []
        if kind == "celery":
            broker = stack.enter_context(redis_server(tmp / "redis"))
            env.update({"ARCHIVE_DAGSTER_EXECUTOR": "celery",
                        "ARCHIVE_CAPTURE_SHARES": str(workers),
                        "DAGSTER_CELERY_BROKER_URL": f"{broker}/0",
                        "DAGSTER_CELERY_BACKEND_URL": f"{broker}/1"})
        else:
            run_config = tmp / "in_process.yaml"
            run_config.write_text("execution:\n  config:\n    in_process: {}\n", "utf-8")
            config = ["-c", str(run_config)]
        for name in ("ARCHIVE_DAGSTER_EXECUTOR", "DAGSTER_CELERY_BROKER_URL",
                     "DAGSTER_CELERY_BACKEND_URL"):
            os.environ.pop(name, None)  # a celery round's, in the bench's own environment
        os.environ.update(env)
        proc_env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
        with DagsterInstance.get() as instance:
            assert materialize([sources_asset], instance=instance,
                               resources=resources_from_env(env)).success
            keys = list(instance.get_dynamic_partitions("sources"))
        if kind == "celery":
            stack.enter_context(celery_workers([f"w{i + 1}" for i in range(workers)],
                                               proc_env, tmp / "logs"))
        done = subprocess.run(
            ["dagster", "job", "execute", "-m", "pipelines.definitions", "-j", "archive_job",
             "--tags", json.dumps(range_tags(keys)), *config],
            cwd=ROOT, env=proc_env, capture_output=True, text=True, timeout=3600)
        with DagsterInstance.get() as instance:
            (run,) = instance.get_runs(limit=1)
            run_stats = instance.get_run_stats(run.run_id)
            steps = {s.step_key: round(s.end_time - s.start_time, 2)
                     for s in instance.get_run_step_stats(run.run_id)
                     if s.end_time and s.start_time}
        if not run.is_success:
            raise SystemExit(f"{kind} run failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        assert run_stats.start_time and run_stats.end_time
        return {"seconds": run_stats.end_time - run_stats.start_time,
                "capture_steps": [v for k, v in steps.items()
                                  if k.startswith("capture.capture_share")],
                "steps": steps, "sources": len(keys)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kinds", default="single,celery", help="which runs (comma list)")
    args = parser.parse_args()
    missing = redis_missing()
    if missing:
        raise SystemExit(missing)
    half = args.pages // len(HOSTS)
    results: dict[str, list[dict[str, Any]]] = {"single": [], "celery": []}
    servers = [Server(half * (i + 1), host=h) for i, h in enumerate(HOSTS)]
    try:
        # host i serves pages [i*half, (i+1)*half): distinct pages, two hosts
        urls = [servers[i].base + corpus.path(n) for i in range(len(HOSTS))
                for n in range(i * half, (i + 1) * half)]
        kinds = args.kinds.split(",")
        order = [k for r in range(args.rounds)
                 for k in (kinds if r % 2 == 0 else kinds[::-1])]
        for kind in order:
            with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
                res = _run(kind, urls, args.workers, Path(tmp))
            results[kind].append(res)
            print(f"{kind}: {res['seconds']:.1f} s, capture steps "
                  + ", ".join(f"{s:.1f}" for s in res["capture_steps"]) + " s; steps "
                  + json.dumps(res["steps"]), flush=True)
    finally:
        for s in servers:
            s.close()
    single = stats([r["seconds"] for r in results["single"]])
    celery = stats([r["seconds"] for r in results["celery"]])
    print(json.dumps({"sources": len(urls), "workers": args.workers, "rounds": args.rounds,
                      "single_seconds": single, "celery_seconds": celery,
                      "speedup_median": ratio(single["median"], celery["median"]),
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
