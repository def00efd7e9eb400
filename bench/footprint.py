"""What one capture costs to keep: database rows and bytes, WARC bytes, custody events.

``python -m bench.footprint [--pages N] [--metadata] [--mode html|page] [--pg URL]``
captures N bench pages (html mode unless told, one process) into a fresh PostgreSQL
schema (dropped after) and a fresh store, optionally extracts their metadata, makes one
checkpoint, and prints one JSON object: per table, its rows and bytes
(``pg_total_relation_size``: heap, indexes and TOAST) divided by N, and WARC bytes per
capture. These are the figures docs/scaling.md multiplies out to 10⁶ captures a day.

PostgreSQL sizes include each table's fixed overhead (a few pages), so run with N of a
thousand or more before dividing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import start_server

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _tables(engine: Any, schema: str) -> dict[str, dict[str, int]]:
    from sqlalchemy import text

    out: dict[str, dict[str, int]] = {}
    with engine.connect() as c:
        names = [r[0] for r in c.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"),
            {"s": schema})]
        for name in names:
            # names come from pg_tables, not from input
            rows = c.execute(text(f'SELECT count(*) FROM "{schema}"."{name}"')  # noqa: S608
                             ).scalar_one()
            size = c.execute(text(f"SELECT pg_total_relation_size('\"{schema}\".\"{name}\"')"
                                  )).scalar_one()
            out[name] = {"rows": int(rows), "bytes": int(size)}
    return out


def measure(pages: int, pg_url: str, metadata: bool, mode: str) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    from archive.api import Archive
    from archive.core.config import Settings

    admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    schema = "bench_" + uuid.uuid4().hex[:12]
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    tmp = Path(tempfile.mkdtemp(prefix="footprint-"))
    server = start_server(pages, tmp)
    try:
        settings = Settings.from_env({
            "ARCHIVE_HOME": str(tmp / "home"), "ARCHIVE_ALLOW_PRIVATE_NETWORKS": "1",
            "ARCHIVE_OPERATOR": "bench",
            "ARCHIVE_DATABASE_URL": f"{pg_url}{sep}options=-csearch_path%3D{schema}",
        })
        with Archive.open(settings) as arc:
            start = time.perf_counter()
            outcomes = arc.capture(server.urls(pages), per_host=4, concurrency=1, mode=mode)
            seconds = time.perf_counter() - start
            ok = [o for o in outcomes if o.ok]
            after_capture = _tables(admin, schema)
            if metadata:
                arc.extract_metadata_many([o.capture_id for o in ok])
            arc.checkpoint()
        after_all = _tables(admin, schema)
        warcs = list((tmp / "home" / "warcs").rglob("*.warc.gz"))
        warc_bytes = sum(p.stat().st_size for p in warcs)
    finally:
        server.close()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    n = max(len(ok), 1)
    return {
        "pages": pages, "mode": mode, "captured": len(ok), "capture_seconds": seconds,
        "warc_files": len(warcs), "warc_bytes_per_capture": warc_bytes / n,
        "db_bytes_per_capture": sum(t["bytes"] for t in after_all.values()) / n,
        "db_bytes_per_capture_without_metadata":
            sum(t["bytes"] for t in after_capture.values()) / n,
        "tables": {name: {"rows_per_capture": t["rows"] / n, "bytes_per_capture": t["bytes"] / n}
                   for name, t in after_all.items() if t["rows"]},
        "schema": f"{schema} (fresh, dropped after)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--metadata", action="store_true", help="extract metadata too")
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--mode", default="html", choices=("html", "page"))
    args = parser.parse_args()
    out = measure(args.pages, args.pg, args.metadata, args.mode)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
