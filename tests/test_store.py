"""Durable WARC files: temp name, fsync, rename; failures leave nothing behind."""

from __future__ import annotations

import errno
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import require
from sqlalchemy import text

from archive.errors import StorageError
from archive.warc.localstore import DirectoryStore as WarcStore
from archive.warc.store import OPEN_SUFFIX

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_file_appears_only_after_fsync_and_rename(tmp_path: Path) -> None:
    synced: list[int] = []
    store = WarcStore(tmp_path, fsync=synced.append)
    with store.new_file(NOW, "host") as f:
        f.write(b"x" * 10)
        assert [p.endswith(OPEN_SUFFIX) for p in store.iter_files()] == [True]
    assert f.stored is not None and f.stored.size == 10
    assert f.stored.relpath.startswith("2026/01/02/") and f.stored.name.endswith(".warc.gz")
    assert (tmp_path / f.stored.relpath).read_bytes() == b"x" * 10
    assert len(synced) == 2  # the file, then its directory


def test_fsync_error_is_fatal_and_removes_the_temp_file(tmp_path: Path) -> None:
    """FAULTS 20: never retried on the same descriptor; nothing left behind."""
    calls = 0

    def failing_fsync(fd: int) -> None:
        nonlocal calls
        calls += 1
        raise OSError(errno.EIO, "Input/output error")

    store = WarcStore(tmp_path, fsync=failing_fsync)
    with pytest.raises(StorageError, match="Input/output error"), \
            store.new_file(NOW, "host") as f:
        f.write(b"data")
    assert calls == 1
    assert list(store.iter_files()) == []


def test_names_never_come_from_urls(tmp_path: Path) -> None:
    store = WarcStore(tmp_path)
    with store.new_file(NOW, "../../etc/passwd\x00") as f:
        f.write(b"x")
    assert f.stored is not None
    assert ".." not in f.stored.name.replace("..", "") and "/" not in f.stored.name
    assert (tmp_path / f.stored.relpath).resolve().is_relative_to(tmp_path.resolve())
    with pytest.raises(StorageError):
        store.path("../outside")


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 256 KiB tmpfs mounted as the archive's WARC directory."""
    mnt = tmp_path / "home" / "warcs"
    mnt.mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        require(f"cannot mount a tmpfs to fill (needs root): {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_mid_write_fails_cleanly(tiny_disk: Path, archive_factory, tmp_path) -> None:
    """FAULTS 19: the capture fails, the temp file is removed, no row is written."""
    arc = archive_factory(home=tmp_path / "home")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(600 * 1024))  # incompressible, larger than the disk
    with pytest.raises(StorageError, match="disk is full"):
        arc.ingest([big])
    assert [p for p in tiny_disk.rglob("*") if p.is_file()] == []
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM captures")).scalar() == 0
        assert c.execute(text("SELECT count(*) FROM warc_files")).scalar() == 0
    small = tmp_path / "small.txt"
    small.write_text("still works after the failure")
    (res,) = arc.ingest([small])
    assert arc.verify().ok, arc.verify().to_json()
    assert res.status == "complete"
