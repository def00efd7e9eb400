"""Where a capture's time goes, stage by stage, on one thread (no GIL contention, so
the figures add up): fetch, prepare (decode, digests, revisit lookup, provenance),
write the WARC file (records, gzip, fsync), commit (rows and custody events), clean up.

``python -m bench.breakdown --urls F --home DIR [--batch 32]``
prints one JSON line: milliseconds per page for each stage, wall and CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Clock:
    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def time(self, name: str, fn: Any, *args: Any) -> Any:
        w, c = time.perf_counter(), _cpu()
        out = fn(*args)
        self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
        self.cpu[name] = self.cpu.get(name, 0.0) + _cpu() - c
        return out


def run(urls: list[str], home: str, batch: int) -> dict[str, Any]:
    from archive.api import Archive
    from archive.core.config import Settings
    from archive.http.fetch import Fetcher
    from archive.ledger.db import run_write

    settings = Settings.from_env(
        {"ARCHIVE_HOME": home, "ARCHIVE_ALLOW_PRIVATE_NETWORKS": "1", "ARCHIVE_OPERATOR": "bench"}
    )
    clock = _Clock()
    with Archive.open(settings) as arc:
        rec = arc.recorder
        agent = arc.agent()
        fetcher = Fetcher(settings.fetch)
        for i in range(0, len(urls), batch):
            results, prepared = [], []
            for url in urls[i : i + batch]:
                r = clock.time("fetch", fetcher.fetch, url)
                results.append(r)
                prepared.append(clock.time("prepare", rec.prepare_fetch, r, agent))
            stored, moment, written = clock.time("write_file", rec.write_file, prepared, agent)
            clock.time(
                "commit",
                run_write,
                arc.engine,
                lambda conn, s=stored, m=moment, p=prepared, w=written: rec.commit_rows(
                    conn, s, m, p, w, agent
                ),
            )
            for r in results:
                clock.time("close", r.close)
        fetcher.close()
    n = len(urls)
    return {
        "pages": n,
        "batch": batch,
        "wall_ms_per_page": {k: v / n * 1000 for k, v in clock.wall.items()},
        "cpu_ms_per_page": {k: v / n * 1000 for k, v in clock.cpu.items()},
        "total_wall_ms_per_page": sum(clock.wall.values()) / n * 1000,
        "total_cpu_ms_per_page": sum(clock.cpu.values()) / n * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    out = run(Path(args.urls).read_text("utf-8").split(), args.home, args.batch)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
