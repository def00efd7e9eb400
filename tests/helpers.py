"""Test helpers: missing prerequisites (skip locally, fail in CI), deterministic clocks
and ids for golden-file tests."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# --------------------------------------------------------------------------- prerequisites
# A test whose prerequisite (the shared corpus, a tmpfs mount, Chromium, PostgreSQL) is
# missing skips with the reason on a developer's machine, but fails under CI=true: CI must
# never pass by skipping what it promises to test.

# The shared folder (corpus, seeds) sits beside the checkout as ../shared, read-only; a
# git worktree elsewhere points at it with ARCHIVE_TEST_SHARED.
SHARED = Path(os.environ.get("ARCHIVE_TEST_SHARED")
              or Path(__file__).resolve().parents[2] / "shared")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


def require(missing: str | None) -> None:
    """Go on if ``missing`` is None; otherwise it says which prerequisite is missing and
    why: skip with it, or under CI=true fail with it."""
    if missing is None:
        return
    if in_ci():
        pytest.fail(f"{missing} (CI requires it)", pytrace=False)
    pytest.skip(missing)


def missing_path(path: Path, what: str) -> str | None:
    """None if ``path`` exists, else the reason to give to :func:`require`."""
    if path.exists():
        return None
    return (f"{what} not found at {path} (the shared folder beside the checkout, "
            "../shared; ARCHIVE_TEST_SHARED names another)")


def each(rows: Sequence[T], missing: str | None, id_of: Callable[[T], str]) -> list[Any]:
    """Parameters for a test run once per row of a prerequisite (the corpus's truth file).

    When it is missing there are no rows, and pytest would skip an empty parameter set
    silently, even in CI; one placeholder parameter instead lets the test run and call
    :func:`require`, which skips or fails with the reason."""
    if missing is not None:
        return [pytest.param(None, id="prerequisite-missing")]
    return [pytest.param(row, id=id_of(row)) for row in rows]

# --------------------------------------------------------------------------- golden files


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


# --------------------------------------------------------------------------- servers

def free_port() -> int:
    """A loopback TCP port free at the time of asking (for servers the tests start)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, proc: Any, name: str, timeout: float = 60) -> None:
    """Return once ``url`` answers 200; fail if ``proc`` (a Popen) exits first or
    ``timeout`` seconds pass."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{name} did not answer at {url} in {timeout:.0f} s")


def chromium_for_tests() -> Path:
    """Debian's Chromium (installed once by scripts/ensure-chromium) with Playwright
    importable; a missing prerequisite skips locally and fails under CI."""
    import subprocess

    from archive.browser import chromium_path

    path = chromium_path()
    if not path.exists():
        root = Path(__file__).resolve().parents[1]
        subprocess.run([str(root / "scripts" / "ensure-chromium")], check=False)
    if not path.exists():
        require(f"no Chromium at {path} and scripts/ensure-chromium could not install it "
                "(needs apt-get and root); see its message above")
    try:
        import playwright  # noqa: F401
    except ImportError:
        require("Playwright is not installed (pip install -e '.[dev]')")
    return path
