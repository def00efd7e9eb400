"""Files replaced atomically: the one way the library writes a file that a reader must
see entirely old or entirely new (a proof bundle, the sources file, the catalogue).

The bytes go to a temporary name in the same directory, are flushed and fsynced, then
renamed over the target, and the directory is fsynced. A crash leaves the old file or
the new one, never a mix; at worst a stray temporary file. WARC files and checkpoint
notes have stricter rules of their own (:mod:`archive.warc.store`,
:mod:`archive.proof.notes`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` durably; raises :class:`OSError` (the caller says
    what failed in its own terms). The temporary file is removed on failure."""
    with atomic_file(path) as f:
        f.write(data)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file to write that replaces ``path`` durably when the block ends, for what is
    too large to hold in memory whole; if the block raises, the temporary file is
    removed and ``path`` is left as it was."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["atomic_file", "atomic_write", "fsync_dir"]
