"""Proof bundles: one file that lets anyone verify a capture offline.

A bundle carries everything a third party needs to check a citation without our
database, our network or our goodwill (PRODUCT.md §2): the capture's WARC records
(the gzip members exactly as stored), its manifest (whose SHA-256 is the capture
id), the custody events that name it (their exact log entries), an RFC 9162
inclusion proof of each against a signed checkpoint, and the public key. For a
revisit, the original capture is bundled too, since its response holds the payload.

Two rules keep the format easy to re-implement (docs/verifying.md):

* Every hashed document (manifests, log entries) is carried as a JSON *string* holding
  its exact RFC 8785 bytes: a verifier hashes the UTF-8 of the string and never needs
  a canonicaliser of its own.
* The checkpoint's tree size and root hash appear only inside the signed note. An
  RFC 9162 inclusion proof binds a leaf to a root but not the root to a tree size, so
  a size or root from an unsigned field could be chosen to make a forged proof pass.

The file is the canonical JSON of the bundle, with no export-time field, so the same
capture and checkpoint always give byte-identical bundles. :func:`verify_bundle`
imports nothing that touches a database or the network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from warcio.bufferedreaders import ChunkedDataReader

from archive.core.canonical import canonical_json
from archive.core.config import FetchPolicy
from archive.core.content import decode_body
from archive.core.hashing import PREFIX, hex_part
from archive.errors import (
    AmbiguousHashError,
    ConfigError,
    IntegrityError,
    NotFoundError,
    StorageError,
)
from archive.proof import checkpoint as cp
from archive.proof import keys as keymod
from archive.proof.merkle import root_from_inclusion_proof

if TYPE_CHECKING:
    from archive.api import Archive
    from archive.proof.logtree import LogIdentity, StoredCheckpoint

BUNDLE_TYPE = "provenance-archive/proof-bundle"
BUNDLE_VERSION = 1
SCHEMA_NAME = "proof-bundle.schema.json"
MAX_RECORD_BYTES = 512 * 1024 * 1024
"""Largest decompressed WARC record a verifier accepts (a defence against gzip bombs)."""

CONTENT_TYPES = ("response", "resource", "revisit")
"""Record types that carry (or stand for) the payload; the last one in a manifest is
the capture's content record, as the capture code decides."""

Status = Literal["ok", "fail", "warn", "skip"]

_DELETION = "deletion"
"""The PREMIS event type of a withdrawal (``archive.ledger.custody.DELETION``; not imported, so
that verifying needs no database code)."""


# ============================================================================ building

def make_bundle(archive: Archive, hash_or_prefix: str, *, checkpoint: str | None = None,
                create_key: bool = True) -> bytes:
    """The proof bundle of one capture, as bytes, checked before it is returned.

    ``checkpoint`` pins a stored checkpoint (id, ``size:N`` or ``latest``); by default
    the latest is used, and a new one is signed first when the capture's newest event
    is not in it yet (or it was signed by another key). Raises
    :class:`~archive.errors.IntegrityError` when the stored bytes or rows no longer
    verify, rather than hand out a bundle that would fail in a reader's hands.
    """
    from archive.ledger.custody import withdrawals
    from archive.ledger.db import read
    from archive.proof import logtree

    found = archive.resolve(hash_or_prefix)
    ids = sorted({c["capture_id"] for c in found})
    if len(ids) > 1:
        raise AmbiguousHashError(
            f"{hash_or_prefix} matches {len(ids)} captures ({', '.join(i[:19] for i in ids)}"
            "…); a bundle proves one capture: give its capture id")
    capture_id = ids[0]
    ident = archive.identity(create=create_key)
    with read(archive.engine) as conn:
        rows = _capture_rows(conn, capture_id)
        seqs = [e.seq for r in rows for e in _events(conn, r.capture_id)]
        own = [e.seq for e in _events(conn, rows[0].capture_id)]
        gone = withdrawals(conn, [capture_id]).get(capture_id)
    newest = max(seqs, default=-1)
    if checkpoint is None:
        ckpt = logtree.latest_checkpoint(archive.engine)
        if ckpt is None or ckpt.size <= newest or not _signed_by(ckpt.note, ident):
            made = archive.checkpoint(create_key=create_key)
            ckpt = logtree.get_checkpoint(archive.engine, int(made["id"]))
    else:
        ckpt = logtree.get_checkpoint(archive.engine, checkpoint)
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
    doc = assemble(archive, rows, ident, ckpt)
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
    from sqlalchemy import select

    from archive.ledger.tables import captures, warc_files

    def one(hex_id: str) -> Any:
        row = conn.execute(select(captures, warc_files.c.relpath).join(
            warc_files, warc_files.c.id == captures.c.warc_file_id).where(
            captures.c.capture_id == hex_id)).first()
        if row is None:
            raise NotFoundError(f"no capture sha256:{hex_id}")
        return row

    rows = [one(hex_part(capture_id))]
    if rows[0].revisit_of:
        rows.append(one(rows[0].revisit_of))
    return rows


