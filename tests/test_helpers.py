"""The missing-prerequisite rule (tests/helpers.py): skip locally, fail under CI=true.

Each case runs a tiny pytest session in a subprocess, so the outcome seen is pytest's own
(exit code and summary), not a stand-in for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = '''
import pytest
from helpers import each, require


def test_with_everything_there():
    require(None)


def test_without_a_widget():
    require("no widget at /nowhere")


@pytest.mark.parametrize("row", each([], "no rows at /nowhere/truth.jsonl", str))
def test_over_missing_rows(row):
    require("no rows at /nowhere/truth.jsonl")
'''


def _run_tiny(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_tiny.py").write_text(TINY)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "-n", "0", "-p", "no:cacheprovider",
         "-p", "no:randomly", "--rootdir", str(tmp_path), str(tmp_path / "test_tiny.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("ci", [None, "false"])
def test_a_missing_prerequisite_skips_with_its_reason_outside_ci(tmp_path: Path,
                                                                  ci: str | None) -> None:
    proc = _run_tiny(tmp_path, ci)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "1 passed, 2 skipped" in out
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED [1] ")]
    assert [line.rsplit(": ", 1)[1] for line in skipped] == [
        "no widget at /nowhere", "no rows at /nowhere/truth.jsonl"]
    assert "CI requires it" not in out


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_missing_prerequisite_fails_with_its_reason_under_ci(tmp_path: Path,
                                                               ci: str) -> None:
    proc = _run_tiny(tmp_path, ci)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "2 failed, 1 passed" in out
    assert "no widget at /nowhere (CI requires it)" in out
    assert "test_over_missing_rows[prerequisite-missing] - Failed: no rows at " \
        "/nowhere/truth.jsonl (CI requires it)" in out
    assert "SKIPPED" not in out
