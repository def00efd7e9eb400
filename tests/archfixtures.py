"""Fixtures that open a real archive (WARC store + custody DB) in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archive.api import Archive
from archive.core.config import Settings


def make_settings(home: Path, db_url: str | None = None, **fetch: Any) -> Settings:
    s = Settings.from_env({"ARCHIVE_HOME": str(home),
                           **({"ARCHIVE_DATABASE_URL": db_url} if db_url else {})})
    s = replace(s, hostname="testhost", operator="tester")
    return s.with_fetch(**fetch) if fetch else s


@pytest.fixture
def archive_factory(tmp_path: Path) -> Iterator[Callable[..., Archive]]:
    opened: list[Archive] = []

    def make(*, db_url: str | None = None, home: Path | None = None, hostname: str = "testhost",
             operator: str = "tester", fetch: dict[str, Any] | None = None,
             **kwargs: Any) -> Archive:
        settings = make_settings(home or tmp_path / "home", db_url, **(fetch or {}))
        settings = replace(settings, hostname=hostname, operator=operator)
        arc = Archive.open(settings, **kwargs)
        opened.append(arc)
        return arc

    yield make
    for a in opened:
        a.close()


@pytest.fixture
def arc(archive_factory: Callable[..., Archive], db_url: str) -> Archive:
    """An archive on each database (SQLite, PostgreSQL) that allows loopback targets."""
    return archive_factory(db_url=db_url, fetch={"allow_private_networks": True,
                                                 "deadline": 10.0})
