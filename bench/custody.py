"""Custody log appends per second, single (one event per transaction) and batched, on
SQLite (a fresh file) and PostgreSQL (a fresh schema, dropped after)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import stats

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _events(n: int, offset: int) -> list[Any]:
    from archive.ledger.custody import CAPTURE, NewEvent

    out = []
    for i in range(offset, offset + n):
        h = f"{i:064x}"
        out.append(
            NewEvent(
                CAPTURE,
                ["sha256:" + h, "sha256:" + h[::-1]],
                "success",
                {
                    "url": f"https://news.example.org/a/{i}.html",
                    "status": "complete",
                    "http_status": 200,
                    "warc_file": f"2024/03/04/ARCHIVE-{i}.warc.gz",
                    "problems": [],
                },
            )
        )
    return out


def _measure(url: str, single: int, batches: int, batch: int, runs: int) -> dict[str, Any]:
    from archive.ledger.custody import Agent, CustodyLog
    from archive.ledger.db import open_database, run_write

    engine = open_database(url)
    log = CustodyLog()
    agent = Agent(host="bench", run_id="bench")
    single_rates, batched_rates = [], []
    seq = 0
    try:
        for _ in range(runs):
            evs = _events(single, seq)
            seq += single
            start = time.perf_counter()
            for ev in evs:
                run_write(engine, lambda conn, ev=ev: log.append(conn, [ev], agent))
            single_rates.append(single / (time.perf_counter() - start))
            groups = [_events(batch, seq + k * batch) for k in range(batches)]
            seq += batches * batch
            start = time.perf_counter()
            for g in groups:
                run_write(engine, lambda conn, g=g: log.append(conn, g, agent))
            batched_rates.append(batches * batch / (time.perf_counter() - start))
    finally:
        engine.dispose()
    return {
        "single_appends_s": stats(single_rates),
        "batched_appends_s": stats(batched_rates),
        "single_events_per_run": single,
        "batch_size": batch,
        "batches_per_run": batches,
        "events_total": seq,
    }


def run(
    tmp: Path, runs: int, single: int, batches: int, batch: int, pg_url: str, log: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["sqlite"] = _measure(
        f"sqlite:///{tmp / 'custody-bench.sqlite'}", single, batches, batch, runs
    )
    log(
        f"  sqlite: single {out['sqlite']['single_appends_s']['median']:.0f}/s, batched "
        f"{out['sqlite']['batched_appends_s']['median']:.0f}/s"
    )
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(
            pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
            connect_args={"connect_timeout": 3},
        )
        schema = "bench_" + uuid.uuid4().hex[:12]
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is not there: say so, do not fail the bench
        out["postgresql"] = {
            "error": f"PostgreSQL at {pg_url} unavailable: {str(exc).splitlines()[0]}"
        }
        log(f"  postgresql: {out['postgresql']['error']}")
        return out
    try:
        sep = "&" if "?" in pg_url else "?"
        out["postgresql"] = _measure(
            f"{pg_url}{sep}options=-csearch_path%3D{schema}", single, batches, batch, runs
        )
        out["postgresql"]["schema"] = f"{schema} (fresh, dropped after)"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    log(
        f"  postgresql: single {out['postgresql']['single_appends_s']['median']:.0f}/s, "
        f"batched {out['postgresql']['batched_appends_s']['median']:.0f}/s"
    )
    return out