def _events(conn: Any, capture_hex: str) -> list[Any]:
    from archive.ledger.custody import events_for

    return events_for(conn, capture_hex)


def assemble(archive: Archive, rows: Sequence[Any], ident: LogIdentity,
             ckpt: StoredCheckpoint) -> dict[str, Any]:
    """The bundle as a JSON-ready dict (see ``schemas/proof-bundle.schema.json``).

    Events are those naming a bundled capture id that the checkpoint covers; entry
    hashes and leaf hashes are the stored ones, so an edited event row makes the
    bundle fail verification instead of being silently re-hashed.
    """
    from archive.ledger.custody import leaf_hash_hex
    from archive.ledger.db import read
    from archive.proof import logtree

    with read(archive.engine) as conn:
        events = {e.seq: e for r in rows for e in _events(conn, r.capture_id)
                  if e.seq < ckpt.size}
        tree = logtree.tree_at(conn, ckpt.size)
    bundled_events = []
    for seq in sorted(events):
        e = events[seq]
        entry = e.entry_bytes()
        bundled_events.append({
            "entry": entry.decode("utf-8"),
            "hash": PREFIX + e.entry_hash,
            "leaf_hash": PREFIX + (e.leaf_hash or leaf_hash_hex(entry)),
            "inclusion_proof": logtree.b64(tree.inclusion_proof(seq)),
        })
    subject = json.loads(rows[0].manifest)
    return {
        "type": BUNDLE_TYPE,
        "version": BUNDLE_VERSION,
        "capture_id": PREFIX + rows[0].capture_id,
        "content_hash": subject.get("content_hash"),
        "captures": [_capture_part(archive, r) for r in rows],
        "events": bundled_events,
        "checkpoint": ckpt.note,
        "key": {"name": ident.origin, "vkey": ident.vkey, "fingerprint": ident.fingerprint},
    }


def _capture_part(archive: Archive, row: Any) -> dict[str, Any]:
    manifest = json.loads(row.manifest)
    path = archive.store.path(row.relpath)
    records = []
    try:
        with path.open("rb") as f:
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
                    "length": m["length"], "sha256": PREFIX + hashlib.sha256(member).hexdigest(),
                    "gzip_base64": base64.b64encode(member).decode("ascii"),
                })
    except OSError as exc:
        raise StorageError(f"cannot read {row.relpath}: {exc.strerror}; run `archive verify`",
                           path=row.relpath) from exc
    return {"capture_id": PREFIX + row.capture_id, "manifest": row.manifest,
            "warc_file": manifest["warc_file"], "records": records}


def encode(doc: dict[str, Any]) -> bytes:
    """The bundle file's bytes: RFC 8785 canonical JSON (deterministic, one line)."""
    return canonical_json(doc)


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    from archive.core.packagedata import load_schema

    schema = load_schema(SCHEMA_NAME)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(doc: Any) -> list[str]:
    """Every violation of the bundle schema, one line each (JSON path first)."""
    found = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.path])
    out = []
    for e in found:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.path)
        message = e.message if len(e.message) <= 200 else e.message[:200] + "…"
        out.append(f"{where.lstrip('.') or '(bundle)'}: {message}")
    return out


# ========================================================================= verifying

@dataclass(frozen=True)
class Check:
    """One named check of a bundle and its outcome (``skip``: could not run because a
    check it depends on failed)."""

    name: str
    status: Status
    message: str

    def line(self) -> str:
        return f"{self.status.upper():<4} {self.name}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "message": self.message}


