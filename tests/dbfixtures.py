"""Database fixtures: a fresh SQLite file, or a fresh PostgreSQL schema, per test.

PostgreSQL comes from ARCHIVE_TEST_POSTGRES_URL (scripts/test sets it). When the server
is unreachable the PostgreSQL tests skip with the reason, except under CI=true, where
they fail: CI must never pass by skipping the database it promises to test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import require
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("ARCHIVE_TEST_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/test")


def _pg_admin_url() -> str:
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)


def _pg_unavailable() -> str | None:
    try:
        eng = create_engine(_pg_admin_url(), connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} is unreachable: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def pg_available() -> None:
    require(_pg_unavailable())


@pytest.fixture
def pg_url(pg_available: None) -> Iterator[str]:
    """A URL whose search_path is a brand-new schema, dropped after the test."""
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(_pg_admin_url())
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_schema(pg_available: None) -> Iterator[Callable[[], str]]:
    """Make fresh schemas (each a URL whose search_path is that schema); drop them after."""
    admin = create_engine(_pg_admin_url())
    made: list[str] = []

    def make() -> str:
        schema = "t_" + uuid.uuid4().hex[:12]
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    yield make
    with admin.begin() as c:
        for schema in made:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'custody.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'custody.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url
