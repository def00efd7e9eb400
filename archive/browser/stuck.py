"""Ending a page script that holds the page while the renderer waits on it.

A page script that loops (``while (true) {}``) holds the renderer's main thread, where
every evaluation, ``json_value``, DOM read and screenshot of ours must run. Playwright's
own timeouts do not free such a call (1.5x/1.6x: the call waits for an answer from the
page that never comes), so without help the call hangs until the renderer's watchdog
kills Chromium and the capture is lost. Which call hangs is a race: it is whichever one
was queued when the loop began.

:class:`ScriptBreaker` bounds those calls from our side: while a call is guarded and has
waited longer than its patience, it sends CDP ``Runtime.terminateExecution`` on the
page's own session, again after each further patience, until the call answers.
``terminateExecution`` interrupts V8 from the browser's I/O thread, so it reaches a
looping renderer; the script is stopped, and the waiting call runs. The timer lives on
Playwright's event loop, which the sync API runs while a call waits (the way route
handlers run), so nothing here needs a second thread.

A call that is merely slow (a long page's screenshot: 1.9 s for 20,000 px here) may
get a termination while no page script runs. Measured in Debian's Chromium 156: a
termination with nothing running changes nothing (the DOM read, the screenshot and
later evaluations all answer), and terminations every 0.3 s through a 20,000 px
screenshot left it whole; at twenty a second, one screenshot hung until its timeout.
So patience is set at or above what the call takes, and a failed call is the caller's
to note (no screenshot, no DOM).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import CDPSession


class ScriptBreaker:
    """Stops the page's running script when a guarded call waits past its patience.
    ``breaks`` counts the terminations sent (a page's provenance notes them)."""

    def __init__(self, cdp: CDPSession) -> None:
        self._cdp = cdp
        # the sync API's event loop (SyncBase._loop): timers set here fire while a
        # sync call waits, as the route handlers do
        self._loop: asyncio.AbstractEventLoop = cdp._loop
        self.breaks = 0

    @contextlib.contextmanager
    def patience(self, seconds: float) -> Iterator[None]:
        """Guard the Playwright calls made inside: past ``seconds`` of waiting, and
        after each further ``seconds``, end whatever page script runs."""
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            nonlocal handle
            self.breaks += 1
            # the impl's coroutine, run as a task on the loop: the sync call that is
            # waiting keeps the loop turning; its answer (or error) is not needed
            task = self._loop.create_task(self._cdp._impl_obj.send(
                "Runtime.terminateExecution", None, None))
            task.add_done_callback(_consume)
            handle = self._loop.call_later(seconds, fire)

        handle = self._loop.call_later(seconds, fire)
        try:
            yield
        finally:
            handle.cancel()


def _consume(task: asyncio.Task[Any]) -> None:
    """Read a finished termination's outcome, so a closed page's error is not logged
    as never retrieved."""
    if not task.cancelled():
        task.exception()


__all__ = ["ScriptBreaker"]
