"""Worker processes start by fork beside the fetch watchdog, and by spawn beside any other
thread (archive/capture/processes.py worker_context). Each case runs in a fresh Python
process, so that the test runner's own threads do not decide the answer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from archive.http.deadline import WATCHDOG_THREAD

_SETUP = """
import threading
from archive.capture.processes import worker_context
from archive.http.deadline import WATCHDOG, WATCHDOG_THREAD

def child(out):
    # The child's watchdog starts afresh (its parent's thread and the copy of its lock
    # are not used) and works.
    fired = threading.Event()
    threading.Thread(target=lambda: WATCHDOG.arm(0.05, fired.set), daemon=True).start()
    out.put(fired.wait(5))
"""


def _run(body: str) -> str:
    script = textwrap.dedent(_SETUP) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_workers_fork_beside_the_fetch_watchdog() -> None:
    out = _run("""
        handle = WATCHDOG.arm(3600, lambda: None)  # a fetch in flight: the thread runs
        assert [t.name for t in threading.enumerate()] == ["MainThread", WATCHDOG_THREAD]
        ctx = worker_context()
        queue = ctx.Queue()
        proc = ctx.Process(target=child, args=(queue,))
        with WATCHDOG._cond:  # as if the watchdog held its lock at the moment of the fork
            proc.start()
        fired = queue.get(timeout=30)
        proc.join(30)
        WATCHDOG.disarm(handle)
        print(ctx.get_start_method(), fired, proc.exitcode)
    """)
    assert out == "fork True 0"


@pytest.mark.parametrize("name", ["some-library-thread", WATCHDOG_THREAD + "-not"])
def test_workers_spawn_beside_any_other_thread(name: str) -> None:
    out = _run(f"""
        stop = threading.Event()
        other = threading.Thread(target=stop.wait, name={name!r}, daemon=True)
        other.start()
        print(worker_context().get_start_method())
        stop.set()
    """)
    assert out == "spawn"
