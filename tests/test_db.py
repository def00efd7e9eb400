"""Migrations: they build the schema the code expects, on both databases, concurrently."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys

from sqlalchemy import inspect

from archive.ledger.db import (
    SCHEMA_HEAD,
    current_revision,
    head_revision,
    make_engine,
    open_database,
)
from archive.ledger.tables import metadata


def test_migrations_create_the_tables_the_code_uses(db_url: str) -> None:
    engine = open_database(db_url)
    insp = inspect(engine)
    for table in metadata.sorted_tables:
        cols = {c["name"] for c in insp.get_columns(table.name)}
        assert cols == {c.name for c in table.columns}, table.name
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def _open(url: str) -> str | None:
    engine = open_database(url)
    rev = current_revision(engine)
    engine.dispose()
    return rev


def test_many_processes_opening_a_new_database_at_once_migrate_it_once(db_url: str) -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        revs = pool.map(_open, [db_url] * 4)
    assert revs == [head_revision()] * 4
    engine = make_engine(db_url)
    with engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM log_head").scalar() == 1
    engine.dispose()


def test_the_schema_head_the_code_knows_is_alembics_head() -> None:
    """SCHEMA_HEAD spares every process the alembic import; a new migration must move it."""
    assert head_revision() == SCHEMA_HEAD


def test_opening_a_current_database_does_not_import_alembic(sqlite_url: str) -> None:
    open_database(sqlite_url).dispose()  # migrated here, in this process
    probe = ("import sys; from archive.api import Archive; from archive.ledger.db import "
             f"open_database; open_database({sqlite_url!r}).dispose(); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
