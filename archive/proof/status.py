"""Whether the custody log is sound, with whatever signing key the archive has: the
hash chain re-hashed, every signed checkpoint re-checked against it and its filed
notes, and the notes a crash left unfiled written out.

No key means nothing was ever signed: there is then nothing to check (unless notes are
filed, which is a problem) and nothing to file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from archive.core.config import Settings
from archive.errors import ArchiveError, ConfigError
from archive.ledger.custody import check_chain
from archive.ledger.db import read
from archive.proof import logtree


@dataclass
class CustodyStatus:
    """Result of :meth:`archive.api.Archive.check_custody`."""

    events: int = 0
    checkpoint_size: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def custody_status(engine: Engine, settings: Settings) -> CustodyStatus:
    """The chain re-hashed and every signed checkpoint re-checked against it."""
    with read(engine) as conn:
        count, chain_problems = check_chain(conn)
    status = CustodyStatus(count, None, [p.message for p in chain_problems])
    latest = logtree.latest_checkpoint(engine)
    filed = any(d.is_dir() and any(d.glob("*.note")) for d in settings.note_dirs)
    if latest is not None or filed:
        status.checkpoint_size = latest.size if latest is not None else None
        try:
            ident = logtree.load_identity(settings.key_dir, need_private=False)
        except ArchiveError as exc:
            status.problems.append(f"checkpoints exist but cannot be checked: {exc}")
        else:
            status.problems += logtree.check_checkpoints(engine, ident, settings.note_dirs)
    return status


def checkpoint_problems(engine: Engine, settings: Settings) -> list[str]:
    """Every signed checkpoint and filed note checked (see
    :func:`archive.proof.logtree.check_checkpoints`); none without a key yet."""
    try:
        ident = logtree.load_identity(settings.key_dir, need_private=False)
    except ConfigError:
        return []  # no key yet: nothing has been signed, nothing to check
    return logtree.check_checkpoints(engine, ident, settings.note_dirs)


def file_pending_notes(engine: Engine, settings: Settings) -> list[Path]:
    """File the notes of signed checkpoints that a crash left recorded but not written
    out; none without a key (nothing was ever signed)."""
    try:
        ident = logtree.load_identity(settings.key_dir, need_private=False)
    except ConfigError:
        return []
    return logtree.write_pending_notes(engine, ident, settings.note_dirs)


__all__ = ["CustodyStatus", "checkpoint_problems", "custody_status", "file_pending_notes"]