@dataclass(frozen=True)
class BundleReport:
    """``ok``: no check failed. ``trusted``: the key was one the caller trusts; a bundle is
    *verified* only when both hold (its own key proves nothing: anyone can re-sign)."""

    checks: tuple[Check, ...]
    capture_id: str | None = None
    trusted: bool = False
    key_fingerprint: str | None = None  # the bundle's key, as checked
    withdrawn: str | None = None
    """``<time> by <person>: <reason>`` when a bundled deletion event withdraws the
    capture: its bytes still verify, but the archive no longer stands behind it."""

    @property
    def ok(self) -> bool:
        return all(c.status in ("ok", "warn") for c in self.checks)

    @property
    def verified(self) -> bool:
        return self.ok and self.trusted

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def summary(self) -> str:
        warned = sum(c.status == "warn" for c in self.checks)
        gone = f"; the capture was WITHDRAWN {self.withdrawn}" if self.withdrawn else ""
        if self.ok and not self.trusted:
            return (f"NOT VERIFIED: all {len(self.checks)} checks passed, but against the "
                    f"bundle's own key {self.key_fingerprint}, not one you trust (pass --key "
                    f"or list it in ARCHIVE_TRUSTED_KEYS){gone}")
        if self.ok:
            tail = f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""
            return f"verified: all {len(self.checks)} checks passed{tail}{gone}"
        return (f"FAILED: {len(self.failures)} of {len(self.checks)} checks failed"
                + (f", {sum(c.status == 'skip' for c in self.checks)} could not run"
                   if any(c.status == "skip" for c in self.checks) else "") + gone)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "trusted": self.trusted, "verified": self.verified,
                "key_fingerprint": self.key_fingerprint, "capture_id": self.capture_id,
                "withdrawn": self.withdrawn,
                "checks": [c.to_json() for c in self.checks], "summary": self.summary()}


@dataclass
class _Run:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: Status, message: str) -> None:
        self.checks.append(Check(name, status, message))


@dataclass(frozen=True)
class _Record:
    record_id: str
    type: str
    headers: dict[str, str]  # WARC headers, lower-case names
    block: bytes


def verify_bundle(data: bytes, *, trusted_key: str | Sequence[str] | None = None
                  ) -> BundleReport:
    """Check a bundle end to end, in the order trust flows (docs/verifying.md):
    schema; key; checkpoint signature; each event's hashes, chain link and inclusion
    proof; that the events name the captures; each manifest against its capture id;
    each WARC record against the manifest and its own header; the content hash.

    ``trusted_key`` is a fingerprint (``sha256:<hex>``) or verifier key obtained
    independently, or several (the bundle's key must be one of them); without it every
    other check still runs under the bundle's own key (a warning) and the report is not
    ``trusted``. Never raises for a bad bundle: every problem is a failed check.
    """
    run = _Run()
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        run.add("schema", "fail", f"the file is not JSON ({exc})")
        return BundleReport(tuple(run.checks))
    problems = schema_errors(doc)
    if problems:
        extra = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        run.add("schema", "fail", "; ".join(problems[:3]) + extra)
        return BundleReport(tuple(run.checks))
    run.add("schema", "ok", f"matches {SCHEMA_NAME} (version {doc['version']})")

    trusted = [trusted_key] if isinstance(trusted_key, str) else trusted_key
    public_key = _check_key(run, doc["key"], trusted)
    checkpoint = _check_checkpoint(run, doc["checkpoint"], doc["key"]["name"], public_key)
    entries = _check_events(run, doc["events"], checkpoint)
    _check_coverage(run, doc, entries)
    withdrawn = _check_withdrawn(run, doc, entries)
    manifests = _check_manifests(run, doc)
    records = [_check_records(run, cap, manifests.get(cap["capture_id"]))
               for cap in doc["captures"]]
    _check_content(run, doc, manifests, records)
    key_ok = next(c.status == "ok" for c in run.checks if c.name == "key")
    return BundleReport(tuple(run.checks), doc["capture_id"],
                        trusted=bool(trusted) and key_ok,
                        key_fingerprint=keymod.fingerprint(public_key) if public_key else None,
                        withdrawn=withdrawn)


# ------------------------------------------------------------------- key, checkpoint

