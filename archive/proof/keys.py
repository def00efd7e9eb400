"""Ed25519 keys of an archive: create them safely, load them, name them.

The archive signs its custody-log checkpoints with one Ed25519 key (see
:mod:`archive.proof.checkpoint`). Anyone who holds the private key can sign a checkpoint
for a rewritten history, so the private key file is created readable by its owner
only, and we refuse to use one that group or others can read or write.

Files for a key called ``NAME`` in directory ``DIR``:

* ``DIR/NAME.key``: the private key, PKCS #8 PEM (unencrypted unless a passphrase is
  given, because pipeline runs sign unattended), mode 0600 from the moment the file
  exists. The mode is passed to ``open(2)`` (with ``O_EXCL``); there is never a moment
  when the key is on disk with wider permissions, as there would be with write-then-
  ``chmod``. The umask can only narrow it.
* ``DIR/NAME.pub``: the public key, SubjectPublicKeyInfo PEM, mode 0644.

Both are written to a temporary name, fsynced and then hard-linked to the final name
(``link(2)`` fails if the name exists), so a crash never leaves a half-written key and
an existing key is never overwritten. The fingerprint users see is
``sha256:<hex>`` of the raw 32-byte public key (RFC 8032 encoding), which is what
verifiers compare against ``--key``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from archive.core.hashing import sha256_bytes
from archive.errors import ConfigError

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MAX_KEY_FILE = 64 * 1024


@dataclass(frozen=True)
class KeyPair:
    """Where a generated key lives, and its public half."""

    name: str
    private_path: Path
    public_path: Path
    public_key: Ed25519PublicKey

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the raw public key (see :func:`fingerprint`)."""
        return fingerprint(self.public_key)


def key_paths(directory: Path, name: str) -> tuple[Path, Path]:
    """``(private, public)`` paths of the key ``name`` in ``directory``."""
    _check_name(name)
    return directory / f"{name}{PRIVATE_SUFFIX}", directory / f"{name}{PUBLIC_SUFFIX}"


def generate_key(directory: Path, name: str, *, passphrase: bytes | None = None) -> KeyPair:
    """Create a new Ed25519 key pair as ``directory/name.key`` and ``directory/name.pub``.

    Raises :class:`ConfigError` if either file already exists (a key is never
    replaced: checkpoints signed with it would stop verifying) or ``name`` is not a
    plain file name. ``directory`` is created with mode 0700 if missing.
    """
    private_path, public_path = key_paths(directory, name)
    if passphrase is not None and not passphrase:
        raise ConfigError("an empty passphrase would not protect the key; omit it instead")
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise ConfigError(
                f"refusing to overwrite existing key file {path}; move it away first "
                "(checkpoints signed with it will not verify without it)", path=path)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    private_key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase is not None
        else serialization.NoEncryption())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public_key = private_key.public_key()
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    _write_new(private_path, private_pem, PRIVATE_MODE)
    _write_new(public_path, public_pem, PUBLIC_MODE)
    _fsync_dir(directory)
    return KeyPair(name, private_path, public_path, public_key)


def load_private_key(path: Path, *, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PKCS #8 PEM file.

    Refuses (:class:`ConfigError`) a file that group or others may read or write, the
    way ssh refuses such identity files: the permission is checked on the opened file
    descriptor, so the file checked is the file read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"no private key at {path} (create one with `archive init`)",
                          path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot open private key {path}: {exc.strerror}", path=path) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"private key {path} is not a regular file", path=path)
        mode = stat.S_IMODE(st.st_mode)
        if os.name == "posix" and mode & 0o077:
            raise ConfigError(
                f"private key {path} has mode {mode:04o}, so group or others can read "
                f"or change it; refusing to use it (run `chmod 600 {path}` if it was not "
                "exposed, otherwise make a new key)", path=path)
        data = b""
        while len(data) <= _MAX_KEY_FILE and (chunk := os.read(fd, _MAX_KEY_FILE + 1)):
            data += chunk
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE:
        raise ConfigError(f"private key {path} is too large to be a key file", path=path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # passphrase missing or given for an unencrypted key
        raise ConfigError(f"private key {path}: {exc}", path=path) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            f"private key {path} is not a readable PKCS #8 PEM key (or the passphrase "
            "is wrong)", path=path) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"private key {path} is a {type(key).__name__.removeprefix('_')}, "
            "not an Ed25519 key", path=path)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a SubjectPublicKeyInfo PEM file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no public key at {path}", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read public key {path}: {exc.strerror}", path=path) from None
    return public_key_from_pem(data, source=str(path))


def public_key_from_pem(data: bytes | str, *, source: str = "PEM text") -> Ed25519PublicKey:
    """Parse an Ed25519 public key from SubjectPublicKeyInfo PEM (as in a ``.pub`` file)."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{source} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{source} is not an Ed25519 public key")
    return key


def public_key_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte RFC 8032 encoding of ``public_key``."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    """Inverse of :func:`public_key_bytes`; :class:`ConfigError` unless 32 valid bytes."""
    if len(raw) != 32:
        raise ConfigError(f"an Ed25519 public key has 32 bytes, got {len(raw)}")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ConfigError("not a valid Ed25519 public key") from None


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM text of ``public_key`` (what ``NAME.pub`` holds)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``sha256:<hex>`` of the raw 32-byte public key.

    Hashing the raw key rather than a PEM or DER wrapping makes the fingerprint
    independent of file format, so anyone holding the key in any form can recompute it.
    """
    return sha256_bytes(public_key_bytes(public_key))


# ------------------------------------------------------------------------ helpers

def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"key name {name!r} must be 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it becomes a file name)")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to the new file ``path``, created with ``mode``, atomically.

    The temporary file is created with ``O_CREAT | O_EXCL`` and the final mode (so a
    private key is never readable by others), fsynced, then hard-linked to ``path``;
    ``link`` fails with ``EEXIST`` rather than replace a file that appeared meanwhile.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise ConfigError(f"cannot create key file in {path.parent}: {exc.strerror}",
                          path=path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ConfigError(f"refusing to overwrite existing key file {path}",
                              path=path) from None
        except OSError as exc:
            raise ConfigError(f"cannot create key file {path}: {exc.strerror}",
                              path=path) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
