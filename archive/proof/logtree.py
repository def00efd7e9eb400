"""The custody log as a transparency log: signed checkpoints and proofs from the DB.

The tree's leaves are the events in ``seq`` order (leaf hash stored per event). A
checkpoint is taken under the log-head lock, so its size and root describe one
consistent prefix of the log even while other runs append.

Each signed note is also kept as a file (:mod:`archive.proof.notes`) in every directory of
``note_dirs``. Crash ordering: the database row commits first, then the note files are
written and fsynced. A crash in between leaves a recorded checkpoint without its file,
which is harmless (the row is signed and checked) and never reported: a row newer than
every note filed in a directory is *pending*, and the next checkpoint or
``archive reconcile`` writes it. The other way round is never a crash's doing, so
:mod:`archive.proof.logcheck` always reports it.

RFC 3161 timestamps: after the row commits and its note is filed, every TSA the operator
named is asked for a token over the note (:mod:`archive.proof.tsa`; never while the
log-head lock is held, since a TSA may take its whole deadline). Each answer, a token or
the reason there is none, is stored in ``checkpoint_timestamps``, and each token is
filed beside the note (:mod:`archive.proof.notes`). A crash before the answers are
stored leaves a checkpoint without tokens: harmless, it is signed and the next one dates
it. A crash after, before the files are written, leaves tokens the database holds and
the directory does not: a token stored after every token filed in a directory is
*pending* too, and the next checkpoint or ``archive reconcile`` files it. One missing
while a later one is filed was removed: that is reported, never quietly written again.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from archive.core.hashing import digest_bytes, format_digest
from archive.core.timeutil import iso_utc, utc_now
from archive.errors import ConfigError, IntegrityError, NotFoundError
from archive.ledger.custody import check_chain
from archive.ledger.db import inserted_id, read, run_write
from archive.ledger.queries import ShownCapture
from archive.ledger.tables import checkpoint_timestamps, checkpoints, log_head
from archive.proof import checkpoint as cp
from archive.proof import notes
from archive.proof import timestamps as ts
from archive.proof.identity import LogIdentity
from archive.proof.lognodes import LogTree
from archive.proof.merkle import verify_consistency, verify_inclusion
from archive.proof.tsa import Stamper


def tree_at(conn: Connection, size: int) -> LogTree:
    """The log's tree at ``size`` events, from stored block hashes (see
    :mod:`archive.proof.lognodes`); ask it for proofs while ``conn`` is open."""
    return LogTree(conn, size)


@dataclass(frozen=True)
class StoredCheckpoint:
    id: int
    size: int
    root_hash: str  # sha256:<hex>
    origin: str
    note: str
    created_at: str
    timestamps: tuple[ts.Timestamp, ...] = ()  # every TSA's answer (tokens and failures)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "size": self.size, "root_hash": self.root_hash,
                "origin": self.origin, "note": self.note, "created_at": self.created_at,
                "timestamps": [t.to_json() for t in self.timestamps]}


@dataclass(frozen=True)
class EventProof:
    """One custody event's RFC 9162 inclusion proof (base64 hashes, leaf to root)."""

    seq: int
    type: str
    event_hash: str  # sha256:<hex>
    proof: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "event_hash": self.event_hash,
                "proof": list(self.proof)}


@dataclass(frozen=True)
class InclusionProofs:
    """What ``archive prove`` gives: a checkpoint, the captures it is about, the proof of
    each of their events the checkpoint covers, and how many it does not cover yet."""

    checkpoint: StoredCheckpoint
    capture_ids: tuple[str, ...]
    inclusion: tuple[EventProof, ...]
    not_yet_checkpointed: int

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint.to_json(), "capture_ids": list(self.capture_ids),
                "inclusion": [p.to_json() for p in self.inclusion],
                "not_yet_checkpointed": self.not_yet_checkpointed}


@dataclass(frozen=True)
class ConsistencyProof:
    """What ``archive consistency`` gives: two checkpoints, the RFC 9162 consistency
    proof between them (base64) and whether it verified."""

    old: StoredCheckpoint
    new: StoredCheckpoint
    proof: tuple[str, ...]
    verified: bool

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old.to_json(), "new": self.new.to_json(), "proof": list(self.proof),
                "verified": self.verified}


def checkpoint_of(r: Any) -> StoredCheckpoint:
    return StoredCheckpoint(r.id, int(r.size), r.root_hash, r.origin, r.note,
                            r.created_at)


