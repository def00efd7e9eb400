"""Check evaluations held and written together: the part of the event log storages
(:mod:`pipelines.storage`, SQLite; :mod:`pipelines.storage_postgres`, PostgreSQL) that
both share.

Dagster batches a step's materializations but hands check evaluations to the event log
one at a time: five per source, more than half of a 1,000-source run's events, each its
event row, its index row and the update of the check's execution row, in two or three
transactions. A storage with :class:`HeldCheckEvaluations` holds consecutive evaluations
of a run and writes them together (:meth:`HeldCheckEvaluations._store_checks`, one
transaction or one per database file), each event serialised once. What it holds is
written:

- before any other event is stored, and before any read or write of the storage in this
  process (the storage calls :meth:`~HeldCheckEvaluations._flush_held` where it opens a
  connection), so this process always reads what it wrote, in order;
- when ``batch_size`` are held, and ``interval`` seconds after the first was held (at the
  next evaluation), so the UI sees a burst of evaluations as late as it sees a burst of
  materializations.

A process killed in between loses those evaluations from the run's history, as Dagster's
own batches lose materializations; the step then fails with the process. The execution
rows are Dagster's (``_update_asset_check_evaluation``): the row planned for the
partition is brought up to date, Dagster's error is raised for a partition planned
twice, a row is added where none was planned, and where one partition is judged twice
the later evaluation wins, as writing them in turn leaves it
(``tests/test_pipelines_storage.py`` compares every row with Dagster's own storages).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluation,
)
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from sqlalchemy import Connection, bindparam, select


def held(event: EventLogEntry) -> bool:
    """A check evaluation of a run: held and written with the next ones."""
    return bool(event.run_id) and event.is_dagster_event \
        and event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION


class HeldCheckEvaluations:
    """The holding of check evaluations (module docstring). A storage calls
    :meth:`_init_held` in ``__init__``, :meth:`_hold` first in ``store_event`` (and
    stores the event itself only when it returns False), :meth:`_flush_held` where it
    opens a connection and when disposed, and implements :meth:`_store_checks`."""

    check_batches: int  # _store_checks calls (tests count them)

    def _init_held(self, batch_size: int, interval: float) -> None:
        self._held: list[EventLogEntry] = []
        self._held_since = 0.0
        self._held_pid = os.getpid()
        self._held_lock = threading.RLock()  # keeps them and the events after them in order
        self._held_local = threading.local()  # .writing: inside _flush_held
        self._held_batch, self._held_interval = batch_size, interval
        self.check_batches = 0

    def _hold(self, event: EventLogEntry) -> bool:
        """Hold ``event`` if it is a check evaluation (writing what is held when due);
        otherwise return False: the caller stores ``event``, and its first connection
        writes what is held before it (:meth:`_flush_held` where connections open)."""
        if not held(event):
            return False
        with self._held_lock:
            self._forget_if_forked()
            if not self._held:
                self._held_since = time.monotonic()
            self._held.append(event)
            if len(self._held) >= self._held_batch \
                    or time.monotonic() - self._held_since >= self._held_interval:
                self._flush_held()
        return True

    def _forget_if_forked(self) -> None:
        if self._held_pid != os.getpid():  # a forked child: its parent writes those
            self._held, self._held_pid = [], os.getpid()

    def _flush_held(self) -> None:
        """Write what is held, each run's evaluations in one go (:meth:`_store_checks`);
        nothing when called from inside that write."""
        if not self._held or getattr(self._held_local, "writing", False):
            return
        with self._held_lock:
            self._forget_if_forked()
            events, self._held = self._held, []
            if not events:
                return
            self._held_local.writing = True
            try:
                for _, group in groupby(events, key=lambda e: e.run_id):
                    self.check_batches += 1
                    self._store_checks(list(group))
            finally:
                self._held_local.writing = False

    def _store_checks(self, events: list[EventLogEntry]) -> None:
        """Write ``events`` (check evaluations of one run): their event rows, then
        :meth:`_judge` in the same transaction as their index rows."""
        raise NotImplementedError

    def _judge(self, conn: Connection, events: Sequence[EventLogEntry],
               rows: Sequence[dict[str, Any]], ids: Sequence[int]) -> None:
        """Each judged check's execution row, from ``events``, their event ``rows`` (as
        ``_event_to_row`` made them) and the storage ids of those rows."""
        table = AssetCheckExecutionsTable
        run_id = events[0].run_id
        judged: dict[tuple[str, str, str | None], dict[str, Any]] = {}
        for event, row, event_id in zip(events, rows, ids, strict=True):
            evaluation = event.get_dagster_event().event_specific_data
            assert isinstance(evaluation, AssetCheckEvaluation)
            target = evaluation.target_materialization_data
            key = (evaluation.asset_key.to_string(), evaluation.check_name,
                   evaluation.partition)
            judged[key] = {
                "asset_key": key[0], "check_name": key[1], "run_id": run_id,
                "partition": key[2],
                "execution_status": (AssetCheckExecutionRecordStatus.SUCCEEDED.value
                                     if evaluation.passed else
                                     AssetCheckExecutionRecordStatus.FAILED.value),
                "evaluation_event": row["event"],
                "evaluation_event_timestamp": row["timestamp"],
                "evaluation_event_storage_id": event_id,
                "materialization_event_storage_id": target.storage_id if target else None}
        planned: dict[tuple[str, str, str | None], list[int]] = {}
        for found in conn.execute(
                select(table.c.id, table.c.asset_key, table.c.check_name, table.c.partition)
                .where(table.c.run_id == run_id,
                       table.c.check_name.in_(sorted({k[1] for k in judged})),
                       table.c.asset_key.in_(sorted({k[0] for k in judged})))):
            planned.setdefault((found.asset_key, found.check_name, found.partition),
                               []).append(found.id)
        updates, inserts = [], []
        for key, values in judged.items():
            row_ids = planned.get(key, [])
            if len(row_ids) > 1:
                raise DagsterInvariantViolationError(
                    f"Updated {len(row_ids)} rows for asset check evaluation {key[0]}:{key[1]} "
                    "as a result of duplicate AssetCheckPlanned events.")
            if row_ids:
                updates.append({"row_id": row_ids[0], **values})
            else:
                inserts.append(values)
        if updates:
            conn.execute(table.update().where(table.c.id == bindparam("row_id")), updates)
        if inserts:
            conn.execute(table.insert(), inserts)


__all__ = ["HeldCheckEvaluations", "held"]
