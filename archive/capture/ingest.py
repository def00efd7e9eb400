"""Ingest: local documents stored as ``resource`` records, each a capture.

Every path is read and judged before anything is stored, so one bad path (not a
regular file, unreadable, empty) stores none of them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from archive.capture.record import Recorder
from archive.capture.results import CaptureResult
from archive.errors import ConfigError
from archive.ledger.custody import Agent


def ingest(recorder: Recorder, paths: Iterable[Path], *, agent: Agent, url: str | None = None,
           content_type: str | None = None) -> list[CaptureResult]:
    """Store these documents in one WARC file and one transaction; a path that is not a
    non-empty regular file is a :class:`ConfigError` and nothing is stored."""
    prepared = [recorder.prepare_document(
        read_document(p), name=p.name, url=url, content_type=content_type, agent=agent)
        for p in paths]
    return recorder.record(prepared, agent)


def read_document(path: Path) -> bytes:
    """The bytes of a document to ingest: a regular, non-empty file. A FIFO or a device
    would block or never end, and an empty file is not a document."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # judged before opening: a FIFO blocks
            raise ConfigError(f"cannot ingest {path}: not a regular file", path=path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # swapped for a FIFO meanwhile
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ConfigError(f"cannot ingest {path}: not a regular file", path=path)
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    if not data:
        raise ConfigError(f"cannot ingest {path}: the file is empty (0 bytes)", path=path)
    return data


__all__ = ["ingest", "read_document"]
