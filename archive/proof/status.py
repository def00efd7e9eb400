"""Whether the custody log is sound, with whatever signing key the archive has: the
hash chain re-hashed, every signed checkpoint re-checked against it and its filed
notes, and the notes a crash left unfiled written out.

No key means nothing was ever signed: there is then nothing to check (unless notes are
filed, which is a problem) and nothing to file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine

from archive.core.config import Settings
from archive.errors import ConfigError
from archive.ledger.db import read
from archive.proof import logcheck, logtree
from archive.proof.identity import load_identity


@dataclass
class CustodyStatus:
    """Result of :meth:`archive.api.Archive.check_custody`."""

    events: int = 0
    checkpoint_size: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def custody_status(engine: Engine, settings: Settings, *, since_checkpoint: bool = False,
                   ) -> CustodyStatus:
    """The chain re-hashed and every signed checkpoint re-checked against the leaves
    that same pass recomputed (:func:`archive.proof.logcheck.check_log`); with
    ``since_checkpoint``, the events since the latest signed checkpoint only, linked to
    it (:func:`archive.proof.logcheck.check_since_checkpoint`)."""
    check = logcheck.check_since_checkpoint if since_checkpoint else logcheck.check_log
    with read(engine) as conn:
        count, size, problems = check(conn, settings.key_dir, settings.note_dirs)
    return CustodyStatus(count, size, problems)


def checkpoint_check(settings: Settings,
                     ) -> Callable[[Connection, bytearray], list[str]] | None:
    """What ``archive verify`` runs on the leaves its chain pass recomputed: every signed
    checkpoint and filed note checked (see
    :func:`archive.proof.logcheck.check_checkpoints_against`); None without a key yet
    (nothing has been signed, nothing to check)."""
    try:
        ident = load_identity(settings.key_dir, need_private=False)
    except ConfigError:
        return None
    return functools.partial(logcheck.check_checkpoints_against, ident=ident,
                             note_dirs=settings.note_dirs)


def file_pending_notes(engine: Engine, settings: Settings) -> list[Path]:
    """File the notes of signed checkpoints that a crash left recorded but not written
    out; none without a key (nothing was ever signed)."""
    try:
        ident = load_identity(settings.key_dir, need_private=False)
    except ConfigError:
        return []
    return logtree.write_pending_notes(engine, ident, settings.note_dirs)


__all__ = ["CustodyStatus", "checkpoint_check", "custody_status", "file_pending_notes"]