def _check_key(run: _Run, key: dict[str, str], trusted: Sequence[str] | None
               ) -> Ed25519PublicKey | None:
    try:
        name, public_key = cp.parse_vkey(key["vkey"])
    except ConfigError as exc:
        run.add("key", "fail", f"the bundled verifier key is unusable: {exc}")
        return None
    actual = keymod.fingerprint(public_key)
    if name != key["name"]:
        run.add("key", "fail", f"the verifier key is for {name!r}, the bundle names "
                               f"{key['name']!r}: the key or its name was changed")
        return None
    if actual != key["fingerprint"]:
        run.add("key", "fail", f"the bundled fingerprint {key['fingerprint']} is not that of "
                               f"the verifier key ({actual}): one of them was changed")
        return None
    if not trusted:
        run.add("key", "warn", f"{actual} is the bundle's own key, not checked against one "
                               "you trust: pass --key with the archive's fingerprint, obtained "
                               "independently, or list it in ARCHIVE_TRUSTED_KEYS")
        return public_key
    given = []
    for want in (t.strip() for t in trusted):
        try:
            if want.lower().startswith(PREFIX) or (len(want) == 64 and "+" not in want):
                match = hex_part(want) == hex_part(actual) and len(hex_part(want)) == 64
                given.append(PREFIX + hex_part(want))
            else:
                want_name, want_key = cp.parse_vkey(want)
                match = (want_name == name and keymod.public_key_bytes(want_key)
                         == keymod.public_key_bytes(public_key))
                given.append(f"{want_name} {keymod.fingerprint(want_key)}")
        except (ConfigError, ValueError) as exc:
            run.add("key", "fail", f"--key is neither a fingerprint nor a verifier key: {exc}")
            return None
        if match:
            run.add("key", "ok", f"{name} {actual} is the key you gave")
            return public_key
    run.add("key", "fail", f"the bundle's key {name} {actual} is not the key you trust "
                           f"({', '.join(given)})")
    return None


def _check_checkpoint(run: _Run, note: str, key_name: str,
                      public_key: Ed25519PublicKey | None) -> cp.Checkpoint | None:
    if public_key is None:
        run.add("checkpoint", "skip", "signature not checked: no usable key")
        return None
    try:
        ckpt = cp.parse_and_verify(note, public_key, key_name)
    except (IntegrityError, ValueError) as exc:
        run.add("checkpoint", "fail", str(exc))
        return None
    run.add("checkpoint", "ok", f"signed by {key_name}; log {ckpt.origin!r} at size "
                                f"{ckpt.size}, root {PREFIX}{ckpt.root.hex()}")
    return ckpt


# ------------------------------------------------------------------------ events

def _check_events(run: _Run, events: list[dict[str, Any]],
                  ckpt: cp.Checkpoint | None) -> list[dict[str, Any] | None]:
    """Per event: entry hash, leaf hash, prev link (when the previous bundled event is
    the previous log entry), order, and the inclusion proof at the entry's own ``seq``
    (the index is read from the hashed entry, so it cannot be swapped separately)."""
    parsed: list[dict[str, Any] | None] = []
    prev_seq: int | None = None
    prev_hash: str | None = None
    for i, ev in enumerate(events):
        raw = ev["entry"].encode("utf-8")
        entry = _parse_entry(raw)
        if entry is None:
            run.add(f"event [{i}]", "fail", "the entry is not a custody log entry (JSON object "
                                            "with integer seq, type, objects and prev)")
            parsed.append(None)
            prev_seq = prev_hash = None
            continue
        seq = entry["seq"]
        name = f"event #{seq} ({entry['type']})"
        problems: list[str] = []
        entry_hash = PREFIX + hashlib.sha256(raw).hexdigest()
        leaf = hashlib.sha256(b"\x00" + raw).digest()
        if entry_hash != ev["hash"]:
            problems.append(f"the entry hashes to {entry_hash}, the bundle says {ev['hash']}: "
                            "the entry (or its hash) was changed")
        if PREFIX + leaf.hex() != ev["leaf_hash"]:
            problems.append(f"its leaf hash is {PREFIX}{leaf.hex()}, the bundle says "
                            f"{ev['leaf_hash']}")
        if prev_seq is not None and seq <= prev_seq:
            problems.append(f"events are out of order (#{seq} after #{prev_seq})")
        linked = prev_seq is not None and seq == prev_seq + 1
        if linked and entry["prev"] != prev_hash:
            problems.append(f"prev is {entry['prev']} but event #{prev_seq} hashes to "
                            f"{prev_hash}: the chain is broken here")
        if ckpt is None:
            proof_note = "inclusion not checked (no verified checkpoint)"
        else:
            proof_note = _inclusion(leaf, seq, ev["inclusion_proof"], ckpt, problems)
        parsed.append(entry)
        prev_seq, prev_hash = seq, entry_hash
        if problems:
            run.add(name, "fail", "; ".join(problems))
        elif ckpt is None:
            run.add(name, "skip", f"entry and leaf hash match; {proof_note}")
        else:
            link = f", prev links to #{seq - 1}" if linked else ""
            run.add(name, "ok", f"entry hash and leaf hash match{link}; {proof_note}")
    return parsed


