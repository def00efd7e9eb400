"""Who signs the custody log: its origin line (also the signed notes' key name) and the
archive's Ed25519 key pair, kept under the key directory (``archive init`` makes them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from archive.errors import ConfigError
from archive.proof import checkpoint as cp
from archive.proof import keys as keymod

KEY_FILE_STEM = "archive"
LOG_FILE = "log.json"


@dataclass(frozen=True)
class LogIdentity:
    """Who signs: the log's origin line (also the note key name) and its key pair."""

    origin: str
    private_key: Ed25519PrivateKey | None
    public_key: Ed25519PublicKey

    @property
    def fingerprint(self) -> str:
        return keymod.fingerprint(self.public_key)

    @property
    def vkey(self) -> str:
        return cp.vkey(self.origin, self.public_key)


def init_identity(key_dir: Path, origin: str) -> LogIdentity:
    """Create the archive's signing key and record its origin (refuses to overwrite)."""
    keymod.generate_key(key_dir, KEY_FILE_STEM)
    (key_dir / LOG_FILE).write_text(json.dumps({"origin": origin}, indent=1) + "\n")
    return load_identity(key_dir)


def load_identity(key_dir: Path, *, need_private: bool = True) -> LogIdentity:
    priv_path, pub_path = keymod.key_paths(key_dir, KEY_FILE_STEM)
    if not pub_path.exists() or not (key_dir / LOG_FILE).exists():
        raise ConfigError(f"no signing key in {key_dir}; run `archive init` first")
    origin = str(json.loads((key_dir / LOG_FILE).read_text())["origin"])
    private = keymod.load_private_key(priv_path) if need_private else None
    return LogIdentity(origin, private, keymod.load_public_key(pub_path))


def ensure_identity(key_dir: Path, origin: str) -> LogIdentity:
    try:
        return load_identity(key_dir)
    except ConfigError:
        return init_identity(key_dir, origin)
