"""Checking the custody log as a transparency log: every signed checkpoint against the
events, each with the next, and the note and token files against the database.

What a crash can leave (a checkpoint row whose note is not filed yet: *pending*, see
:mod:`archive.proof.logtree`) is never reported. The other way round is never a crash's
doing, so it always is: a note file the database does not hold (a checkpoint deleted or
rewritten there), a file whose content is not the note its name commits to, a row
missing its file while a later row has one (the file was removed), a token file that is
not a stored token of its checkpoint, a stored token missing beside its filed note while
a later token is filed (removed), and a stored block hash (``log_nodes``) that is not the
hash of its events.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from archive.core.hashing import digest_bytes, format_digest
from archive.errors import ArchiveError, IntegrityError
from archive.ledger.custody import check_chain, iter_events
from archive.ledger.db import read
from archive.ledger.tables import checkpoint_timestamps, checkpoints, log_head
from archive.proof import checkpoint as cp
from archive.proof import notes
from archive.proof import timestamps as ts
from archive.proof.identity import LogIdentity, load_identity
from archive.proof.lognodes import check_stored_nodes
from archive.proof.logtree import (
    StoredCheckpoint,
    check_recent,
    checkpoint_of,
    pending_notes,
    stored_tokens,
    timestamp_of,
    unfiled_tokens,
)
from archive.proof.merkle import MerkleTree, leaf_hash, verify_consistency


def check_checkpoints(engine: Engine, ident: LogIdentity, note_dirs: Sequence[Path] = (),
                      ) -> list[str]:
    """Every stored checkpoint: signature valid, root equal to the recomputed tree root,
    and each consistent with the next; then the note files of ``note_dirs`` against the
    database and the log, both ways (see the module docstring). Returns one message per
    problem."""
    with read(engine) as conn:
        # Leaves recomputed from each event's fields, not read from the stored column:
        # verification must not trust what it is verifying.
        leaves = b"".join(leaf_hash(ev.entry_bytes()) for ev in iter_events(conn))
        return check_checkpoints_against(conn, leaves, ident, note_dirs)


def _latest_size(conn: Connection) -> int | None:
    """The size the latest stored checkpoint row claims (unchecked), or None."""
    size = conn.execute(select(checkpoints.c.size).order_by(checkpoints.c.id.desc())
                        .limit(1)).scalar()
    return None if size is None else int(size)


def check_log(conn: Connection, key_dir: Path, note_dirs: Sequence[Path] = (),
              ) -> tuple[int, int | None, list[str]]:
    """The custody chain re-hashed and, once anything was signed (a checkpoint row or a
    note file), every checkpoint checked against the tree of the leaves that same pass
    recomputed (each event encoded once). Returns (events, size of the latest checkpoint,
    problems)."""
    latest = _latest_size(conn)
    signed = latest is not None or any(d.is_dir() and any(d.glob("*.note"))
                                       for d in note_dirs)
    leaves = bytearray()
    count, chain = check_chain(conn, on_leaf=leaves.extend if signed else None)
    problems = [p.message for p in chain]
    if signed:
        try:
            ident = load_identity(key_dir, need_private=False)
        except ArchiveError as exc:
            problems.append(f"checkpoints exist but cannot be checked: {exc}")
        else:
            problems += check_checkpoints_against(conn, leaves, ident, note_dirs)
    return count, latest, problems


def check_since_checkpoint(conn: Connection, key_dir: Path, note_dirs: Sequence[Path] = (),
                           ) -> tuple[int, int | None, list[str]]:
    """What a run checks of the log for each of its captures, in time that does not grow
    with the log: once anything is signed, the events since the latest checkpoint
    re-hashed and linked to it, the stored tree consistent with its signed root
    (:func:`archive.proof.logtree.check_recent`, what the signer checks). Before that,
    the whole chain (:func:`check_log`: there is no signed root to start from). Returns
    (events re-hashed, size of the latest checkpoint, problems)."""
    latest = _latest_size(conn)
    if latest is None:
        return check_log(conn, key_dir, note_dirs)
    try:
        ident = load_identity(key_dir, need_private=False)
    except ArchiveError as exc:
        return 0, latest, [f"checkpoints exist but cannot be checked: {exc}"]
    size = int(conn.execute(select(log_head.c.size).where(log_head.c.id == 1)).scalar_one())
    recent = check_recent(conn, size, ident)
    return recent.events, latest, list(recent.problems)


def check_checkpoints_against(conn: Connection, leaves: bytes | bytearray, ident: LogIdentity,
                              note_dirs: Sequence[Path] = ()) -> list[str]:
    """:func:`check_checkpoints` given the log's leaf hashes (32 bytes each, in order)
    recomputed from every event's fields by a chain pass in the same read transaction as
    ``conn`` (``archive verify``, :func:`check_log`), so each event is encoded once."""
    tree = MerkleTree(bytes(leaves[i:i + 32]) for i in range(0, len(leaves), 32))
    problems: list[str] = []
    rows = [checkpoint_of(r) for r in conn.execute(select(checkpoints).order_by(checkpoints.c.id))]
    stamps: dict[int, list[ts.Timestamp]] = {}
    for r in conn.execute(select(checkpoint_timestamps).order_by(checkpoint_timestamps.c.id)):
        stamps.setdefault(r.checkpoint_id, []).append(timestamp_of(r))
    size = tree.size
    prev: StoredCheckpoint | None = None
    for c in rows:
        try:
            parsed = cp.parse_and_verify(c.note, ident.public_key, ident.origin)
        except IntegrityError as exc:
            problems.append(f"checkpoint {c.id}: {exc}")
            continue
        if parsed.size != c.size or format_digest(parsed.root) != c.root_hash:
            problems.append(f"checkpoint {c.id}: its row (size {c.size}, {c.root_hash}) "
                            "differs from its signed note")
        if parsed.size > size:
            problems.append(f"checkpoint {c.id} covers {parsed.size} events but the log has "
                            f"only {size}: events were removed")
            continue
        if tree.root(parsed.size) != parsed.root:
            problems.append(f"checkpoint {c.id} (size {parsed.size}): the log's events no "
                            "longer hash to its signed root; an event was changed or removed")
        if prev is not None and prev.size <= parsed.size:
            proof = tree.consistency_proof(prev.size, parsed.size)
            if not verify_consistency(prev.size, parsed.size,
                                      digest_bytes(prev.root_hash), parsed.root, proof):
                problems.append(f"checkpoints {prev.id} and {c.id} are not consistent")
        prev = c
    problems += check_stored_nodes(conn, tree)
    for c in rows:
        problems += _check_tokens(c, stamps.get(c.id, []))
    tokens = stored_tokens(conn) if note_dirs else []
    for directory in note_dirs:
        filed = notes.read_notes(directory)
        problems += _check_notes(directory, filed, rows, tree, ident)
        problems += _check_token_files(directory, set(filed), rows, stamps, tokens)
    return problems


def _check_tokens(c: StoredCheckpoint, stamps: Sequence[ts.Timestamp]) -> list[str]:
    """Each stored token is over this checkpoint's note, and its cached time and serial
    are the token's (the TSA's signature needs roots the verifier trusts:
    ``verify-bundle --tsa-root``)."""
    problems = []
    for t in stamps:
        if t.response is None:
            continue
        where = f"checkpoint {c.id}: the timestamp token from {t.tsa}"
        try:
            facts = ts.token_facts(t.response, c.note)
        except IntegrityError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if (facts.gen_time, facts.serial) != (t.gen_time, t.serial):
            problems.append(f"{where}: its row (time {t.gen_time}, serial {t.serial}) differs "
                            f"from the token (time {facts.gen_time}, serial {facts.serial})")
    return problems


def _check_token_files(directory: Path, notes_filed: set[str],
                       rows: Sequence[StoredCheckpoint],
                       stamps: dict[int, list[ts.Timestamp]],
                       tokens: Sequence[tuple[int, int, bytes]]) -> list[str]:
    """Every token filed in ``directory`` (beside the notes ``notes_filed`` names) is a
    stored token of the checkpoint whose note it is filed beside, and no stored token of
    a filed note is missing there while a later one is filed (see
    :func:`~archive.proof.logtree.unfiled_tokens`)."""
    problems = []
    by_stem = {notes.note_filename(c.size, c.note).removesuffix(notes.SUFFIX): c for c in rows}
    filed = notes.read_tokens(directory)
    for name, data in filed.items():
        c = by_stem.get(notes.token_note_stem(name))
        where = f"timestamp token {directory / name}"
        if c is None:
            problems.append(f"{where} belongs to no checkpoint in the database")
        elif notes.token_filename(c.size, c.note, data) != name:
            problems.append(f"{where}: its content is not the token its name commits to; "
                            "the file was changed")
        elif data not in {t.response for t in stamps.get(c.id, [])}:
            problems.append(f"{where} is not stored with checkpoint {c.id} in the database")
    _, removed = unfiled_tokens(rows, tokens, notes_filed, set(filed))
    problems += [f"checkpoint {t.checkpoint.id} (size {t.checkpoint.size}) has no timestamp "
                 f"token file {t.filename} in {directory}, though later tokens do: the file "
                 "was removed" for t in removed if t.over_its_note()]
    return problems


def _check_notes(directory: Path, files: dict[str, str], rows: Sequence[StoredCheckpoint],
                 tree: MerkleTree, ident: LogIdentity) -> list[str]:
    """The note files of ``directory`` (``files``: name to text) against the database
    and the log, both ways (see the module docstring)."""
    problems: list[str] = []
    by_name = {notes.note_filename(c.size, c.note): c for c in rows}
    for name, text in files.items():
        where = f"checkpoint note {directory / name}"
        if not notes.matches_name(name, text):
            problems.append(f"{where}: its content is not the note its name commits to; "
                            "the file was changed")
            continue
        try:
            parsed = cp.parse_and_verify(text, ident.public_key, ident.origin)
        except IntegrityError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if name not in by_name:
            problems.append(f"{where} (size {parsed.size}) has no checkpoint in the database: "
                            "a checkpoint was deleted or rewritten there")
        if parsed.size > tree.size:
            problems.append(f"{where} covers {parsed.size} events but the log has only "
                            f"{tree.size}: events were removed")
        elif tree.root(parsed.size) != parsed.root:
            problems.append(f"{where} (size {parsed.size}): the log's events no longer hash "
                            "to its signed root; the log was rewritten")
    pending = {c.id for c in pending_notes(rows, set(files))}
    for c in rows:
        name = notes.note_filename(c.size, c.note)
        if name not in files and c.id not in pending:
            problems.append(f"checkpoint {c.id} (size {c.size}) has no note file {name} in "
                            f"{directory}, though later checkpoints do: the file was removed")
    return problems


__all__ = ["check_checkpoints", "check_checkpoints_against", "check_log",
           "check_since_checkpoint"]
