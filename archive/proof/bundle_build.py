"""Build a capture's proof bundle (the format: :mod:`archive.proof.bundle_verify`).

The builder reads the ledger and the store directly; it needs no façade. It resolves
the capture, signs a new checkpoint when the capture's newest event is not in the
latest one, assembles the bundle and verifies it before handing it out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from archive.core.hashing import sha256_bytes
from archive.errors import (
    AmbiguousHashError,
    ConfigError,
    IntegrityError,
    NotFoundError,
    StorageError,
)
from archive.ledger import queries
from archive.ledger.custody import entry_leaf_hash, events_for, withdrawals
from archive.ledger.db import read
from archive.ledger.tables import captures, warc_files
from archive.proof import checkpoint as cp
from archive.proof import logtree
from archive.proof.bundle_format import BUNDLE_TYPE, BUNDLE_VERSION, encode, schema_errors
from archive.proof.bundle_verify import verify_bundle
from archive.proof.identity import LogIdentity
from archive.proof.logtree import StoredCheckpoint
from archive.proof.timestamps import b64encode
from archive.proof.tsa import Stamper
from archive.warc.store import WarcStore


def make_bundle(engine: Engine, store: WarcStore, hash_or_prefix: str, *,
                identity: Callable[[], LogIdentity], note_dirs: Sequence[Path] = (),
                checkpoint: str | None = None, stamper: Stamper | None = None) -> bytes:
    """The proof bundle of one capture, as bytes, checked before it is returned.

    ``checkpoint`` pins a stored checkpoint (id, ``size:N`` or ``latest``); by default
    the latest is used, and a new one is signed first when the capture's newest event
    is not in it yet (or it was signed by another key). Raises
    :class:`~archive.errors.IntegrityError` when the stored bytes or rows no longer
    verify, rather than hand out a bundle that would fail in a reader's hands.
    ``identity`` gives the signing identity (creating the key if the caller allows);
    new checkpoints are filed in ``note_dirs`` and timestamped by ``stamper``. The
    checkpoint's RFC 3161 tokens (those a TSA granted) go into the bundle.
    """

    found = queries.resolve(engine, hash_or_prefix)
    ids = sorted({c.capture_id for c in found})
    if len(ids) > 1:
        raise AmbiguousHashError(
            f"{hash_or_prefix} matches {len(ids)} captures ({', '.join(i[:19] for i in ids)}"
            "…); a bundle proves one capture: give its capture id")
    capture_id = ids[0]
    ident = identity()
    with read(engine) as conn:
        rows = _capture_rows(conn, capture_id)
        seqs = [e.seq for r in rows for e in _events(conn, r.capture_id)]
        own = [e.seq for e in _events(conn, rows[0].capture_id)]
        gone = withdrawals(conn, [capture_id]).get(capture_id)
    newest = max(seqs, default=-1)
    if checkpoint is None:
        ckpt = logtree.latest_checkpoint(engine)
        if ckpt is None or ckpt.size <= newest or not _signed_by(ckpt.note, ident):
            made = logtree.make_checkpoint(engine, ident, note_dirs, stamper)
            ckpt = logtree.get_checkpoint(engine, made.id)
    else:
        ckpt = logtree.get_checkpoint(engine, checkpoint)
        if not _signed_by(ckpt.note, ident):
            raise IntegrityError(f"checkpoint {ckpt.id} does not verify under the archive's "
                                 f"key {ident.fingerprint}")
        if not own or min(own) >= ckpt.size:
            raise NotFoundError(
                f"checkpoint {ckpt.id} (size {ckpt.size}) was signed before the events of "
                f"{capture_id}; give a later checkpoint or omit --checkpoint")
        if gone is not None and gone.seq >= ckpt.size:
            raise ConfigError(
                f"checkpoint {ckpt.id} (size {ckpt.size}) was signed before {capture_id} "
                f"was withdrawn (event #{gone.seq}), so its bundle would not say so; give a "
                "later checkpoint or omit --checkpoint")
    doc = assemble(engine, store, rows, ident, ckpt)
    problems = schema_errors(doc)
    if problems:
        raise IntegrityError("the bundle does not match proof-bundle.schema.json: "
                             + "; ".join(problems[:3]))
    data = encode(doc)
    report = verify_bundle(data, trusted_key=ident.fingerprint)
    if not report.ok:
        first = next(c for c in report.checks if c.status == "fail")
        raise IntegrityError(
            f"the proof bundle of {capture_id} does not verify ({first.name}: {first.message});"
            " the store or the custody database changed: run `archive verify`")
    return data


def _signed_by(note: str, ident: LogIdentity) -> bool:
    try:
        cp.parse_and_verify(note, ident.public_key, ident.origin)
    except IntegrityError:
        return False
    return True


def _capture_rows(conn: Any, capture_id: str) -> list[Any]:
    """The capture, then (for a revisit) the original capture holding the payload."""


    def one(cid: str) -> Any:
        row = conn.execute(select(captures, warc_files.c.relpath).join(
            warc_files, warc_files.c.id == captures.c.warc_file_id).where(
            captures.c.capture_id == cid)).first()
        if row is None:
            raise NotFoundError(f"no capture {cid}")
        return row

    rows = [one(capture_id)]
    if rows[0].revisit_of:
        rows.append(one(rows[0].revisit_of))
    return rows


def _events(conn: Any, capture_id: str) -> list[Any]:

    return events_for(conn, capture_id)


def assemble(engine: Engine, store: WarcStore, rows: Sequence[Any], ident: LogIdentity,
             ckpt: StoredCheckpoint) -> dict[str, Any]:
    """The bundle as a JSON-ready dict (see ``schemas/proof-bundle.schema.json``).

    Events are those naming a bundled capture id that the checkpoint covers; entry
    hashes and leaf hashes are the stored ones, so an edited event row makes the
    bundle fail verification instead of being silently re-hashed.
    """

    with read(engine) as conn:
        events = {e.seq: e for r in rows for e in _events(conn, r.capture_id)
                  if e.seq < ckpt.size}
        tree = logtree.tree_at(conn, ckpt.size)
        proofs = {seq: logtree.b64(tree.inclusion_proof(seq)) for seq in events}
    bundled_events = []
    for seq in sorted(events):
        e = events[seq]
        entry = e.entry_bytes()
        bundled_events.append({
            "entry": entry.decode("utf-8"),
            "hash": e.entry_hash,
            "leaf_hash": e.leaf_hash or entry_leaf_hash(entry),
            "inclusion_proof": proofs[seq],
        })
    subject = json.loads(rows[0].manifest)
    tokens = [{"tsa": t.tsa, "response": b64encode(t.response)}
              for t in ckpt.timestamps if t.response is not None]
    return {
        "type": BUNDLE_TYPE,
        "version": BUNDLE_VERSION,
        "capture_id": rows[0].capture_id,
        "content_hash": subject.get("content_hash"),
        "captures": [_capture_part(store, r) for r in rows],
        "events": bundled_events,
        "checkpoint": ckpt.note,
        "key": {"name": ident.origin, "vkey": ident.vkey, "fingerprint": ident.fingerprint},
        **({"timestamps": tokens} if tokens else {}),
    }


def _capture_part(store: WarcStore, row: Any) -> dict[str, Any]:
    manifest = json.loads(row.manifest)
    records = []
    try:
        with store.open(row.relpath) as f:
            for m in manifest["records"]:
                f.seek(m["offset"])
                member = f.read(m["length"])
                if len(member) != m["length"]:
                    raise StorageError(
                        f"{row.relpath}: record {m['record_id']} at offset {m['offset']} is "
                        f"cut short ({len(member)} of {m['length']} bytes); run `archive verify`",
                        path=row.relpath)
                records.append({
                    "record_id": m["record_id"], "type": m["type"], "offset": m["offset"],
                    "length": m["length"], "sha256": sha256_bytes(member),
                    "gzip_base64": base64.b64encode(member).decode("ascii"),
                })
    except OSError as exc:
        raise StorageError(f"cannot read {row.relpath}: {exc.strerror}; run `archive verify`",
                           path=row.relpath) from exc
    return {"capture_id": row.capture_id, "manifest": row.manifest,
            "warc_file": manifest["warc_file"], "records": records}


__all__ = ["assemble", "make_bundle"]
