"""Bytes of a fetch held until their WARC file is written: in memory while small,
in a private temporary directory once large.

A news page is ~100 KB: keeping it in memory spares a directory, two files and their
removal per page (about a millisecond of system time each fetch, a fifth of the
capture path's cost). A body past ``memory_limit`` moves to disk, so memory stays
bounded by the number of pages in flight times the limit, whatever a server sends.
File names come from counters, never from URLs.

Spool directories live under the archive's own ``tmp`` folder (see
:attr:`archive.core.config.Settings.tmp_dir`), each locked (``flock``) by its owner for its
whole life: a process killed with SIGKILL cannot remove its directory, but the kernel
drops its lock, so :func:`sweep` (run by ``archive verify``/``reconcile`` and at the
start of each capture run) removes exactly the directories nobody owns any more. Other
temporary folders of the archive (a WACZ's WARCs while ``archive import`` takes them
in) are made by :func:`owned_tempdir` and swept the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

DEFAULT_MEMORY_LIMIT = 1 << 20
PREFIX = "archive-fetch-"
IMPORT_PREFIX = "archive-wacz-"
SWEPT = (PREFIX, IMPORT_PREFIX)  # the folders sweep() looks at, by name prefix


class Spool:
    """The temporary storage of one fetch; its directory exists only once a file spills."""

    def __init__(self, parent: Path | None, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self.parent = parent
        self.memory_limit = memory_limit
        self.dir: Path | None = None
        self._n = 0
        self._lock = threading.Lock()
        self._finalizer: Any = None

    def pair(self) -> tuple[SpoolFile, SpoolFile]:
        """Fresh (raw response, entity body) files for one exchange."""
        self._n += 1
        return (SpoolFile(self, f"{self._n:03d}-response.http"),
                SpoolFile(self, f"{self._n:03d}-body.bin"))

    def _directory(self) -> Path:
        with self._lock:
            if self.dir is None:
                path, lock = _locked_mkdtemp(self.parent, PREFIX)
                self.dir = path
                # removed on remove() or when the owning result is garbage-collected
                self._finalizer = weakref.finalize(self, _remove_dir, str(path), lock)
            return self.dir

    def remove(self) -> None:
        """Delete whatever spilled to disk (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()


class SpoolFile:
    """Write once, then read any number of times; spills to disk past the limit."""

    def __init__(self, spool: Spool, name: str) -> None:
        self._spool = spool
        self._name = name
        # chunks, joined when first read: growing one bytearray re-allocates (past
        # 128 KiB, with fresh pages from mmap) and cost more than the copies, and a body
        # nobody reads (an uncoded page: its digest is known) is never joined at all
        self._chunks: list[bytes] | None = []
        self._size = 0
        self._sealed = False  # writing ended (in memory)
        self._frozen: bytes | None = None  # the in-memory bytes, once read
        self._file: BinaryIO | None = None
        self.path: Path | None = None  # set once the bytes live on disk

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._file is None:
            if self._sealed:
                raise ValueError(f"spool file {self._name} is closed")
            if self._size + len(data) <= self._spool.memory_limit:
                assert self._chunks is not None
                self._chunks.append(bytes(data))
                self._size += len(data)
                return len(data)
            self._spill()
        assert self._file is not None
        return self._file.write(data)

    def _spill(self) -> None:
        self.path = self._spool._directory() / self._name
        self._file = self.path.open("wb")
        assert self._chunks is not None
        self._file.writelines(self._chunks)
        self._chunks = None

    def close(self) -> None:
        """End writing (the bytes stay readable)."""
        if self._file is None:
            self._sealed = True
        elif not self._file.closed:
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._sealed if self._file is None else self._file.closed

    def open(self) -> BinaryIO:
        self.close()
        if self._file is None:
            if self._frozen is None:
                self._frozen, self._chunks = b"".join(self._chunks or ()), None
            return io.BytesIO(self._frozen)
        assert self.path is not None
        return self.path.open("rb")

    def truncate(self, size: int) -> None:
        """Keep only the first ``size`` bytes (ends writing): a truncated response is cut
        where the body kept from it ends."""
        self.close()
        if self._file is None:
            data = self._frozen if self._frozen is not None else b"".join(self._chunks or ())
            self._frozen, self._chunks = data[:size], None
        else:
            assert self.path is not None
            os.truncate(self.path, size)

    def discard(self) -> None:
        """Drop the bytes now (a retried exchange's first answer)."""
        self.close()
        self._chunks, self._frozen = None, b""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _locked_mkdtemp(parent: Path | None, prefix: str) -> tuple[Path, int]:
    """A fresh directory under ``parent`` and its lock (held until the descriptor is
    closed, or the process dies)."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    while True:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.fstat(lock).st_nlink > 0:
            return path, lock
        os.close(lock)  # swept between its creation and our lock: another


@contextlib.contextmanager
def owned_tempdir(parent: Path, prefix: str = IMPORT_PREFIX) -> Iterator[Path]:
    """A temporary directory under ``parent`` (the archive's ``tmp``), locked for as
    long as the block runs and removed after it. Should the process be killed inside
    the block, :func:`sweep` removes what it left (``prefix`` must be one it sweeps)."""
    if not prefix.startswith(SWEPT):
        raise ValueError(f"{prefix!r} is not a prefix sweep() removes")
    path, lock = _locked_mkdtemp(parent, prefix)
    try:
        yield path
    finally:
        _remove_dir(str(path), lock)


def sweep(parent: Path) -> tuple[int, int]:
    """Remove the temporary directories under ``parent`` (fetch spools, WACZ imports)
    that no live process owns (their owner was killed); ``(files, bytes)`` removed. A
    directory whose lock is held is someone's work in progress and is left alone."""
    files = size = 0
    for directory in sorted(d for prefix in SWEPT for d in parent.glob(prefix + "*")):
        try:
            lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue  # gone meanwhile, or not a directory of ours
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        for file in directory.iterdir():
            with contextlib.suppress(OSError):
                size += file.lstat().st_size
                files += 1
        _remove_dir(str(directory), lock)
    return files, size


def _remove_dir(path: str, lock: int) -> None:
    """Unlink our own files and the directory (cheaper than rmtree's safe walk);
    anything unexpected falls back to rmtree. The lock goes last, with the directory."""
    directory = Path(path)
    try:
        for file in directory.iterdir():
            file.unlink()
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(lock)