def make_checkpoint(engine: Engine, ident: LogIdentity, note_dirs: Sequence[Path] = (),
                    stamper: Stamper | None = None) -> StoredCheckpoint:
    """Sign the current log head, store the note, then file it in ``note_dirs`` (with
    any earlier note still pending there); then, with a ``stamper``, ask the TSAs for
    tokens over the note and keep every answer (see the module docstring).

    The signer signs only what it has checked (:func:`_checked_tree`): a database edited
    by someone without the key raises :class:`IntegrityError` here and nothing is signed,
    rather than a note over a log that never was going out to every mirror."""
    if ident.private_key is None:
        raise ConfigError("signing a checkpoint needs the private key")
    key = ident.private_key

    def work(conn: Connection) -> StoredCheckpoint:
        size = int(conn.execute(select(log_head.c.size).where(log_head.c.id == 1)
                                .with_for_update()).scalar_one())
        tree = _checked_tree(conn, size, ident)
        root = tree.root()
        tree.store_computed(conn)  # the next proof reads these instead of the leaves
        note = cp.sign(cp.Checkpoint(ident.origin, size, root), key, ident.origin)
        now = iso_utc(utc_now())
        pk = inserted_id(conn.execute(insert(checkpoints).values(
            size=size, root_hash=format_digest(root), origin=ident.origin,
            key_fingerprint=ident.fingerprint, note=note,
            created_at=now)))
        return StoredCheckpoint(pk, size, format_digest(root), ident.origin, note, now)

    made = run_write(engine, work)
    write_pending_notes(engine, ident, note_dirs)
    if stamper is None:
        return made
    stamps = stamper(made.note)
    store_timestamps(engine, made.id, stamps)
    write_pending_notes(engine, ident, note_dirs)  # files the tokens beside the note
    return replace(made, timestamps=stamps)


def _checked_tree(conn: Connection, size: int, ident: LogIdentity) -> LogTree:
    """The tree a new checkpoint signs, from what the signer has checked itself
    (:func:`check_recent`); raises :class:`IntegrityError` on the first problem."""
    recent = check_recent(conn, size, ident)
    if recent.tree is None:
        raise IntegrityError(f"not signing: {recent.problems[0]}; run `archive verify`")
    return recent.tree


@dataclass(frozen=True)
class Recent:
    """What :func:`check_recent` found: ``since``, the size of the last signed
    checkpoint (0 without one); ``events``, how many events it re-hashed; the log's
    tree at the size asked for when there is no problem."""

    since: int
    events: int
    problems: tuple[str, ...] = ()
    tree: LogTree | None = None


def check_recent(conn: Connection, size: int, ident: LogIdentity) -> Recent:
    """The events since the last signed checkpoint re-hashed from their fields and
    linked to it (their stored leaf hashes unused), and the stored tree up to that
    checkpoint consistent with its signed root (RFC 9162 consistency proof).

    What a signer checks before signing, and what a run checks of the log for each of
    its captures: it costs what was appended since the checkpoint (plus a stored block
    hash per 256 events), never the whole log. An event the checkpoint covers is vouched
    for by its signed root and the stored block hashes: an edit of its row is found by
    :func:`archive.proof.logcheck.check_log`, which re-hashes every event (``archive
    verify``, the fixity audit, the run's ``custody_log_consistent`` check). A
    checkpoint that does not verify, or a broken chain since it, ends the check."""
    row = conn.execute(select(checkpoints).order_by(checkpoints.c.id.desc()).limit(1)).first()
    last: cp.Checkpoint | None = None
    last_id = None if row is None else row.id
    if row is not None:
        try:
            last = cp.parse_and_verify(row.note, ident.public_key, ident.origin)
        except IntegrityError as exc:
            return Recent(0, 0, (f"checkpoint {row.id} does not verify under this archive's "
                                 f"key ({exc})",))
        if last.size > size:
            return Recent(last.size, 0, (f"checkpoint {row.id} covers {last.size} events but "
                                         f"the log holds {size}",))
    since = last.size if last is not None else 0
    fresh = bytearray()
    count, problems = check_chain(conn, on_leaf=fresh.extend, since=since)
    if problems:
        return Recent(since, count, tuple(p.message for p in problems))
    try:
        tree = LogTree(conn, size, trusted_below=since, fresh=(since, bytes(fresh)))
        if last is not None and not verify_consistency(
                last.size, size, last.root, tree.root(), tree.consistency_proof(last.size)):
            return Recent(since, count, (f"the stored log no longer extends checkpoint "
                                         f"{last_id} (size {last.size})",))
        tree.check_untrusted()
    except IntegrityError as exc:  # a stored block hash that is not its events'
        return Recent(since, count, (str(exc),))
    return Recent(since, count, (), tree)


