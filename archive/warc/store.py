"""The one store interface: where WARC files live, whatever holds them.

Every reader and writer of WARC files goes through a :class:`WarcStore`, named by
relative paths (``YYYY/MM/DD/<name>.warc.gz``, POSIX separators) that the database
records. Two implementations keep the same guarantees:

- :class:`archive.warc.localstore.DirectoryStore`, a local directory (the default):
  ``.open`` name, fsync, rename, directory fsync;
- :class:`archive.warc.s3store.S3Store`, S3-compatible object storage
  (``ARCHIVE_STORE_URL=s3://bucket/prefix``): a local staging file uploaded whole
  with a SHA-256 checksum the server checks, the staging file removed once stored.

The contract both keep, which the crash guarantees of ``archive.capture.commit``
rest on: when :meth:`WarcStore.new_file` (or :meth:`WarcStore.copy_in`) returns,
the file is durable under its final name, and it stays *held* (:meth:`in_use`,
:meth:`claim`) until the writer calls :meth:`release` after its database commit, or
dies. A reconciler takes what no live writer holds and no row names
(:meth:`iter_files`), finishes a leftover ``.open`` file (:meth:`finish`) or moves it
out (:meth:`quarantine`); nothing is ever deleted. A read of a missing file raises
``FileNotFoundError`` on both stores; a local file that cannot be read raises the
:class:`OSError` the system gave, an object store that cannot be reached (or fails) a
:class:`~archive.errors.StorageError` naming the object, never taken for a bad file.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from archive.core.hashing import HashingWriter

OPEN_SUFFIX = ".open"
_HOST_SAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class StoredFile:
    relpath: str  # relative to the store root, POSIX separators
    name: str
    sha256: str
    size: int


class CountingFile:
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


def day_folder(moment: datetime) -> str:
    """The folder a file written at ``moment`` goes in: ``YYYY/MM/DD``."""
    return moment.strftime("%Y/%m/%d")


MISSING = (FileNotFoundError, IsADirectoryError)
"""What :meth:`WarcStore.open` or the first read of its stream raises when no file is
stored at the path (a folder there is no file either): a caller that reads anyway
needs no :meth:`WarcStore.exists` first, one request less per file on an object store."""


class WarcStore(Protocol):
    """What the library needs of a place that keeps WARC files (see the module doc)."""

    @property
    def location(self) -> str:
        """Where the store is, for a person: a folder, or ``s3://bucket/prefix``."""
        ...

    def new_file(self, moment: datetime, hostname: str
                 ) -> AbstractContextManager[CountingFile]:
        """Yield a writer; on clean exit the file is durable and ``writer.stored`` says
        where. It stays held until :meth:`release`."""
        ...

    def copy_in(self, src: Path, relpath: str, sha256: str) -> None:
        """Store a copy of ``src`` (whose hash is ``sha256``) durably as ``relpath``,
        held until :meth:`release`."""
        ...

    def release(self, relpath: str) -> None:
        """The writer's commit is done (or failed): the file is no longer in flight."""
        ...

    def locate(self, relpath: str) -> str:
        """Where one file is, for a person: a path or an ``s3://`` URL."""
        ...

    def exists(self, relpath: str) -> bool: ...

    def size(self, relpath: str) -> int: ...

    def modified(self, relpath: str) -> datetime:
        """When the file was last written (aware)."""
        ...

    def open(self, relpath: str) -> AbstractContextManager[BinaryIO]:
        """The whole file as a seekable binary stream."""
        ...

    def read_range(self, relpath: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (fewer only at the end of the file): one
        record's gzip member, read without reading the rest of the file."""
        ...

    def iter_files(self) -> Iterator[str]:
        """Every WARC file and leftover ``.open`` file, as relative paths."""
        ...

    def in_use(self, relpath: str) -> bool:
        """A live writer holds the file (between its write and its commit)."""
        ...

    def claim(self, relpath: str) -> AbstractContextManager[bool]:
        """Hold the file against writers for a reconciler: yields False (and holds
        nothing) when a live writer has it."""
        ...

    def finish(self, relpath: str) -> str:
        """A complete leftover ``.open`` file stored under its final name; returns it."""
        ...

    def quarantine(self, relpath: str, name: str) -> str:
        """Move the file out of the store to the quarantine as ``name`` (or a variant
        of it when that name is taken); returns the name used. Never deletes bytes."""
        ...


__all__ = ["MISSING", "OPEN_SUFFIX", "CountingFile", "StoredFile", "WarcStore", "day_folder",
           "warc_filename"]
