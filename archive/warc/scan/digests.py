"""Declared WARC digests: decoding ``algorithm:value`` in base32, base16 or base64,
hashing a block with any algorithm hashlib knows, and what the comparison says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Protocol

from archive.warc.scan.results import DigestStatus, OneDigestStatus, Severity

# --------------------------------------------------------------------------- digests


class Hasher(Protocol):
    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def new_hasher(name: str) -> Hasher | None:
    """A hashlib object for a WARC digest label (``sha1``, ``SHA-256``, ``sha3-256``...).

    Variable-length algorithms (SHAKE) have no fixed digest to compare: unknown.
    """
    base = name.strip().lower()
    for cand in dict.fromkeys((base, base.replace("-", ""), base.replace("-", "_"))):
        if not cand or cand.startswith("shake"):
            continue
        try:
            h: Hasher = hashlib.new(cand, usedforsecurity=False)
        except (ValueError, TypeError):
            continue
        return h
    return None


def decode_digest_value(value: str, size: int) -> list[tuple[str, bytes]]:
    """Every RFC 4648 reading of ``value`` that yields ``size`` bytes.

    The WARC standard names no encoding; base32 (sha1), base16 and base64 (standard or
    URL-safe, padded or not) are all found in the wild. Each candidate must decode to
    the full digest length, so accepting several readings does not weaken the check.
    """
    out: list[tuple[str, bytes]] = []
    s = value.strip()
    if len(s) == 2 * size and re.fullmatch(r"[0-9A-Fa-f]+", s):
        out.append(("base16", bytes.fromhex(s)))
    t = s.upper().rstrip("=")
    if len(t) == -(-size * 8 // 5) and re.fullmatch(r"[A-Z2-7]+", t):
        try:
            raw = base64.b32decode(t + "=" * (-len(t) % 8))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == size:
            out.append(("base32", raw))
    t = s.rstrip("=")
    if len(t) == -(-size * 4 // 3):
        std = re.fullmatch(r"[A-Za-z0-9+/]+", t) is not None
        url = re.fullmatch(r"[A-Za-z0-9_-]+", t) is not None
        if std or url:
            try:
                raw = base64.b64decode(t + "=" * (-len(t) % 4), altchars=None if std else b"-_")
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) == size:
                out.append(("base64", raw))
    return out


def encode_digest(raw: bytes, encoding: str) -> str:
    if encoding == "base16":
        return raw.hex()
    if encoding == "base64":
        return base64.b64encode(raw).decode("ascii")
    return base64.b32encode(raw).decode("ascii")


class DeclaredDigest:
    """A declared ``algorithm:value`` digest, the hasher that checks it, and its result."""

    def __init__(self, which: str, declared: str) -> None:
        self.which = which
        self.declared = declared
        self.hasher: Hasher | None = None
        self.candidates: list[tuple[str, bytes]] = []
        algo, sep, value = declared.strip().partition(":")
        self.algo = algo.strip()
        self.problem: tuple[str, Severity, str] | None = None
        if not sep or not value.strip() or not self.algo:
            self.problem = ("malformed-digest", "error",
                            f"{which} digest {show(declared)} is not 'algorithm:value'")
            return
        hasher = new_hasher(self.algo)
        if hasher is None:
            self.problem = ("digest-unverified", "warning",
                            f"{which} digest algorithm {show(self.algo)} is unknown: "
                            f"{show(declared)} not verified")
            return
        # an undecodable value cannot match: it is checked (and fails) like any other,
        # so the report still shows what the digest should have been
        self.candidates = decode_digest_value(value, hasher.digest_size)
        self.hasher = hasher

    def update(self, data: bytes) -> None:
        if self.hasher is not None:
            self.hasher.update(data)

    def result(self) -> tuple[OneDigestStatus, str | None]:
        """(status, computed value in the declared encoding) once the bytes are all in."""
        if self.problem is not None:
            return ("unverified" if self.problem[1] == "warning" else "fail"), None
        assert self.hasher is not None
        raw = self.hasher.digest()
        if self.candidates:
            encoding = self.candidates[0][0]
        else:  # WARC custom: base32 for sha1, else hex
            encoding = "base32" if self.algo.lower().replace("-", "") == "sha1" else "base16"
        computed = f"{self.algo}:{encode_digest(raw, encoding)}"
        if any(raw == cand for _, cand in self.candidates):
            return "pass", computed
        if not self.candidates:
            computed += (f"; the declared value is not a {self.algo} digest in base32, base16 "
                         "or base64")
        return "fail", computed


def check_declared(block: DeclaredDigest | None, payload: DeclaredDigest | None, *,
                   length_known: bool, payload_checkable: bool, note: str = "",
                   ) -> tuple[OneDigestStatus, OneDigestStatus, list[tuple[str, str]]]:
    """The declared digests' statuses once the block has been fed to them, and the
    mismatches as (code, text). Without a known length nothing could be checked
    ("unverified"); a revisit's or a segment's payload is "not-checked". ``note`` ends
    a mismatch's text (e.g. that the block was incomplete)."""
    found: list[tuple[str, str]] = []
    bstat = _verdict(block, "the record", True, length_known, note, found)
    pstat = _verdict(payload, "the payload", payload_checkable, length_known, note, found)
    return bstat, pstat, found


def _verdict(declared: DeclaredDigest | None, of: str, checkable: bool, length_known: bool,
             note: str, found: list[tuple[str, str]]) -> OneDigestStatus:
    if declared is None:
        return "absent"
    if not checkable:
        return "not-checked"
    if not length_known:
        return "unverified"
    status, computed = declared.result()
    if status == "fail" and computed is not None:
        found.append((f"{declared.which}-digest-mismatch",
                      f"{declared.which} digest {show(declared.declared)} does not match "
                      f"{of} (computed {computed}){note}"))
    return status


def combine(block: OneDigestStatus, payload: OneDigestStatus) -> DigestStatus:
    """One status per record: any failure wins; a passing digest beside an unknown
    algorithm is still "unverified" (a declared claim went unchecked)."""
    both = (block, payload)
    if "fail" in both:
        return "fail"
    if "unverified" in both:
        return "unverified"
    if "pass" in both:
        return "pass"
    if "not-checked" in both:
        return "unverified"
    return "absent"


def show(value: str | bytes, limit: int = 120) -> str:
    """A header value made safe for a one-line message (control characters escaped)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