def store_timestamps(engine: Engine, checkpoint_id: int,
                     stamps: Sequence[ts.Timestamp]) -> None:
    """Keep every TSA's answer to one checkpoint (tokens and failures alike)."""
    if not stamps:
        return

    def work(conn: Connection) -> None:
        conn.execute(insert(checkpoint_timestamps), [
            {"checkpoint_id": checkpoint_id, "tsa_url": t.tsa, "requested_at": t.requested_at,
             "response": t.response, "gen_time": t.gen_time, "serial": t.serial,
             "error": t.error} for t in stamps])

    run_write(engine, work)


def stored_timestamps(conn: Connection, checkpoint_id: int) -> tuple[ts.Timestamp, ...]:
    """Every TSA answer stored for a checkpoint, in the order they were stored."""
    rows = conn.execute(select(checkpoint_timestamps)
                        .where(checkpoint_timestamps.c.checkpoint_id == checkpoint_id)
                        .order_by(checkpoint_timestamps.c.id)).all()
    return tuple(timestamp_of(r) for r in rows)


def timestamp_of(r: Any) -> ts.Timestamp:
    return ts.Timestamp(r.tsa_url, r.requested_at,
                        bytes(r.response) if r.response is not None else None,
                        r.gen_time, r.serial, r.error)


def pending_notes(rows: Sequence[StoredCheckpoint], filed: set[str]) -> list[StoredCheckpoint]:
    """Rows newer than every row whose note is filed: those a crash (or a concurrent
    writer) may not have filed yet."""
    newest = max((c.id for c in rows if notes.note_filename(c.size, c.note) in filed),
                 default=0)
    return [c for c in rows if c.id > newest and notes.note_filename(c.size, c.note)
            not in filed]


def write_pending_notes(engine: Engine, ident: LogIdentity, note_dirs: Sequence[Path],
                        ) -> list[Path]:
    """File the notes of pending checkpoints (see the module docstring) that verify
    under the archive's key, oldest first, then the pending timestamp tokens of filed
    notes (a crash between storing a token and filing it, or a mirror directory added
    later); returns the files written."""
    if not note_dirs:
        return []
    with read(engine) as conn:
        rows = [checkpoint_of(r)
                for r in conn.execute(select(checkpoints).order_by(checkpoints.c.id))]
        tokens = stored_tokens(conn)
    written = []
    for directory in note_dirs:
        filed = notes.filed_names(directory, notes.SUFFIX)
        for c in pending_notes(rows, filed):
            try:
                cp.parse_and_verify(c.note, ident.public_key, ident.origin)
            except IntegrityError:
                continue  # never publish a note that does not verify; verify reports it
            written.append(notes.write_note(directory, c.size, c.note))
            filed.add(written[-1].name)
        present = notes.filed_names(directory, notes.STAMP_SUFFIX)
        pending, _ = unfiled_tokens(rows, tokens, filed, present)
        for token in pending:
            if token.over_its_note():
                written.append(notes.write_token(directory, token.checkpoint.size,
                                                 token.checkpoint.note, token.reply))
    return written


@dataclass(frozen=True)
class StoredToken:
    """A timestamp token as the database holds it (``row``: its ``checkpoint_timestamps``
    id, the order tokens were stored in) and the file name it is filed under."""

    row: int
    checkpoint: StoredCheckpoint
    reply: bytes
    filename: str

    def over_its_note(self) -> bool:
        """Whether the token is over its checkpoint's note: only such a token is filed
        (a row rewritten to another token is verify's to report, not ours to publish)."""
        try:
            ts.token_facts(self.reply, self.checkpoint.note)
        except IntegrityError:
            return False
        return True


def stored_tokens(conn: Connection) -> list[tuple[int, int, bytes]]:
    """(row id, checkpoint id, token) of every stored token, in the order stored."""
    return [(int(r.id), int(r.checkpoint_id), bytes(r.response)) for r in conn.execute(
        select(checkpoint_timestamps.c.id, checkpoint_timestamps.c.checkpoint_id,
               checkpoint_timestamps.c.response)
        .where(checkpoint_timestamps.c.response.is_not(None))
        .order_by(checkpoint_timestamps.c.id))]


def unfiled_tokens(rows: Sequence[StoredCheckpoint], tokens: Sequence[tuple[int, int, bytes]],
                   notes_filed: set[str], tokens_filed: set[str],
                   ) -> tuple[list[StoredToken], list[StoredToken]]:
    """(pending, removed): the stored tokens whose note is filed in a directory and
    whose own file (``tokens_filed`` names those there) is not. *Pending*: stored after
    every token filed there (what a crash leaves, or a new mirror lacks); *removed*: one
    stored before a token that is filed (a token is filed only beside its note, never
    alone)."""
    by_id = {c.id: c for c in rows}
    beside = [StoredToken(row, c, reply, notes.token_filename(c.size, c.note, reply))
              for row, checkpoint_id, reply in tokens
              if (c := by_id.get(checkpoint_id)) is not None
              and notes.note_filename(c.size, c.note) in notes_filed]
    newest = max((t.row for t in beside if t.filename in tokens_filed), default=0)
    missing = [t for t in beside if t.filename not in tokens_filed]
    return [t for t in missing if t.row > newest], [t for t in missing if t.row < newest]


