"""What a new user hits first: every error names its real cause in one line on stderr,
with the exit code the README promises (2 bad arguments or settings, 3 capture failed).

The CLI is driven for real (``archive.cli.main``, or a subprocess where the old
behaviour was to hang); targets are test servers on 127.0.0.1. DNS failures come from
an injected resolver (the ``looked_up`` fixture, through
:func:`archive.http.netguard.set_resolver`): no name that /etc/hosts does not hold is looked up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from servers import TestServer

from archive import errors
from archive.cli import main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh archive (SQLite) for the CLI, private networks not allowed."""
    values = {"ARCHIVE_HOME": str(tmp_path / "home"),
              "ARCHIVE_DATABASE_URL": f"sqlite:///{tmp_path / 'custody.sqlite'}"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("ARCHIVE_ALLOW_PRIVATE_NETWORKS", "ARCHIVE_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return values


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# --------------------------------------------------------------------------- capture

def test_a_loopback_address_without_the_flag_names_the_flag_not_robots(
        env: Any, http_server: TestServer, capsys: Any) -> None:
    code, _, err = run(capsys, "capture", "--no-metadata", http_server.url("/article"))
    line = one_line(err)
    assert code == 3
    assert "--allow-private-networks" in line and "127.0.0.1" in line
    assert "robots" not in line


def test_a_dns_failure_says_so_not_robots(env: Any, looked_up: list[str],
                                          capsys: Any) -> None:
    url = "http://no-such-host.test/page"
    code, _, err = run(capsys, "capture", "--no-metadata", "--allow-private-networks", url)
    line = one_line(err)
    assert code == 3
    assert f"DNS lookup of 'no-such-host.test' for {url} failed: Name or service not " \
           "known" in line
    assert "robots" not in line
    assert set(looked_up) == {"no-such-host.test"}


def test_a_refused_connection_says_so_not_robots(env: Any, capsys: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}/page"
    code, _, err = run(capsys, "capture", "--no-metadata", "--allow-private-networks", url)
    line = one_line(err)
    assert code == 3
    assert f"could not connect to {url}" in line and "Connection refused" in line
    assert "robots" not in line


@pytest.mark.parametrize("arg", ["not-a-url", "ftp://example.org/file", "http://"])
def test_something_that_is_not_a_url_is_a_bad_argument(env: Any, capsys: Any,
                                                       arg: str) -> None:
    code, out, err = run(capsys, "capture", arg)
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith("archive: error: not a URL to capture: ") and arg in line


def test_a_trailing_dot_name_is_checked_and_looked_up_as_the_same_name(
        env: Any, looked_up: list[str], http_server: TestServer, capsys: Any) -> None:
    """``localhost.`` is in no hosts file: looked up as given it would go to DNS."""
    url = http_server.url("/article", host="localhost.")
    code, _, err = run(capsys, "capture", "--no-metadata", url)
    assert code == 3 and "--allow-private-networks" in one_line(err)
    code, out, err = run(capsys, "capture", "--no-metadata", "--allow-private-networks", url)
    assert code == 0 and err == "" and "capture sha256:" in out
    assert set(looked_up) == {"localhost"}


@pytest.mark.parametrize("content", [None, b"this is not a certificate\n"])
def test_a_missing_or_garbage_ca_bundle_is_a_bad_setting(
        env: Any, tmp_path: Path, http_server: TestServer, capsys: Any,
        monkeypatch: pytest.MonkeyPatch, content: bytes | None) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_bytes(content)
    monkeypatch.setenv("ARCHIVE_CA_BUNDLE", str(bundle))
    code, out, err = run(capsys, "capture", "--allow-private-networks",
                         http_server.url("/article"))
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith(f"archive: error: cannot load the CA bundle {bundle}")
    assert "ARCHIVE_CA_BUNDLE" in line


# --------------------------------------------------------------------------- ingest

def _nothing_stored(home: Path) -> bool:
    return not any((home / "warcs").rglob("*.warc.gz")) if (home / "warcs").exists() else True


@pytest.mark.parametrize("kind", ["directory", "missing", "empty"])
def test_ingest_of_what_is_not_a_document_is_a_bad_argument(
        env: dict[str, str], tmp_path: Path, capsys: Any, kind: str) -> None:
    path = tmp_path / kind
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    code, out, err = run(capsys, "ingest", "--no-metadata", str(path))
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith("archive: error: ") and str(path) in line
    expected = {"directory": "not a regular file", "missing": "No such file or directory",
                "empty": "the file is empty (0 bytes)"}[kind]
    assert expected in line
    assert _nothing_stored(Path(env["ARCHIVE_HOME"]))


@pytest.mark.parametrize("make", [lambda p: os.mkfifo(p), None], ids=["fifo", "device"])
def test_ingest_of_a_fifo_or_device_is_refused_at_once(
        env: dict[str, str], tmp_path: Path, make: Callable[[Path], None] | None) -> None:
    """A subprocess with a time limit: reading a FIFO nobody writes to never ends."""
    if make is None:
        path = Path("/dev/null")  # a device: read as an empty "document" before
    else:
        path = tmp_path / "pipe"
        make(path)
    done = subprocess.run([sys.executable, "-m", "archive.cli", "ingest", "--no-metadata",
                           str(path)], env={**os.environ, **env, "PYTHONWARNINGS": "ignore"},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert one_line(done.stderr) == f"archive: error: cannot ingest {path}: not a regular file"
    assert _nothing_stored(Path(env["ARCHIVE_HOME"]))


@given(st.text(), st.one_of(st.none(), st.integers(min_value=0, max_value=50)))
def test_one_line_keeps_the_words_on_one_line_within_the_limit(text: str,
                                                               limit: int | None) -> None:
    """How a foreign error's text joins one of ours: the same words, single spaces, cut."""
    line = errors.one_line(text, limit)
    assert "\n" not in line and "\r" not in line and "  " not in line
    assert line == line.strip()
    words = " ".join(text.split())
    assert line == (words if limit is None else words[:limit].rstrip())
    assert errors.one_line(ValueError(text)) == words
