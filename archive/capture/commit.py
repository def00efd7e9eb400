"""The one commit path: a durable file, then one transaction that records it.

Every writer of the store (capture and ingest, metadata versions, imports, adoption
after a crash) first makes its WARC file durable (:class:`archive.warc.store.WarcStore`:
``.open`` name, fsync, rename, directory fsync), then opens one transaction that
inserts the file's ``warc_files`` row (here, the only place that row is written) and
the rows and custody events that refer to it. A crash in between leaves a complete
file without rows, which ``archive verify`` adopts; a row never points at a missing
file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, insert

from archive.core.timeutil import iso_utc
from archive.errors import DatabaseError
from archive.ledger.db import inserted_id, run_write
from archive.ledger.tables import warc_files
from archive.warc.store import StoredFile, WarcStore

T = TypeVar("T")


def insert_file_row(conn: Connection, stored: StoredFile, created: datetime) -> int:
    """The ``warc_files`` row of a durable file; returns its id."""
    return inserted_id(conn.execute(insert(warc_files).values(
        relpath=stored.relpath, name=stored.name, sha256=stored.sha256,
        size=stored.size, created_at=iso_utc(created))))


def commit_file(engine: Engine, store: WarcStore, stored: StoredFile,
                work: Callable[[Connection], T], *, adopt_hint: bool = True) -> T:
    """Run ``work`` (which inserts the file's row with :func:`insert_file_row` and what
    refers to it) in one write transaction, then let go of the file's lock. With
    ``adopt_hint``, a database failure says the file is stored but not recorded."""
    try:
        return run_write(engine, work)
    except DatabaseError as exc:
        if not adopt_hint:
            raise
        raise DatabaseError(
            f"{exc.message}; the WARC file {stored.relpath} is stored but not recorded: "
            "run `archive verify` to adopt it", path=stored.relpath) from exc
    finally:
        store.release(stored.relpath)


__all__ = ["commit_file", "insert_file_row"]
