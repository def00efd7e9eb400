"""WARC files on disk, written so that a crash never leaves a half file under a real name.

A file is written as ``<name>.open``, flushed, fsynced, renamed to ``<name>`` and its
directory fsynced; only then may the database refer to it. Paths come from the clock,
a random id and the machine's host name, never from a URL. An fsync error is fatal
for that file (the kernel may have dropped the dirty pages; retrying on the same
descriptor would report success for lost data).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from archive.errors import StorageError
from archive.hashing import HashingWriter

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
        try:
            yield counting
            f.flush()
            self._fsync(f.fileno())
            f.close()
            tmp.rename(final)
            self._fsync_dir(final.parent)
        except BaseException as exc:
            _close_quietly(f)
            _remove_quietly(tmp)
            if isinstance(exc, OSError):
                raise StorageError(_os_message("writing WARC failed", tmp, exc), path=tmp) from exc
            raise
        counting.stored = StoredFile(
            relpath=(subdir / name).as_posix(), name=name, sha256=counting.digest,
            size=counting.size,
        )

    def _fsync_dir(self, directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            self._fsync(fd)
        finally:
            os.close(fd)

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
