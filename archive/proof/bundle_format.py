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
capture and checkpoint always give byte-identical bundles.
:func:`archive.proof.bundle_verify.verify_bundle` imports nothing that touches a
database or the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from archive.core.canonical import canonical_json
from archive.core.packagedata import schema_validator
from archive.warc.reader import MAX_RECORD_BYTES

BUNDLE_TYPE = "provenance-archive/proof-bundle"
BUNDLE_VERSION = 1
SCHEMA_NAME = "proof-bundle.schema.json"

CONTENT_TYPES = ("response", "resource", "revisit")
"""Record types that carry (or stand for) the payload; the last one in a manifest is
the capture's content record, as the capture code decides."""

Status = Literal["ok", "fail", "warn", "skip"]

DELETION = "deletion"
"""The PREMIS event type of a withdrawal (``archive.ledger.custody.DELETION``; not imported, so
that verifying needs no database code)."""


def encode(doc: dict[str, Any]) -> bytes:
    """The bundle file's bytes: RFC 8785 canonical JSON (deterministic, one line)."""
    return canonical_json(doc)


def _validator() -> Any:
    return schema_validator(SCHEMA_NAME)


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
class Run:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: Status, message: str) -> None:
        self.checks.append(Check(name, status, message))


@dataclass(frozen=True)
class Record:
    record_id: str
    type: str
    headers: dict[str, str]  # WARC headers, lower-case names
    block: bytes


__all__ = ["BUNDLE_TYPE", "BUNDLE_VERSION", "MAX_RECORD_BYTES", "BundleReport", "Check",
           "encode", "schema_errors"]
