"""Signed checkpoints of the custody log (C2SP tlog-checkpoint + C2SP signed-note).

A checkpoint commits the archive to the Merkle root (:mod:`archive.proof.merkle`) of its
custody log at one tree size. It is written in the text form the transparency-log
ecosystem shares (Go's ``golang.org/x/mod/sumdb/note``, transparency-dev, Sigsum,
Sigstore Rekor), so that a third party can check our checkpoints with existing tools
and so that witnesses could cosign them::

    archive.example.org/custody          <- origin (c2sp.org/tlog-checkpoint)
    1234                                 <- tree size, decimal, no leading zeros
    47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=   <- root hash, standard base64
                                         <- blank line
    — archive.example.org/custody AbCd...  <- signature line(s) (c2sp.org/signed-note)

The signature line is em dash (U+2014), space, key name, space, then
``base64(key ID || Ed25519 signature)``. The key ID is the first four bytes of
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`` (0x01: the signed-note
signature type for Ed25519), and the signature covers the note text up to and
including its last newline, not the blank line. The public key is shared as a
*verifier key* (``vkey``): ``<name>+<8 hex key ID>+<base64(0x01 || public key)>``, the
form ``note.NewVerifier`` reads.

Checks follow the specs: the note is valid UTF-8 without control characters other
than newline; the text is separated from the signatures by the *last* blank line;
signatures by unknown keys are ignored (that is what allows key rotation and
cosigning); a signature by the expected key (same name *and* key ID) must verify; a
note with no such signature is rejected. Base64 must be canonical (the encoding of
the bytes it decodes to), a little stricter than Go's decoder, so that no character
of a note can change without the note being refused. Every failure is an
:class:`~archive.errors.IntegrityError` whose one-line message says what is wrong
and where (line numbers count from 1 over the whole note).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from archive.errors import ConfigError, IntegrityError
from archive.proof.keys import public_key_bytes, public_key_from_bytes

SIGNATURE_PREFIX = "\u2014 "
"""Em dash and space: how every signature line starts (c2sp.org/signed-note)."""

ED25519_SIGNATURE_TYPE = 0x01
"""Signature type byte of Ed25519 in signed-note key IDs and verifier keys."""

ROOT_HASH_SIZE = 32
MAX_NOTE_BYTES = 1 << 20
"""Notes over this size are refused before parsing (a defence, not a spec limit)."""

MAX_SIGNATURES = 100
"""More signature lines than this are refused, as Go's ``note.Open`` does."""

MAX_TREE_SIZE = (1 << 64) - 1
"""Tree sizes are uint64 in the Go implementations; larger sizes are refused."""

_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE_RE = re.compile(r"[0-9]+")
_FINGERPRINT_RE = re.compile(r"sha256:[0-9a-f]{64}")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")


# ------------------------------------------------------------------- checkpoints

@dataclass(frozen=True)
class Checkpoint:
    """One tree head: the log ``origin``, its tree ``size`` and Merkle ``root`` there.

    ``extensions`` are the optional opaque lines after the root hash that
    c2sp.org/tlog-checkpoint allows (and does not recommend); we never write them but
    keep those of checkpoints we read, since the signature covers them.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise ValueError("a checkpoint origin must be a non-empty string")
        if "\n" in self.origin or _CONTROL_RE.search(self.origin):
            raise ValueError(f"checkpoint origin {self.origin!r} contains a control character")
        if (not isinstance(self.size, int) or isinstance(self.size, bool)
                or not 0 <= self.size <= MAX_TREE_SIZE):
            raise ValueError(f"checkpoint tree size {self.size!r} is not in 0..2^64-1")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_HASH_SIZE:
            raise ValueError(f"a checkpoint root hash has {ROOT_HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise ValueError("checkpoint extensions must be a tuple of lines")
        for line in self.extensions:
            if (not isinstance(line, str) or not line or "\n" in line
                    or _CONTROL_RE.search(line)):
                raise ValueError(f"checkpoint extension line {line!r} must be non-empty, "
                                 "without control characters")

    def to_text(self) -> str:
        """The note text (the checkpoint body), ending with a newline: what is signed."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"),
                 *self.extensions]
        return "\n".join(lines) + "\n"


