"""The Dagster pipeline end to end: N sources through one archive_job run (capture,
metadata, checkpoint, catalogue, with every check) on the embedded default instance
(SQLite under a fresh DAGSTER_HOME with the repository's dagster.yaml), wall time.

Run in its own process: ``python -m bench.pipeline --base URL --pages N --home DIR
[--prefill M] [--per-host P]``; prints one JSON line. ``--prefill M`` first fills the
archive with M generated articles with their metadata and a checkpoint
(``bench.serve.build``): the daily run on an archive that has aged, not a fresh one.

The capture step runs with the product's settings but one: every source is on the one
loopback host, where a daily run's sources are spread over many outlets, so the per-host
limit (``ARCHIVE_PER_HOST``, 1 by default) is lifted to ``--per-host`` (default 4, the
step's default number of fetches at once, ``ARCHIVE_CAPTURE_CONCURRENCY``): the step may
fetch as it would from four hosts or more. With the default limit of 1 the one host
would get one fetch at a time from one worker process, which no run over many outlets
does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench import corpus

ROOT = Path(__file__).resolve().parents[1]
PER_HOST = 4
"""The capture step's default fetches at once (``ARCHIVE_CAPTURE_CONCURRENCY``)."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--per-host", type=int, default=PER_HOST)
    parser.add_argument("--prefill", type=int, default=0)
    args = parser.parse_args()
    home = Path(args.home)
    prefill = None
    if args.prefill:
        from bench.serve import build

        prefill = build(home / "archive", args.prefill)
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    for candidate in (ROOT / "deploy" / "dagster.yaml", ROOT / "dagster.yaml"):
        if candidate.exists():  # the repository's embedded-default instance settings
            shutil.copy(candidate, dagster_home / "dagster.yaml")
            out_instance = str(candidate.relative_to(ROOT))
            break
    else:
        out_instance = "Dagster defaults (no dagster.yaml in the repository)"
    sources = home / "sources.yaml"
    sources.write_text(
        "sources:\n"
        + "".join(
            f"  - url: {args.base}{corpus.path(i)}\n    allow_private_networks: true\n"
            for i in range(args.pages)
        ),
        "utf-8",
    )
    os.environ.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "ARCHIVE_HOME": str(home / "archive"),
            "ARCHIVE_SOURCES": str(sources),
            "ARCHIVE_OPERATOR": "bench",
            "ARCHIVE_PER_HOST": str(args.per_host),
            "ARCHIVE_RETRY_DELAY": "1",
        }
    )
    os.environ.pop("ARCHIVE_DATABASE_URL", None)
    from dagster import DagsterInstance, materialize

    from pipelines.assets import source_partitions
    from pipelines.assets import sources as sources_asset
    from pipelines.definitions import defs
    from pipelines.partitioned import range_tags

    out: dict[str, Any] = {"pages": args.pages, "instance": out_instance, "prefill": prefill,
                           "per_host": args.per_host}
    with DagsterInstance.get() as instance:
        start = time.perf_counter()
        reg = materialize([sources_asset], instance=instance, resources=defs.resources)  # type: ignore[arg-type]
        out["register_seconds"] = time.perf_counter() - start
        if not reg.success:
            raise SystemExit("registering the sources failed")
        keys = list(instance.get_dynamic_partitions(source_partitions.name))
        job = defs.resolve_job_def("archive_job")
        start = time.perf_counter()
        result = job.execute_in_process(
            instance=instance, tags=range_tags(keys), raise_on_error=False
        )
        out["seconds"] = time.perf_counter() - start
        out["success"] = result.success
        steps = {}
        for ev in result.all_events:
            if ev.event_type_value == "STEP_SUCCESS" and ev.step_key:
                steps[ev.step_key] = ev.event_specific_data.duration_ms / 1000  # type: ignore[union-attr]
        out["step_seconds"] = steps
        out["partitions"] = len(keys)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