def latest_checkpoint(engine: Engine) -> StoredCheckpoint | None:
    with read(engine) as conn:
        r = conn.execute(select(checkpoints).order_by(checkpoints.c.id.desc()).limit(1)).first()
        return replace(checkpoint_of(r), timestamps=stored_timestamps(conn, r.id)) if r else None


def get_checkpoint(engine: Engine, ref: str | int) -> StoredCheckpoint:
    """A checkpoint by id, by tree size (``size:N``), or ``latest``."""
    with read(engine) as conn:
        q = select(checkpoints)
        if ref == "latest":
            q = q.order_by(checkpoints.c.id.desc())
        elif isinstance(ref, str) and ref.startswith("size:"):
            q = q.where(checkpoints.c.size == int(ref[5:])).order_by(checkpoints.c.id.desc())
        else:
            q = q.where(checkpoints.c.id == int(ref))
        r = conn.execute(q.limit(1)).first()
        if r is None:
            raise NotFoundError(f"no checkpoint {ref}")
        return replace(checkpoint_of(r), timestamps=stored_timestamps(conn, r.id))


def inclusion(engine: Engine, seq: int, ckpt: StoredCheckpoint) -> list[bytes]:
    if seq >= ckpt.size:
        raise NotFoundError(f"event {seq} is not in checkpoint {ckpt.id} (size {ckpt.size})")
    with read(engine) as conn:
        return tree_at(conn, ckpt.size).inclusion_proof(seq)


def inclusions(engine: Engine, seqs: Sequence[int], ckpt: StoredCheckpoint
               ) -> list[list[bytes]]:
    """:func:`inclusion` of several events against one checkpoint, building its tree
    once (a capture page proves each of its events: the tree of every leaf is the cost)."""
    if not seqs:
        return []
    late = [s for s in seqs if s >= ckpt.size]
    if late:
        raise NotFoundError(f"event {late[0]} is not in checkpoint {ckpt.id} "
                            f"(size {ckpt.size})")
    with read(engine) as conn:
        tree = tree_at(conn, ckpt.size)
        return [tree.inclusion_proof(s) for s in seqs]


def consistency(engine: Engine, old: StoredCheckpoint, new: StoredCheckpoint) -> list[bytes]:
    if old.size > new.size:
        raise ConfigError(f"checkpoint {old.id} (size {old.size}) is newer than {new.id} "
                          f"(size {new.size}); give the older one first")
    with read(engine) as conn:
        return tree_at(conn, new.size).consistency_proof(old.size)


def b64(proof: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in proof]


def prove(engine: Engine, shown: Sequence[ShownCapture], checkpoint: str | int = "latest",
          ) -> InclusionProofs:
    """Inclusion proofs of every custody event listed for these captures that
    ``checkpoint`` holds (``show`` lists those naming their content hash too), and how
    many of their own events (naming a capture id, what a bundle carries) it does not
    hold yet."""
    ckpt = get_checkpoint(engine, checkpoint)
    held = [ev for cap in shown for ev in cap.events if ev.seq < ckpt.size]
    paths = inclusions(engine, [ev.seq for ev in held], ckpt)
    out = [EventProof(ev.seq, ev.type, ev.to_json()["hash"], tuple(b64(path)))
           for ev, path in zip(held, paths, strict=True)]
    return InclusionProofs(ckpt, tuple(c.capture_id for c in shown), tuple(out),
                           sum(1 for c in shown for e in c.own_events
                               if e.seq >= ckpt.size))


def prove_consistency(engine: Engine, old: str | int, new: str | int = "latest",
                      ) -> ConsistencyProof:
    """The consistency proof between two stored checkpoints, verified."""
    a, b = get_checkpoint(engine, old), get_checkpoint(engine, new)
    proof = consistency(engine, a, b)
    ok = verify_consistency(a.size, b.size, digest_bytes(a.root_hash),
                            digest_bytes(b.root_hash), proof)
    return ConsistencyProof(a, b, tuple(b64(proof)), ok)


__all__ = ["Recent", "StoredCheckpoint", "StoredToken", "b64", "check_recent", "checkpoint_of",
           "consistency",
           "get_checkpoint", "inclusion", "latest_checkpoint", "make_checkpoint",
           "pending_notes", "store_timestamps", "stored_timestamps", "stored_tokens",
           "timestamp_of", "unfiled_tokens", "verify_inclusion", "write_pending_notes"]