def sign(checkpoint: Checkpoint, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """The signed note of ``checkpoint``: its text, a blank line, one signature line.

    c2sp.org/tlog-checkpoint says the key name SHOULD be the origin; pass the origin
    unless you have a reason not to.
    """
    return sign_note(checkpoint.to_text(), private_key, key_name)


def parse_and_verify(
    note_text: str | bytes,
    public_key: Ed25519PublicKey,
    key_name: str,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Parse a signed checkpoint and check its signature by ``(key_name, public_key)``.

    ``origin``, when given, must equal the checkpoint's origin: a checkpoint of
    another log signed by the same key is not a checkpoint of this one.

    The checkpoint lines are parsed (syntax only) before the signature is checked so
    that a damaged line is reported as such; nothing is returned unless the signature
    verifies. Raises :class:`IntegrityError` with a one-line reason.
    """
    note = _parse_note(note_text)
    checkpoint = _parse_checkpoint_text(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise IntegrityError(
            f"checkpoint origin {checkpoint.origin!r} (line 1) is not the expected "
            f"{origin!r}: this checkpoint is for another log")
    _verify_note(note, public_key, key_name, what=_describe(checkpoint))
    return checkpoint


# ----------------------------------------------------------------- signed notes

def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte signed-note key ID: ``SHA-256(name || 0x0A || 0x01 || key)[:4]``."""
    _check_key_name(key_name)
    data = (key_name.encode("utf-8") + b"\n" + bytes([ED25519_SIGNATURE_TYPE])
            + public_key_bytes(public_key))
    return hashlib.sha256(data).digest()[:4]


def vkey(key_name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key ``<name>+<hex key ID>+<base64(0x01 || public key)>``.

    One line a user can paste into a verifier (ours, or Go's ``note.NewVerifier``);
    it carries the key name and a check value along with the key.
    """
    blob = bytes([ED25519_SIGNATURE_TYPE]) + public_key_bytes(public_key)
    return f"{key_name}+{key_id(key_name, public_key).hex()}+{base64.b64encode(blob).decode()}"


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """``(key name, public key)`` from a verifier key; :class:`ConfigError` if malformed.

    Checks the embedded key ID against the name and key, like ``note.NewVerifier``,
    so a mistyped or spliced verifier key is refused rather than trusted.
    """
    value = text.strip()
    name, _, rest = value.partition("+")
    id_hex, _, key_b64 = rest.partition("+")
    shape = ("a verifier key looks like <name>+<8 hex digits>+<base64 key>, "
             f"got {value[:120]!r}")
    if not _is_valid_key_name(name) or not _HEX8_RE.fullmatch(id_hex) or not key_b64:
        raise ConfigError(shape)
    blob = _b64decode(key_b64)
    if blob is None:
        raise ConfigError(shape)
    if not blob or blob[0] != ED25519_SIGNATURE_TYPE:
        kind = f"0x{blob[0]:02x}" if blob else "missing"
        raise ConfigError(
            f"verifier key {name} has key type {kind}; only Ed25519 (0x01) is supported")
    public_key = public_key_from_bytes(blob[1:])
    expected = key_id(name, public_key).hex()
    if id_hex != expected:
        raise ConfigError(
            f"verifier key {name} has key ID {id_hex} but its name and key give {expected}: "
            "the verifier key was altered or mistyped")
    return name, public_key


def sign_note(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """Sign ``text`` as a c2sp.org/signed-note with one Ed25519 signature line.

    ``text`` must end with a newline, be free of control characters other than
    newline, and must not end with a blank line (the last blank line of a note
    separates text from signatures).
    """
    _check_key_name(key_name)
    if not text.endswith("\n"):
        raise ValueError("note text must end with a newline")
    if text.endswith("\n\n") or text == "\n":
        raise ValueError("note text must not end with a blank line")
    if _CONTROL_RE.search(text):
        raise ValueError("note text must not contain control characters other than newline")
    message = text.encode("utf-8")
    signature = private_key.sign(message)
    blob = key_id(key_name, private_key.public_key()) + signature
    line = f"{SIGNATURE_PREFIX}{key_name} {base64.b64encode(blob).decode('ascii')}\n"
    note = f"{text}\n{line}"
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise ValueError(f"a signed note must be at most {MAX_NOTE_BYTES} bytes")
    return note


def open_note(note_text: str | bytes, public_key: Ed25519PublicKey, key_name: str) -> str:
    """The text of a signed note, once its signature by ``(key_name, public_key)`` has
    been verified (the counterpart of Go's ``note.Open`` for one known key)."""
    note = _parse_note(note_text)
    _verify_note(note, public_key, key_name, what="the note text")
    return note.text


@dataclass(frozen=True)
class _SignatureLine:
    line_number: int
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class _Note:
    text: str
    signatures: Sequence[_SignatureLine]


def _parse_note(note_text: str | bytes) -> _Note:
    """Split a signed note into text and signature lines (syntax only)."""
    if isinstance(note_text, bytes):
        raw = note_text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IntegrityError(
                f"checkpoint note is not valid UTF-8 (byte {exc.start})") from None
    elif isinstance(note_text, str):
        text = note_text
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise IntegrityError(
                f"checkpoint note is not valid UTF-8 (character {exc.start})") from None
    else:
        raise TypeError(f"a note is str or bytes, not {type(note_text).__name__}")
    if len(raw) > MAX_NOTE_BYTES:
        raise IntegrityError(
            f"checkpoint note is {len(raw)} bytes, over the {MAX_NOTE_BYTES}-byte limit")
    if (bad := _CONTROL_RE.search(text)) is not None:
        bad_line = text.count("\n", 0, bad.start()) + 1
        raise IntegrityError(
            f"malformed line {bad_line} of the checkpoint note: control character "
            f"U+{ord(bad.group()):04X} (only newline is allowed)")
    split = text.rfind("\n\n")
    if split < 0:
        raise IntegrityError(
            "checkpoint note has no signature block: expected the text, a blank line, "
            f"then lines '{SIGNATURE_PREFIX}<key name> <signature>'")
    body, block = text[:split + 1], text[split + 2:]
    first_sig_line = body.count("\n") + 2
    if not block:
        raise IntegrityError(
            f"checkpoint note has no signature lines after the blank line "
            f"(line {first_sig_line - 1})")
    if not block.endswith("\n"):
        raise IntegrityError("checkpoint note does not end with a newline "
                             "(the last signature line is cut off)")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise IntegrityError(
            f"checkpoint note has {len(lines)} signature lines, over the limit of "
            f"{MAX_SIGNATURES}")
    signatures = []
    for offset, line in enumerate(lines):
        number = first_sig_line + offset
        where = f"malformed signature line {number} of the checkpoint note"
        if not line.startswith(SIGNATURE_PREFIX):
            raise IntegrityError(
                f"{where}: it must start with an em dash (U+2014) and a space")
        name, _, b64 = line[len(SIGNATURE_PREFIX):].partition(" ")
        if not _is_valid_key_name(name):
            raise IntegrityError(
                f"{where}: key name {name[:80]!r} is empty or contains a space or '+'")
        blob = _b64decode(b64)
        if not blob:
            raise IntegrityError(
                f"{where}: the signature is not valid (canonical, padded) base64")
        if len(blob) < 5:
            raise IntegrityError(
                f"{where}: the signature has {len(blob)} bytes, less than a key ID and "
                "a signature")
        signatures.append(_SignatureLine(number, name, blob[:4], blob[4:]))
    return _Note(body, tuple(signatures))


def _verify_note(note: _Note, public_key: Ed25519PublicKey, key_name: str, *, what: str) -> None:
    """Apply the signed-note rules for one known key; raise IntegrityError if unmet."""
    expected_id = key_id(key_name, public_key)
    label = f"{key_name}+{expected_id.hex()}"
    for sig in note.signatures:
        if sig.name != key_name or sig.key_id != expected_id:
            continue  # another key (rotation, witnesses): ignored, as the spec requires
        # The first line by the known key decides, as in Go's note.Open.
        if len(sig.signature) != 64:
            raise IntegrityError(
                f"bad signature on line {sig.line_number} by key {label}: it has "
                f"{len(sig.signature)} bytes, an Ed25519 signature has 64")
        try:
            public_key.verify(sig.signature, note.text.encode("utf-8"))
        except InvalidSignature:
            raise IntegrityError(
                f"bad signature on line {sig.line_number} by key {label}: it does not "
                f"match {what}, so the text was changed after signing or the signature "
                "was") from None
        return
    others = [f"{s.name}+{s.key_id.hex()}" for s in note.signatures]
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    raise IntegrityError(
        f"checkpoint note is not signed by the expected key {label}; it is signed only "
        f"by unknown key(s) {shown}")


# ----------------------------------------------------------------- checkpoint body

def _parse_checkpoint_text(text: str) -> Checkpoint:
    """Parse c2sp.org/tlog-checkpoint note text (syntax only; not yet trusted)."""
    lines = text[:-1].split("\n")  # the text ends with "\n"
    if len(lines) < 3:
        raise IntegrityError(
            f"checkpoint has {len(lines)} line(s) before the signatures; it needs at "
            "least 3 (origin, tree size, root hash)")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise IntegrityError("malformed line 1 of the checkpoint: the origin is empty")
    if not _SIZE_RE.fullmatch(size_text):
        raise IntegrityError(
            f"malformed line 2 of the checkpoint: tree size {size_text[:40]!r} is not a "
            "decimal number")
    if len(size_text) > 1 and size_text[0] == "0":
        raise IntegrityError(
            f"malformed line 2 of the checkpoint: tree size {size_text[:40]!r} has "
            "leading zeros")
    size = int(size_text) if len(size_text) <= 20 else MAX_TREE_SIZE + 1
    if size > MAX_TREE_SIZE:
        raise IntegrityError(
            f"malformed line 2 of the checkpoint: tree size {size_text[:40]!r} is over "
            "2^64-1")
    root = _b64decode(root_text)
    if root is None:
        raise IntegrityError(
            f"malformed line 3 of the checkpoint: root hash {root_text[:60]!r} is not "
            "valid (canonical, padded) base64")
    if len(root) != ROOT_HASH_SIZE:
        raise IntegrityError(
            f"malformed line 3 of the checkpoint: root hash has {len(root)} bytes, "
            f"a SHA-256 root has {ROOT_HASH_SIZE}")
    for offset, line in enumerate(extensions):
        if not line:
            raise IntegrityError(
                f"malformed line {4 + offset} of the checkpoint: extension lines must "
                "not be empty")
    return Checkpoint(origin, size, root, tuple(extensions))


def _b64decode(text: str) -> bytes | None:
    """Standard base64 (RFC 4648 §4), padded, and canonical: ``None`` otherwise.

    Canonical means the text is what encoding the bytes gives back. Go's decoder also
    accepts non-zero unused bits in the last character; we do not, so that no byte of
    a note can change without the note being refused (otherwise a signature line
    would have variants that decode to the same signature).
    """
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        return None
    return data if base64.b64encode(data).decode("ascii") == text else None


def _describe(checkpoint: Checkpoint) -> str:
    return (f"the checkpoint text (origin {checkpoint.origin!r}, size {checkpoint.size}, "
            f"root {checkpoint.root.hex()})")


def _is_valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode space and no '+' (c2sp.org/signed-note key names)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _check_key_name(key_name: str) -> None:
    if not isinstance(key_name, str) or not _is_valid_key_name(key_name):
        raise ValueError(
            f"key name {key_name!r} must be non-empty, without spaces or '+'")


def read_trusted_keys(path: Path) -> list[str]:
    """The keys a user trusts, from a file they control (``ARCHIVE_TRUSTED_KEYS``).

    One key a line: a fingerprint ``sha256:<64 hex>`` or a verifier key
    ``<name>+<key ID>+<base64 key>``; blank lines and ``#`` comments are ignored. A line
    that is neither is a :class:`ConfigError` naming the file and line, never skipped:
    a typo must not silently leave a bundle unverified or verified against nothing.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the trusted keys file {path} (ARCHIVE_TRUSTED_KEYS): "
                          f"{why}", path=path) from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        if _FINGERPRINT_RE.fullmatch(value.lower()):
            out.append(value.lower())
            continue
        try:
            parse_vkey(value)
        except ConfigError as exc:
            raise ConfigError(f"{path} line {number}: neither a fingerprint (sha256:<64 hex>) "
                              f"nor a verifier key ({exc})", path=path) from None
        out.append(value)
    return out
