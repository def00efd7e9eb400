"""WARC files in a local directory, written so that a crash never leaves a half file
under a real name (the default :class:`~archive.warc.store.WarcStore`).

A file is written as ``<name>.open``, flushed, fsynced, renamed to ``<name>`` and its
directory fsynced; only then may the database refer to it. From creation until the
writer's database commit, the writer holds an ``flock`` on the file (through the
rename: the lock follows the inode), and :meth:`DirectoryStore.in_use` tells a
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
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from archive.errors import StorageError
from archive.warc.store import OPEN_SUFFIX, CountingFile, StoredFile, day_folder, warc_filename


class DirectoryStore:
    def __init__(self, root: Path, *, quarantine_dir: Path | None = None,
                 fsync: Callable[[int], None] = os.fsync,
                 namer: Callable[[datetime, str], str] = warc_filename) -> None:
        self.root = root
        self.quarantine_dir = quarantine_dir or root.parent / "quarantine"
        self._fsync = fsync
        self._namer = namer
        self._locks: dict[str, int] = {}  # relpath -> fd holding the writer's flock
        self._locks_guard = threading.Lock()

    @property
    def location(self) -> str:
        return str(self.root)

    def locate(self, relpath: str) -> str:
        return str(self.root / relpath)

    def hold(self, path: Path) -> None:
        """Lock a file this process is writing until :meth:`release` (or process death)."""
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._locks_guard:
            self._locks[self.relpath(path).removesuffix(OPEN_SUFFIX)] = fd

    def release(self, relpath: str) -> None:
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

    def in_use(self, relpath: str) -> bool:
        path = self.root / relpath
        fd = self.try_lock(path)
        if fd is None:
            return path.exists()
        os.close(fd)
        return False

    @contextmanager
    def claim(self, relpath: str) -> Iterator[bool]:
        fd = self.try_lock(self.root / relpath)
        try:
            yield fd is not None
        finally:
            if fd is not None:
                os.close(fd)

    def path(self, relpath: str) -> Path:
        p = (self.root / relpath).resolve()
        if self.root.resolve() not in p.parents:
            raise StorageError(f"refusing a path outside the store: {relpath!r}")
        return p

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).is_file()

    def size(self, relpath: str) -> int:
        return self.path(relpath).stat().st_size

    def modified(self, relpath: str) -> datetime:
        return datetime.fromtimestamp(self.path(relpath).stat().st_mtime, UTC)

    @contextmanager
    def open(self, relpath: str) -> Iterator[BinaryIO]:
        with self.path(relpath).open("rb") as f:
            yield f

    def read_range(self, relpath: str, offset: int, length: int) -> bytes:
        with self.path(relpath).open("rb") as f:
            f.seek(offset)
            return f.read(length)

    @contextmanager
    def new_file(self, moment: datetime, hostname: str) -> Iterator[CountingFile]:
        """Yield a writer; on clean exit the file is durable and ``writer.stored`` says where."""
        subdir = Path(day_folder(moment))
        name = self._namer(moment, hostname)
        final = self.root / subdir / name
        tmp = final.with_name(name + OPEN_SUFFIX)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StorageError(os_message("cannot create WARC file", tmp, exc), path=tmp) from exc
        f = os.fdopen(fd, "wb", buffering=1 << 20)
        counting = CountingFile(f, name)
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
            tmp.unlink(missing_ok=True)
            self.release(self.relpath(final))
            if isinstance(exc, OSError):
                raise StorageError(os_message("writing WARC failed", tmp, exc), path=tmp) from exc
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

    def copy_in(self, src: Path, relpath: str, sha256: str = "") -> None:
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
            raise StorageError(os_message(f"cannot store a copy of {src.name}", tmp, exc),
                               path=src) from exc

    def iter_files(self) -> Iterator[str]:
        """Every WARC and leftover ``.open`` file under the store."""
        if not self.root.exists():
            return
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and p.name.endswith((".warc.gz", ".warc", OPEN_SUFFIX)):
                yield self.relpath(p)

    def finish(self, relpath: str) -> str:
        path = self.path(relpath)
        final = path.with_name(path.name.removesuffix(OPEN_SUFFIX))
        path.rename(final)
        self.fsync_dir(final.parent)
        return self.relpath(final)

    def quarantine(self, relpath: str, name: str) -> str:
        path = self.path(relpath)
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / name
        if target.exists():  # the same bytes were quarantined before: keep both
            target = target.with_name(f"{name}.{os.getpid()}-{secrets.token_hex(4)}")
        path.rename(target)
        self.fsync_dir(target.parent)
        self.fsync_dir(path.parent)
        return target.name

    def relpath(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()


def os_message(what: str, path: Path | str, exc: OSError) -> str:
    """One line for a failed write: what, why (disk full, quota, ...), where."""
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


__all__ = ["DirectoryStore", "os_message"]
