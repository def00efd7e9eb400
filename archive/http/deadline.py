"""The fetch's total deadline: one watchdog thread for every exchange, and the two
conditions the wire records (deadline passed, raw size limit reached).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from typing import Any


class DeadlineExceeded(TimeoutError):
    """The fetch's total deadline passed (recorded by recv, raised by send)."""


class RawLimitReached(OSError):
    """The raw response reached its size limit (recorded by recv)."""


WATCHDOG_THREAD = "archive-fetch-watchdog"
"""The watchdog thread's name: a fork may copy it (see the at-fork hook below)."""


class Watchdog:
    """One daemon thread for every exchange's deadline (a Timer thread per exchange cost
    a thread start and a cancel per page). ``arm`` returns a handle; ``disarm`` drops it.
    At its time the callback runs on the watchdog thread (it must be quick)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._callbacks: dict[int, Any] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, delay: float, callback: Any) -> int:
        handle = next(self._ids)
        with self._cond:
            self._callbacks[handle] = callback
            heapq.heappush(self._heap, (time.monotonic() + delay, handle))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=WATCHDOG_THREAD,
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][1] == handle:
                self._cond.notify()
        return handle

    def disarm(self, handle: int) -> None:
        with self._cond:
            self._callbacks.pop(handle, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._callbacks:
                    heapq.heappop(self._heap)  # disarmed
                if not self._heap:
                    self._cond.wait(60)
                    if not self._heap:
                        self._thread = None
                        return
                    continue
                when, handle = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                callback = self._callbacks.pop(handle, None)
            if callback is not None:
                with contextlib.suppress(Exception):
                    callback()


WATCHDOG = Watchdog()
# A forked child (Dagster's multiprocess executor, capture and extraction workers) has no
# watchdog thread and may hold a copy of its lock taken by a thread that does not exist
# there: start afresh. The watchdog holds no other lock than that one (a callback, which
# only shuts a socket, runs outside it), so a fork beside it is safe.
os.register_at_fork(after_in_child=lambda: WATCHDOG.__init__())  # type: ignore[misc]

