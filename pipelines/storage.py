"""Dagster's embedded SQLite storage, with the event log's connections kept open.

A scheduled run over 1,000 sources writes about 9,000 events (per partition: two
materializations, two planned materializations, five check evaluations). Dagster's
``SqliteEventLogStorage`` builds a new SQLAlchemy engine and opens a new SQLite
connection for each of the two or three statements an event takes, asks SQLite again
whether its tables exist, compiles every statement afresh, and closing the connection
checkpoints the WAL: about 20 ms of one core per check evaluation on the bench machine,
most of a 1,000-source run. This storage is Dagster's own (same files under
``$DAGSTER_HOME/history``, same schema, same run shards and index shard) with one
change: each database file keeps one engine with a small pool of open connections, and
tables once found are not looked up again. A check evaluation then costs ~4 ms.

A range step's materializations (and the planned ones a run starts with) are written in
batches: this storage sets ``DAGSTER_EVENT_BATCH_SIZE`` (unless it is set already), so
Dagster hands the events of one step output to :meth:`store_event_batch` together, and
each run of consecutive asset events of one kind is written in one statement per
database file, with the asset's row in the index brought up to date once, from its last
event (what writing them one by one leaves there too). A planned check over 1,000
partitions is serialised once, not once per partition row. Both leave the same rows as
Dagster's own storage (``tests/test_pipelines_storage.py`` compares them): 1,000
materializations took 3.5 s of a range step, 1.2 s batched. As in Dagster's own batch
write (``dagster-postgres``), a batch whose index write fails after its run-shard
write is written again event by event by Dagster, so the run's log may then show those
events twice; nothing of the archive depends on the run history.

Check evaluations, which Dagster hands over one at a time, are held and written
together (:mod:`pipelines.heldchecks`): 4 ms of the bench's ``capture_status`` step a
source before, 1.7 after.

Writes to a run's shard end with a passive WAL checkpoint, as closing the connection did
before: the Dagster UI follows a live run by watching that file change. A checkpoint
copies pages and waits for the disk twice, so a burst of per-partition asset events (a
range step's 1,000 check evaluations) checkpoints at most every
``CHECKPOINT_INTERVAL`` seconds; any other event (a log line, a step's end, the run's)
checkpoints at once, so the UI never waits longer than that interval, or than the
burst's next step event, to see the burst.

The event log's files run with ``synchronous=NORMAL`` (Dagster's stock storage leaves
SQLite's ``FULL``): in WAL mode a commit then waits for no disk flush. A killed process
loses nothing it committed and the files cannot be corrupted; a power cut may lose the
last moments of run history, which says what Dagster did, not what was archived (the
archive's own database keeps ``FULL``, ``archive/ledger/db.py``). On the bench machine
this took a check evaluation from about 12 to 2 ms of wall time.

deploy/dagster.yaml selects it::

    storage:
      custom:
        module: pipelines.storage
        class: SqliteStorage
        config:
          base_dir: {env: DAGSTER_HOME}

Relies on ``SqliteEventLogStorage._connect(shard)`` (every connection the storage makes
goes through it); ``tests/test_pipelines_storage.py`` checks that against the installed
Dagster.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any

from dagster._config import StringSource
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationPlanned,
)
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    DagsterEventType,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy import event as sqlalchemy_event

from pipelines.heldchecks import HeldCheckEvaluations

OPEN_DATABASES = 8
"""Run shards (plus the index) whose engines stay open in one process; the least recently
used beyond that are closed. A run worker uses two (its run's shard and the index)."""

CHECKPOINT_INTERVAL = 0.2
"""Seconds a run shard's WAL may go without a checkpoint during a burst of asset events."""

BURST_EVENTS = frozenset(ASSET_EVENTS | ASSET_CHECK_EVENTS)
"""Event types a range step writes one of per partition (materializations, planned ones,
check evaluations): these may wait for the next checkpoint."""

EVENT_BATCH_SIZE = 1000
"""Events Dagster collects before one :meth:`store_event_batch` (``DAGSTER_EVENT_BATCH_SIZE``)."""

BATCHED = frozenset({DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION,
                     DagsterEventType.ASSET_MATERIALIZATION_PLANNED})
"""Asset events a batch writes together (any other event in a batch is stored alone)."""

_INHERITED: list[Engine] = []  # engines a forked child must never close (see _engine)


def _batch_kind(event: EventLogEntry) -> tuple[str, DagsterEventType] | None:
    """What consecutive events must share to be written in one statement (None: alone)."""
    kind = event.dagster_event_type if event.is_dagster_event else None
    return (event.run_id, kind) if kind in BATCHED else None


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(HeldCheckEvaluations, SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose connections stay open (see the module docstring)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables: set[str] = set()
        self._asset_key_index_cols = False  # found once, stays (migrations only add)
        self._checkpointed: dict[str, float] = {}  # shard -> monotonic time of its last
        self._storing = threading.local()  # .burst: the event being stored may wait
        self._init_held(EVENT_BATCH_SIZE, CHECKPOINT_INTERVAL)
        self.checkpoints = 0  # run-shard checkpoints made (tests count them)
        self.batched = 0  # events written by _store_asset_events (tests count them)
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():
            # A forked child must not use or close its parent's SQLite connections (closing
            # one could checkpoint the WAL under the parent): keep them, unused, forever.
            _INHERITED.extend(self._engines.values())
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(self.conn_string_for_shard(shard), pool_size=1,
                               max_overflow=2,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        sqlalchemy_event.listen(engine, "connect", _synchronous_normal)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            closed, old = self._engines.popitem(last=False)
            old.dispose()
            self._checkpointed.pop(closed, None)  # a long-lived process sees many runs
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        self._flush_held()  # what this process wrote is there before anything reads it
        with self._db_lock, self._engine(shard).connect() as conn:
            with conn.begin():
                yield conn
            if shard != INDEX_SHARD_NAME and self._checkpoint_due(shard):
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self._checkpointed[shard] = time.monotonic()
                self.checkpoints += 1

    def _checkpoint_due(self, shard: str) -> bool:
        if not getattr(self._storing, "burst", False):
            return True
        last = self._checkpointed.get(shard)
        return last is None or time.monotonic() - last >= CHECKPOINT_INTERVAL

    @contextmanager
    def _burst(self, burst: bool) -> Iterator[None]:
        """While storing: whether the run shard's checkpoint may wait (:meth:`_connect`)."""
        self._storing.burst = burst
        try:
            yield
        finally:
            self._storing.burst = False

    def store_event(self, event: EventLogEntry) -> None:
        if self._hold(event):
            return
        kind = event.dagster_event_type if event.is_dagster_event else None
        with self._burst(kind in BURST_EVENTS):
            super().store_event(event)

    @contextmanager
    def _rows_written(self, events: list[EventLogEntry],
                      ) -> Iterator[tuple[Connection, list[dict[str, Any]], list[int]]]:
        """Write ``events`` (of one run) in one statement to the run's shard, then to the
        index; yields the index's transaction, the rows and their index ids, for the
        caller's index rows to join the same transaction."""
        rows = [self._event_to_row(event) for event in events]
        with self._burst(True):
            with self.run_connection(events[0].run_id) as conn:
                conn.execute(SqlEventLogStorageTable.insert(), rows)
            with self.index_transaction() as conn:
                ids = list(conn.execute(
                    SqlEventLogStorageTable.insert().returning(
                        SqlEventLogStorageTable.c.id, sort_by_parameter_order=True),
                    rows).scalars())
                yield conn, rows, ids

    def _store_checks(self, events: list[EventLogEntry]) -> None:
        """The evaluations' rows, then their execution rows in the index's transaction
        (:meth:`HeldCheckEvaluations._judge`)."""
        with self._rows_written(events) as (conn, rows, ids):
            self._judge(conn, events, rows, ids)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Each run of consecutive asset events of one kind and run in one statement per
        database file; any other event as :meth:`store_event` would."""
        for kind, group in groupby(events, key=_batch_kind):
            run = list(group)
            if kind is None or len(run) == 1:
                for event in run:
                    self.store_event(event)
            else:
                self._store_asset_events(run)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        """What ``SqliteEventLogStorage.store_event`` does for each of ``events`` (asset
        events of one run): the rows in the run's shard and in the index, their tags,
        and each asset's row from its last event."""
        self.batched += len(events)
        with self._rows_written(events) as (conn, _, ids):
            self._store_asset_event_tags(conn, events, ids)
            last: dict[str, tuple[EventLogEntry, int]] = {}
            for event, event_id in zip(events, ids, strict=True):
                last[str(event.get_dagster_event().asset_key)] = (event, event_id)
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry,
                                              event_id: int | None) -> None:
        """Dagster's own rows (one per planned partition), with the event serialised once
        instead of once per row (each copy holds the whole partition set)."""
        planned = event.get_dagster_event().event_specific_data
        assert isinstance(planned, AssetCheckEvaluationPlanned)
        keys: list[str | None] = (list(planned.partitions_subset.get_partition_keys())
                                  if planned.partitions_subset else [None])
        serialized = serialize_value(event)
        timestamp = self._event_insert_timestamp(event)  # type: ignore[no-untyped-call]
        with self.index_connection() as conn:  # one statement, executed for each row
            conn.execute(AssetCheckExecutionsTable.insert(), [
                {"asset_key": planned.asset_key.to_string(), "check_name": planned.check_name,
                 "partition": key, "run_id": event.run_id,
                 "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
                 "evaluation_event": serialized, "evaluation_event_timestamp": timestamp,
                 "evaluation_event_storage_id": event_id}
                for key in keys])

    def _has_asset_key_index_cols_on_connection(self, conn: Connection) -> bool:
        # Dagster asks SQLite for the asset table's columns at every asset event.
        if not self._asset_key_index_cols:
            self._asset_key_index_cols = super()._has_asset_key_index_cols_on_connection(conn)
        return self._asset_key_index_cols

    def has_table(self, table_name: str) -> bool:
        # Dagster's migrations add tables, never drop them: a table found stays found.
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables.add(table_name)
        return found

    def upgrade(self) -> None:
        self._close_engines()
        self._tables.clear()
        self._asset_key_index_cols = False
        super().upgrade()

    def wipe(self) -> None:
        self._close_engines()  # the run shards' files are deleted
        super().wipe()

    def dispose(self) -> None:
        self._flush_held()
        self._close_engines()
        super().dispose()

    def _close_engines(self) -> None:
        with self._db_lock:
            if self._engines_pid == os.getpid():
                for engine in self._engines.values():
                    engine.dispose()
            else:
                _INHERITED.extend(self._engines.values())
            self._engines, self._engines_pid = OrderedDict(), os.getpid()


class SqliteStorage(DagsterSqliteStorage):
    """Dagster's embedded default storage (runs, schedules and the event log in SQLite
    files under ``base_dir``) with :class:`PooledSqliteEventLogStorage` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        # Dagster reads it at each event: a step's asset events then reach the event log
        # together (PooledSqliteEventLogStorage.store_event_batch).
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,  # type: ignore[override]
                          config_value: dict[str, Any]) -> SqliteStorage:
        Path(config_value["base_dir"]).mkdir(parents=True, exist_ok=True)
        return cls(config_value["base_dir"], inst_data=inst_data)
