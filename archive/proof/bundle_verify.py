"""Verify a proof bundle offline: key, signed checkpoint, every event's inclusion
proof, coverage and withdrawals here; manifests, records and content in
:mod:`archive.proof.bundle_records`. Imports nothing that touches a database or
the network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archive.core.hashing import PREFIX, format_digest, is_digest, parse_hash, sha256_bytes
from archive.errors import (
    ConfigError,
    IntegrityError,
)
from archive.proof import checkpoint as cp
from archive.proof import keys as keymod
from archive.proof import timestamps as ts
from archive.proof.bundle_format import DELETION, SCHEMA_NAME, BundleReport, Run, schema_errors
from archive.proof.bundle_records import _check_content, _check_manifests, _check_records
from archive.proof.merkle import root_from_inclusion_proof


def verify_bundle(data: bytes, *, trusted_key: str | Sequence[str] | None = None,
                  tsa_roots: Sequence[x509.Certificate] = ()) -> BundleReport:
    """Check a bundle end to end, in the order trust flows (docs/verifying.md):
    schema; key; checkpoint signature; each event's hashes, chain link and inclusion
    proof; that the events name the captures; each manifest against its capture id;
    each WARC record against the manifest and its own header; the content hash.

    ``trusted_key`` is a fingerprint (``sha256:<hex>``) or verifier key obtained
    independently, or several (the bundle's key must be one of them); without it every
    other check still runs under the bundle's own key (a warning) and the report is not
    ``trusted``. Never raises for a bad bundle: every problem is a failed check.

    Each RFC 3161 timestamp token must be over the checkpoint note's bytes; with
    ``tsa_roots`` its signature must chain to one of them (else the check fails), and
    the check names the authority's time; without roots it is reported unchecked (a
    warning), never passed.
    """
    run = Run()
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
    _check_timestamps(run, doc, tsa_roots)
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

def _check_key(run: Run, key: dict[str, str], trusted: Sequence[str] | None
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
                fingerprint = parse_hash(want)
                match = fingerprint == actual and is_digest(fingerprint)
                given.append(fingerprint)
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


def _check_checkpoint(run: Run, note: str, key_name: str,
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
                                f"{ckpt.size}, root {format_digest(ckpt.root)}")
    return ckpt


def _check_timestamps(run: Run, doc: dict[str, Any],
                      roots: Sequence[x509.Certificate]) -> None:
    """One check per token (see :func:`verify_bundle`)."""
    for i, token in enumerate(doc.get("timestamps", [])):
        name = f"timestamp [{i}] ({token['tsa'][:200]})"
        try:
            reply = ts.b64decode(token["response"])
            if not roots:
                facts = ts.token_facts(reply, doc["checkpoint"])
                run.add(name, "warn", f"authority time {facts.gen_time} (serial "
                                      f"{facts.serial}), NOT CHECKED: no TSA root given "
                                      "(--tsa-root or ARCHIVE_TSA_ROOTS)")
                continue
            facts = ts.verify_token(reply, doc["checkpoint"], roots)
        except IntegrityError as exc:
            run.add(name, "fail", str(exc))
            continue
        run.add(name, "ok", f"authority time {facts.gen_time} (serial {facts.serial}): the "
                            "checkpoint existed then, signed by a TSA under a root you gave")


# ------------------------------------------------------------------------ events

def _check_events(run: Run, events: list[dict[str, Any]],
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
        entry_hash = sha256_bytes(raw)
        leaf = hashlib.sha256(b"\x00" + raw).digest()
        if entry_hash != ev["hash"]:
            problems.append(f"the entry hashes to {entry_hash}, the bundle says {ev['hash']}: "
                            "the entry (or its hash) was changed")
        if format_digest(leaf) != ev["leaf_hash"]:
            problems.append(f"its leaf hash is {format_digest(leaf)}, the bundle says "
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
        problems.append(f"the inclusion proof leads to root {format_digest(root)}, not the "
                        f"checkpoint's {format_digest(ckpt.root)} (size {ckpt.size})")
    return f"included at leaf {seq} of {ckpt.size}"


def _check_coverage(run: Run, doc: dict[str, Any],
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


def _check_withdrawn(run: Run, doc: dict[str, Any],
                     entries: list[dict[str, Any] | None]) -> str | None:
    """A ``deletion`` event naming a bundled capture withdraws it (a ``warn``: its bytes
    still verify, but the archive no longer stands behind it). Returns the subject
    capture's withdrawal, as one line, or ``None``."""
    subject = None
    for idx, cap in enumerate(doc["captures"]):
        cid = cap["capture_id"]
        tomb = next((e for e in entries if e is not None and e["type"] == DELETION
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


__all__ = ["verify_bundle"]