def _parse_entry(raw: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(entry, dict):
        return None
    seq, objects = entry.get("seq"), entry.get("objects")
    if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0
            or not isinstance(entry.get("type"), str) or not isinstance(entry.get("prev"), str)
            or not isinstance(objects, list) or not all(isinstance(o, str) for o in objects)):
        return None
    return entry


def _inclusion(leaf: bytes, seq: int, proof_b64: list[str], ckpt: cp.Checkpoint,
               problems: list[str]) -> str:
    if seq >= ckpt.size:
        problems.append(f"leaf {seq} is not in the checkpoint's tree (size {ckpt.size})")
        return ""
    try:
        proof = [base64.b64decode(p, validate=True) for p in proof_b64]
    except (binascii.Error, ValueError):
        problems.append("the inclusion proof is not base64")
        return ""
    root = root_from_inclusion_proof(leaf, seq, ckpt.size, proof)
    if root is None:
        problems.append(f"the inclusion proof has {len(proof)} hashes, which cannot be a "
                        f"path for leaf {seq} in a tree of size {ckpt.size}")
    elif root != ckpt.root:
        problems.append(f"the inclusion proof leads to root {PREFIX}{root.hex()}, not the "
                        f"checkpoint's {PREFIX}{ckpt.root.hex()} (size {ckpt.size})")
    return f"included at leaf {seq} of {ckpt.size}"


def _check_coverage(run: _Run, doc: dict[str, Any],
                    entries: list[dict[str, Any] | None]) -> None:
    """Every bundled capture has a capture/ingestion event naming its id, and every
    bundled event names a bundled capture (nothing unrelated rides along)."""
    ids = {c["capture_id"] for c in doc["captures"]}
    problems = []
    for cap_id in sorted(ids):
        if not any(e is not None and e["type"] in ("capture", "ingestion")
                   and cap_id in e["objects"] for e in entries):
            problems.append(f"no capture or ingestion event names capture {cap_id}")
    for e in entries:
        if e is not None and not ids.intersection(e["objects"]):
            problems.append(f"event #{e['seq']} names none of the bundled captures")
    if problems:
        run.add("custody", "fail", "; ".join(problems))
    else:
        run.add("custody", "ok", f"{len(entries)} events name the bundled capture id(s)")


def _check_withdrawn(run: _Run, doc: dict[str, Any],
                     entries: list[dict[str, Any] | None]) -> str | None:
    """A ``deletion`` event naming a bundled capture withdraws it (a ``warn``: its bytes
    still verify, but the archive no longer stands behind it). Returns the subject
    capture's withdrawal, as one line, or ``None``."""
    subject = None
    for idx, cap in enumerate(doc["captures"]):
        cid = cap["capture_id"]
        tomb = next((e for e in entries if e is not None and e["type"] == _DELETION
                     and cid in e["objects"]), None)
        if tomb is None:
            continue
        detail = tomb.get("detail")
        detail = detail if isinstance(detail, dict) else {}
        agent = tomb.get("agent")
        person = agent.get("person") if isinstance(agent, dict) else None
        who = f" by {person}" if isinstance(person, str) else ""
        line = f"{tomb.get('time')}{who}: {detail.get('reason') or 'no reason given'}"
        name = "withdrawn" if idx == 0 else "withdrawn (original)"
        run.add(name, "warn", f"{cid} was withdrawn {line} (deletion event #{tomb['seq']}); "
                              "its bytes still verify, but the archive no longer stands "
                              "behind them")
        if idx == 0:
            subject = line
    return subject


# ------------------------------------------------------------------ manifests, records

