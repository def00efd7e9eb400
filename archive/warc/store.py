"""WARC files on disk, written so that a crash never leaves a half file under a real name.

A file is written as ``<name>.open``, flushed, fsynced, renamed to ``<name>`` and its
directory fsynced; only then may the database refer to it. From creation until the
writer's database commit, the writer holds an ``flock`` on the file (through the
rename: the lock follows the inode), and :meth:`WarcStore.in_use` tells a
reconciler or an audit not to touch it; the kernel drops the lock if the writer
dies. Paths come from the clock,
a random id and the machine's host name, never from a URL. An fsync error is fatal
for that file (the kernel may have dropped the dirty pages; retrying on the same
descriptor would report success for lost data).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from archive.core.hashing import HashingWriter
from archive.errors import StorageError

OPEN_SUFFIX = ".open"
_HOST_SAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class StoredFile:
    relpath: str  # relative to the store root, POSIX separators
    name: str
    sha256: str
    size: int


class _CountingFile:
    """File wrapper that hashes and counts what is written (the file hash costs no re-read)."""

    def __init__(self, f: BinaryIO, name: str) -> None:
        self._hw = HashingWriter(f)
        self.name = name
        self.stored: StoredFile | None = None  # set once the file is durable

    def write(self, data: bytes) -> int:
        return self._hw.write(data)

    @property
    def size(self) -> int:
        return self._hw.size

    @property
    def digest(self) -> str:
        return self._hw.digest


def warc_filename(moment: datetime, hostname: str, prefix: str = "ARCHIVE") -> str:
    """IIPC-style ``Prefix-Timestamp-Serial-Host.warc.gz``; the serial is random, so
    concurrent writers on one host never pick the same name."""
    stamp = moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    host = _HOST_SAFE.sub("-", hostname)[:63] or "host"
    return f"{prefix}-{stamp}-{secrets.token_hex(6)}-{host}.warc.gz"


class WarcStore:
    def __init__(self, root: Path, *, fsync: Callable[[int], None] = os.fsync,
                 namer: Callable[[datetime, str], str] = warc_filename) -> None:
        self.root = root
        self._fsync = fsync
        self._namer = namer
        self._locks: dict[str, int] = {}  # relpath -> fd holding the writer's flock
        self._locks_guard = threading.Lock()

    def hold(self, path: Path) -> None:
        """Lock a file this process is writing until :meth:`release` (or process death)."""
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._locks_guard:
            self._locks[self.relpath(path).removesuffix(OPEN_SUFFIX)] = fd

    def release(self, relpath: str) -> None:
        """The writer's commit is done (or failed): the file is no longer in flight."""
        with self._locks_guard:
            fd = self._locks.pop(relpath.removesuffix(OPEN_SUFFIX), None)
        if fd is not None:
            os.close(fd)

    @staticmethod
    def try_lock(path: Path) -> int | None:
        """An fd holding the file's lock, or None when a live writer holds it."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def in_use(self, path: Path) -> bool:
        fd = self.try_lock(path)
        if fd is None:
            return path.exists()
        os.close(fd)
        return False

    def path(self, relpath: str) -> Path:
        p = (self.root / relpath).resolve()
        if self.root.resolve() not in p.parents:
            raise StorageError(f"refusing a path outside the store: {relpath!r}")
        return p

    @contextmanager
    def new_file(self, moment: datetime, hostname: str) -> Iterator[_CountingFile]:
        """Yield a writer; on clean exit the file is durable and ``writer.stored`` says where."""
        subdir = Path(moment.strftime("%Y/%m/%d"))
        name = self._namer(moment, hostname)
        final = self.root / subdir / name
        tmp = final.with_name(name + OPEN_SUFFIX)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StorageError(_os_message("cannot create WARC file", tmp, exc), path=tmp) from exc
        f = os.fdopen(fd, "wb", buffering=1 << 20)
        counting = _CountingFile(f, name)
        self.hold(tmp)
        try:
            yield counting
            f.flush()
            self._fsync(f.fileno())
            f.close()
            tmp.rename(final)
            self.fsync_dir(final.parent)
        except BaseException as exc:
            _close_quietly(f)
            _remove_quietly(tmp)
            self.release(self.relpath(final))
            if isinstance(exc, OSError):
                raise StorageError(_os_message("writing WARC failed", tmp, exc), path=tmp) from exc
            raise
        counting.stored = StoredFile(
            relpath=(subdir / name).as_posix(), name=name, sha256=counting.digest,
            size=counting.size,
        )

    def fsync_dir(self, directory: Path) -> None:
        """Make a rename or unlink in ``directory`` durable."""
        fd = os.open(directory, os.O_RDONLY)
        try:
            self._fsync(fd)
        finally:
            os.close(fd)

    def copy_in(self, src: Path, relpath: str) -> Path:
        """Copy ``src`` to ``relpath`` the same way :meth:`new_file` writes: ``.open``
        name, fsync, rename, directory fsync, locked until :meth:`release`."""
        target = self.root / relpath
        tmp = target.with_name(target.name + OPEN_SUFFIX)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with src.open("rb") as fin, tmp.open("xb") as fout:
                self.hold(tmp)
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                self._fsync(fout.fileno())
            tmp.rename(target)
            self.fsync_dir(target.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.release(relpath)
            raise StorageError(_os_message(f"cannot store a copy of {src.name}", tmp, exc),
                               path=src) from exc
        return target

    def iter_files(self) -> Iterator[Path]:
        """Every WARC and leftover ``.open`` file under the store."""
        if not self.root.exists():
            return
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and p.name.endswith((".warc.gz", ".warc", OPEN_SUFFIX)):
                yield p

    def relpath(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()


def _os_message(what: str, path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        why = "the disk is full; free space and capture again"
    elif exc.errno == errno.EDQUOT:
        why = "the disk quota is exceeded"
    elif exc.errno == errno.EFBIG:
        why = "the file size limit was reached"
    else:
        why = exc.strerror or str(exc)
    return f"{what}: {why} ({path}); nothing was recorded"


def _close_quietly(f: BinaryIO) -> None:
    with contextlib.suppress(OSError):
        f.close()


def _remove_quietly(p: Path) -> None:
    p.unlink(missing_ok=True)
