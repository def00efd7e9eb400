"""Canonical JSON (RFC 8785, JCS): the only serialisation we hash or sign."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from archive.hashing import PREFIX


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``. Floats are allowed but we avoid them in what we hash."""
    return rfc8785.dumps(value)


def canonical_hash(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``."""
    return PREFIX + hashlib.sha256(canonical_json(value)).hexdigest()