def _check_manifests(run: _Run, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Manifests that hash to their capture id, by capture id (others are left out)."""
    out: dict[str, dict[str, Any]] = {}
    caps = doc["captures"]
    for idx, cap in enumerate(caps):
        name = "manifest" if idx == 0 else "manifest (original)"
        cid = cap["capture_id"]
        actual = PREFIX + hashlib.sha256(cap["manifest"].encode("utf-8")).hexdigest()
        problems = []
        if actual != cid:
            problems.append(f"it hashes to {actual}, not the capture id {cid}: the manifest "
                            "(or the capture id) was changed")
        try:
            manifest = json.loads(cap["manifest"])
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("records"), list):
            problems.append("it is not a capture manifest")
            manifest = None
        if idx == 0 and cid != doc["capture_id"]:
            problems.append(f"the bundle is for {doc['capture_id']} but its first capture is "
                            f"{cid}")
        if manifest is not None:
            if idx == 0 and manifest.get("content_hash") != doc["content_hash"]:
                problems.append(f"the bundle's content hash {doc['content_hash']} differs from "
                                f"the manifest's {manifest.get('content_hash')}")
            if manifest.get("warc_file") != cap["warc_file"]:
                problems.append(f"warc_file {cap['warc_file']} differs from the manifest's "
                                f"{manifest.get('warc_file')}")
            if idx == 0 and manifest.get("revisit_of") and (
                    len(caps) < 2 or caps[1]["capture_id"] != manifest["revisit_of"]):
                problems.append(f"it is a revisit of {manifest['revisit_of']}, which is not "
                                "bundled as its original")
        if problems:
            run.add(name, "fail", "; ".join(problems))
            continue
        assert manifest is not None
        out[cid] = manifest
        run.add(name, "ok", f"hashes to the capture id {cid} ({manifest.get('url')}, captured "
                            f"{manifest.get('capture_time')})")
    return out


def _check_records(run: _Run, cap: dict[str, Any],
                   manifest: dict[str, Any] | None) -> list[_Record | None]:
    listed = manifest["records"] if manifest is not None else []
    recs = cap["records"]
    if manifest is not None and [r["record_id"] for r in recs] != [
            m.get("record_id") for m in listed]:
        run.add(f"records of {cap['capture_id'][:19]}…", "fail",
                f"the bundle has records {[r['record_id'] for r in recs]}, the manifest lists "
                f"{[m.get('record_id') for m in listed]}")
        listed = []
    out: list[_Record | None] = []
    for i, r in enumerate(recs):
        m = listed[i] if i < len(listed) else None
        out.append(_check_record(run, r, m, cap["warc_file"]["name"],
                                 imported=manifest is not None and
                                 manifest.get("kind") == "imported"))
    return out


def _check_record(run: _Run, r: dict[str, Any], m: dict[str, Any] | None,
                  file_name: str, *, imported: bool = False) -> _Record | None:
    name = f"record {r['record_id']} ({r['type']} at offset {r['offset']} of {file_name})"
    problems: list[str] = []
    if m is None:
        run.add(name, "skip", "not checked: no verified manifest lists it")
        return None
    for k in ("type", "offset", "length"):
        if m.get(k) != r[k]:
            problems.append(f"its {k} is {r[k]!r}, the manifest says {m.get(k)!r}")
    member = base64.b64decode(r["gzip_base64"])
    member_hash = PREFIX + hashlib.sha256(member).hexdigest()
    if member_hash != r["sha256"]:
        problems.append(f"the gzip member hashes to {member_hash}, the bundle says "
                        f"{r['sha256']}: the record bytes were changed")
    if len(member) != r["length"]:
        problems.append(f"the gzip member has {len(member)} bytes, not {r['length']}")
    parsed, error = _parse_member(member)
    if parsed is None:
        run.add(name, "fail", "; ".join([*problems, f"the record {error}"]))
        return None
    headers, block = parsed
    block_digest = PREFIX + hashlib.sha256(block).hexdigest()
    header_digest = headers.get("warc-block-digest")
    if headers.get("warc-record-id") != r["record_id"]:
        problems.append(f"its WARC-Record-ID is {headers.get('warc-record-id')}")
    if headers.get("warc-type") != r["type"]:
        problems.append(f"its WARC-Type is {headers.get('warc-type')}")
    # Our records carry sha256 digests equal to the manifest's; an imported record may
    # carry sha1 (or none): the manifest's sha256 is what the capture id commits to.
    if not _header_agrees(header_digest, block, required=not imported) or \
            block_digest != m.get("block_digest"):
        problems.append(f"the block hashes to {block_digest}, the WARC header says "
                        f"{header_digest} and the manifest {m.get('block_digest')}: the record "
                        "was changed")
    payload_header = headers.get("warc-payload-digest")
    if r["type"] in ("response", "resource", "request") and (payload_header or
                                                             m.get("payload_digest")):
        payload = _payload(block, headers)
        actual = PREFIX + hashlib.sha256(payload).hexdigest()
        if not _header_agrees(payload_header, payload, required=not imported) or \
                m.get("payload_digest") != actual:
            problems.append(f"the payload hashes to {actual}, the WARC header says "
                            f"{payload_header} and the manifest {m.get('payload_digest')}")
    elif payload_header != m.get("payload_digest"):
        problems.append(f"its WARC-Payload-Digest {payload_header} differs from the "
                        f"manifest's {m.get('payload_digest')}")
    if problems:
        run.add(name, "fail", "; ".join(problems))
        return None
    run.add(name, "ok", f"block digest {block_digest} matches header and manifest")
    return _Record(r["record_id"], r["type"], headers, block)


def _parse_member(member: bytes) -> tuple[tuple[dict[str, str], bytes] | None, str]:
    """One gzip member holding one WARC record (or, from an imported uncompressed WARC,
    the record's bytes as stored): ``((headers, block), "")`` or ``(None, why)``.
    Strict: exactly one member, Content-Length exact, CRLFCRLF after."""
    if member.startswith(b"WARC/"):
        raw = member
    else:
        d = zlib.decompressobj(31)
        try:
            raw = d.decompress(member, MAX_RECORD_BYTES)
        except zlib.error as exc:
            return None, f"does not decompress ({exc})"
        if d.unconsumed_tail:
            return None, f"decompresses to more than {MAX_RECORD_BYTES} bytes"
        if not d.eof:
            return None, "is a truncated gzip member"
        if d.unused_data:
            return None, f"has {len(d.unused_data)} bytes after its gzip member"
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return None, "has no WARC header block"
    try:
        lines = raw[:end].decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        return None, "has a WARC header that is not UTF-8"
    if lines[0] not in ("WARC/1.1", "WARC/1.0"):
        return None, f"starts with {lines[0][:20]!r}, not a WARC version line"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if not sep:
            return None, f"has a malformed WARC header line {line[:60]!r}"
        headers.setdefault(k.strip().lower(), v.strip())
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        return None, "has no valid Content-Length"
    block = raw[end + 4:end + 4 + length]
    if len(block) != length or raw[end + 4 + length:] != b"\r\n\r\n":
        return None, (f"has Content-Length {length} but holds {len(raw) - end - 4} bytes "
                      "after its header (4 of them should be the closing CRLF CRLF)")
    return (headers, block), ""


def _header_agrees(value: str | None, data: bytes, *, required: bool) -> bool:
    """Whether a WARC digest header is consistent with ``data``: it names ``data``, or
    (``required`` false: a record of an imported WARC, whose writer chose its digests)
    it is absent or uses an algorithm this verifier does not compute."""
    if not value:
        return not required
    if not required and value.partition(":")[0].strip().lower() not in ("sha256", "sha1"):
        return True
    return _same_digest(value, data)


def _same_digest(value: str | None, data: bytes) -> bool:
    """Whether a WARC digest header (``sha256:`` hex or base32, or ``sha1:`` base32)
    names ``data``."""
    if not value:
        return False
    algo, _, text = value.partition(":")
    algo = algo.strip().lower()
    if algo not in ("sha256", "sha1"):
        return False
    digest = hashlib.new(algo, data).digest()
    text = text.strip()
    return text.lower() == digest.hex() or text.upper() == base64.b32encode(digest).decode()


def _http_split(block: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """HTTP header fields and the payload (everything after the header block)."""
    end = block.find(b"\r\n\r\n")
    if end < 0:
        return [], b""
    lines = block[:end].decode("iso-8859-1").split("\r\n")[1:]
    fields = []
    for line in lines:
        k, sep, v = line.partition(":")
        if sep:
            fields.append((k.strip().lower(), v.strip()))
    return fields, block[end + 4:]


def _payload(block: bytes, headers: dict[str, str]) -> bytes:
    """A record's WARC payload: after the HTTP headers for ``application/http``, else
    the whole block."""
    if headers.get("content-type", "").lower().startswith("application/http"):
        return _http_split(block)[1]
    return block


# ----------------------------------------------------------------------- content

def _check_content(run: _Run, doc: dict[str, Any], manifests: dict[str, dict[str, Any]],
                   records: list[list[_Record | None]]) -> None:
    """Recompute the content hash of each bundled capture from its payload."""
    for idx, cap in enumerate(doc["captures"]):
        name = "content" if idx == 0 else "content (original)"
        manifest = manifests.get(cap["capture_id"])
        if manifest is None:
            run.add(name, "skip", "not checked: the manifest did not verify")
            continue
        expected = manifest.get("content_hash")
        listed = [m for m in manifest["records"] if m.get("type") in CONTENT_TYPES]
        if not listed:
            run.add(name, "warn", "the capture has no response or resource record")
            continue
        rec = next((r for r in records[idx] if r is not None
                    and r.record_id == listed[-1].get("record_id")), None)
        if rec is None:
            run.add(name, "skip", f"not checked: record {listed[-1].get('record_id')} did not "
                                  "verify")
            continue
        if rec.type == "revisit":
            original = _revisit_original(run, rec, records[1] if len(records) > 1 else [])
            if original is None:
                run.add(name, "skip", "not checked: the revisit's original did not verify")
                continue
            fields, _ = _http_split(rec.block)
            _, payload = _http_split(original.block)
            how = "the original response's payload, with this revisit's HTTP headers"
        elif rec.type == "resource":
            fields, payload = [], rec.block
            how = "the resource record's block"
        else:
            fields, payload = _http_split(rec.block)
            how = "the response payload"
        actual, steps = _content_hash(fields, payload)
        if expected is None:
            run.add(name, "warn", f"the manifest records no content hash (the body could not be "
                                  f"decoded at capture time); {how} gives {actual}")
        elif actual != expected:
            run.add(name, "fail", f"the content hash recomputed from {how}{steps} is {actual}, "
                                  f"the manifest says {expected}")
        else:
            run.add(name, "ok", f"{expected} recomputed from {how}{steps}")


def _revisit_original(run: _Run, rec: _Record, original: list[_Record | None]) -> _Record | None:
    """The original response a revisit refers to, checked: WARC-Refers-To names it and
    the payload digests agree."""
    refers = rec.headers.get("warc-refers-to")
    target = next((r for r in original if r is not None and r.record_id == refers
                   and r.type == "response"), None)
    if target is None:
        run.add("revisit", "fail", f"the revisit refers to {refers}, which is not a verified "
                                   "response record of the bundled original capture")
        return None
    _, payload = _http_split(target.block)
    if not _same_digest(rec.headers.get("warc-payload-digest"), payload):
        run.add("revisit", "fail", f"the revisit's payload digest "
                                   f"{rec.headers.get('warc-payload-digest')} is not that of the "
                                   f"original response {refers}")
        return None
    run.add("revisit", "ok", f"refers to {refers}, whose payload has the revisit's "
                             "payload digest")
    return target


def _content_hash(fields: list[tuple[str, str]], payload: bytes) -> tuple[str, str]:
    """``(content hash, how it was decoded)``: transfer-coding (chunked) and then
    content-coding undone, as a reader's browser would."""
    def header(name: str) -> str | None:
        values = [v for k, v in fields if k == name]
        return ", ".join(values) if values else None

    steps = []
    stream: Any = io.BytesIO(payload)
    if (header("transfer-encoding") or "").lower().strip() == "chunked":
        stream = ChunkedDataReader(stream, decomp_type=None)
        steps.append("chunked")
    policy = FetchPolicy()
    with decode_body(stream, header("content-encoding"), max_output=policy.max_decoded_bytes,
                     max_depth=policy.max_encoding_depth) as decoded:
        steps += list(decoded.codings)
        if decoded.error:
            return f"undecodable ({decoded.error})", ""
        how = f" ({', '.join(steps)} undone)" if steps else ""
        return decoded.sha256, how


__all__ = ["BUNDLE_TYPE", "BUNDLE_VERSION", "BundleReport", "Check", "assemble", "encode",
           "make_bundle", "schema_errors", "verify_bundle"]
