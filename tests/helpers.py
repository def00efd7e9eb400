"""Deterministic clocks and ids for golden-file tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta


class StepClock:
    """Each call returns the previous time plus one second, from a fixed start."""

    def __init__(self, start: datetime = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)):
        self._next = start

    def __call__(self) -> datetime:
        now = self._next
        self._next += timedelta(seconds=1)
        return now


def counter_ids(prefix: str = "00000000-0000-4000-8000-") -> itertools.count[int] | object:
    counter = itertools.count(1)
    return lambda: f"<urn:uuid:{prefix}{next(counter):012d}>"


def fixed_name(_moment: datetime, _host: str) -> str:
    return "ARCHIVE-20260102030405678-000000000001-testhost.warc.gz"
