"""The processes a browser renderer starts, read from ``/proc`` (Linux).

Playwright starts a driver (node) as a child of this process, and the driver starts
Chromium, which starts its zygote, GPU, network and renderer processes. A hung or
crashed Chromium must not outlive its renderer, so :class:`archive.browser.Renderer`
notes the driver's process id, takes the tree below it before closing, and kills what
is still alive afterwards. Each process is identified by its id *and* its start time,
so a reused id is never killed by mistake.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)

_PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid``, or None once it is gone (or a zombie)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def children(pid: int) -> list[Proc]:
    """Living direct children of ``pid``."""
    found: list[Proc] = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] == pid:
                found.append((int(entry.name), stat[1]))
    return found


def descendants(pid: int) -> list[Proc]:
    """Every living process below ``pid`` (children, their children, ...)."""
    parents: dict[int, list[Proc]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parents.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: list[Proc] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def command(pid: int) -> str:
    """The command line of ``pid`` ('' once it is gone)."""
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace").strip()
    except OSError:
        return ""


def alive(proc: Proc) -> bool:
    stat = _stat(proc[0])
    return stat is not None and stat[1] == proc[1]


def kill(procs: list[Proc]) -> int:
    """SIGKILL each process of ``procs`` that is still the same process; how many were."""
    killed = 0
    for proc in procs:
        if alive(proc):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc[0], signal.SIGKILL)
                killed += 1
    return killed
