"""Canonical JSON (RFC 8785, JCS): the only serialisation we hash or sign.

Most of what we hash (events, manifests) holds only strings, small integers,
booleans, null, lists and objects whose keys are in the Basic Multilingual Plane.
For those, the standard library's C encoder with sorted keys and no whitespace
produces exactly the JCS bytes (JCS sorts keys by UTF-16 code units, which for BMP
keys is code-point order; it escapes strings as json does with ensure_ascii=False).
Anything else (floats, big integers, non-BMP keys) goes through ``rfc8785``. A
property test checks that both paths agree.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from archive.core.hashing import sha256_bytes

_MAX_SAFE_INT = 2**53 - 1
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                           allow_nan=False).encode


def _bmp_key(key: object) -> bool:
    return isinstance(key, str) and (key.isascii() or max(key, default="") < "\U00010000")


def _simple(value: Any) -> bool:
    """True when the fast encoder is exactly JCS for ``value`` (C-level checks where
    possible: this runs on every event and manifest we hash)."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT
    if isinstance(value, (list, tuple)):
        return all(map(_simple, value))
    if isinstance(value, dict):
        return all(map(_bmp_key, value)) and all(map(_simple, value.values()))
    return False


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``."""
    if _simple(value):
        return _encode(value).encode("utf-8")
    return rfc8785.dumps(value)


def canonical_hash(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``."""
    return sha256_bytes(canonical_json(value))
