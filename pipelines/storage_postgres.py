"""Dagster's PostgreSQL storage for the shared deployment, with the event log's
connections kept open and check evaluations written together.

``dagster-postgres`` opens a new database connection for every statement group of the
event log (its engine has no pool, so that an instance holds no connection it is not
using): a check evaluation takes two connections and two commits, about 31 ms on the
bench machine, so a 1,000-source run's 5,000 evaluations spent two and a half minutes
there. This storage is Dagster's own (same tables, same configuration as
``storage: postgres:``) with two changes in its event log:

- one small pool per process (one connection kept, two more while busy, checked before
  use and renewed hourly), as ``dagster-webserver`` already gets from
  ``optimize_for_webserver``: 8 ms an evaluation;
- check evaluations held and written together (:mod:`pipelines.heldchecks`), with the
  ``NOTIFY`` Dagster sends for each event: under 1 ms an evaluation.

And like the embedded storage it sets ``DAGSTER_EVENT_BATCH_SIZE`` (unless set), so that
Dagster hands a step's materializations over together; ``dagster-postgres`` writes those
in one statement, but only when asked.

A forked child (the archive's worker processes fork from a step) never uses its
parent's connections: it opens its own pool, and leaves the inherited one alone.

deploy/dagster-postgres.yaml selects it::

    storage:
      custom:
        module: pipelines.storage_postgres
        class: PostgresStorage
        config:
          postgres_url: {env: DAGSTER_POSTGRES_URL}
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy.pool as db_pool
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log.event_log import CHANNEL_NAME, PostgresEventLogStorage
from dagster_postgres.storage import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_connection,
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy import Connection, Engine, text

from pipelines.heldchecks import HeldCheckEvaluations

HELD_BATCH = 1000
"""Check evaluations held before they are written, at most."""

HELD_INTERVAL = 0.2
"""Seconds after the first held evaluation when the next one writes them all."""

_INHERITED: list[Engine] = []  # a forked child's parent's engines: never used, never closed


class PooledPostgresEventLogStorage(HeldCheckEvaluations, PostgresEventLogStorage):
    """``PostgresEventLogStorage`` with a pool and held check evaluations."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None,
                 ) -> None:
        self._init_held(HELD_BATCH, HELD_INTERVAL)
        self.batched = 0  # events Dagster handed over in batches (tests count them)
        self._engine_pid = os.getpid()  # Dagster's engine (no pool) creates the tables
        super().__init__(postgres_url, should_autocreate_tables, inst_data,
                         token_provider=token_provider)
        self._pooled(os.getpid())

    def _pooled(self, pid: int) -> None:
        self._engine = create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT",
            poolclass=db_pool.QueuePool, pool_size=1, max_overflow=2, pool_pre_ping=True,
            pool_recycle=3600)
        self._engine_pid = pid

    def _connect(self) -> Any:
        return self._connection()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._engine_pid != os.getpid():
            _INHERITED.append(self._engine)
            self._pooled(os.getpid())
        self._flush_held()  # what this process wrote is there before anything reads it
        with create_pg_connection(self._engine) as conn:
            yield conn

    def store_event(self, event: EventLogEntry) -> None:
        if not self._hold(event):
            super().store_event(event)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        self.batched += len(events)
        super().store_event_batch(events)

    def _store_checks(self, events: list[EventLogEntry]) -> None:
        """The evaluations' rows, their ``NOTIFY`` s and their execution rows
        (:meth:`HeldCheckEvaluations._judge`), in one transaction."""
        rows = [self._event_to_row(event) for event in events]
        with self.index_transaction() as conn:
            ids = list(conn.execute(
                SqlEventLogStorageTable.insert().returning(
                    SqlEventLogStorageTable.c.id, sort_by_parameter_order=True),
                rows).scalars())
            conn.execute(text(f"NOTIFY {CHANNEL_NAME}, :notify_id"),
                         [{"notify_id": f"{event.run_id}_{event_id}"}
                          for event, event_id in zip(events, ids, strict=True)])
            self._judge(conn, events, rows, ids)

    def dispose(self) -> None:
        self._flush_held()
        super().dispose()
        if self._engine_pid == os.getpid():
            self._engine.dispose()  # the pool's connection (a forked child's stay its parent's)


class PostgresStorage(DagsterPostgresStorage):
    """Dagster's PostgreSQL storage (runs, schedules and the event log in one database)
    with :class:`PooledPostgresEventLogStorage` as its event log."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None,
                 ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data,
                         token_provider=token_provider)
        # Dagster reads it at each event: a step's materializations then reach the event
        # log together (dagster-postgres writes a batch in one statement), as on SQLite.
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(HELD_BATCH))
        self._event_log_storage = PooledPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> PostgresStorage:
        return cls(pg_url_from_config(config_value),
                   config_value.get("should_autocreate_tables", True), inst_data,
                   token_provider=get_token_provider_from_config(config_value))


__all__ = ["PooledPostgresEventLogStorage", "PostgresStorage"]
