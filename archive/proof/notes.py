"""Signed checkpoints kept as files outside the database: one note a file, never changed.

The custody database holds every signed checkpoint, but an operator who can write to the
database could delete them, rewrite the log and sign again: nothing inside it would be
left to compare against. So each checkpoint note is also written, exactly as signed, to
``$ARCHIVE_HOME/checkpoints/`` and, when ``ARCHIVE_CHECKPOINT_MIRROR`` names one, to a
second directory. Copies the operator sends elsewhere (a witness, a repository, an
e-mail) are what make the log tamper-evident against its own operator.

A file is named ``<tree size, 12 digits>-<first 16 hex of the note's SHA-256>.note``,
so its name commits to its content and listing the directory sorts it by size. Files
are only ever added: created under a temporary name with mode 0444, fsynced, hard-linked
to their name (``link(2)`` never replaces a file), and the directory fsynced. A name
that exists already is left alone (the same note, or evidence for ``archive verify``).

Each RFC 3161 timestamp token of a note is filed beside it as
``<note name without .note>.<first 16 hex of the token's SHA-256>.tsr``: the DER
TimeStampResp exactly as the authority sent it, the same add-only way. The note file
stays byte-identical to what was signed (the token's imprint is its SHA-256), so
``openssl ts -verify -data <note> -in <tsr> -CAfile <TSA root>`` checks the pair with
no code of ours.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from archive.errors import StorageError

SUFFIX = ".note"
STAMP_SUFFIX = ".tsr"
MODE = 0o444
_NAME_RE = re.compile(r"([0-9]{12,20})-([0-9a-f]{16})\.note")


def note_filename(size: int, note: str) -> str:
    return f"{size:012d}-{hashlib.sha256(note.encode('utf-8')).hexdigest()[:16]}{SUFFIX}"


def matches_name(name: str, note: str) -> bool:
    """Whether ``note`` is the content ``name`` commits to (its hash part)."""
    m = _NAME_RE.fullmatch(name)
    return m is not None and note_filename(int(m.group(1)), note) == name


def read_notes(directory: Path) -> dict[str, str]:
    """Every ``*.note`` file of ``directory`` by name (none if it does not exist yet);
    a file that is not UTF-8 is returned with replacement characters (and so fails)."""
    out: dict[str, str] = {}
    try:
        paths = sorted(directory.glob(f"*{SUFFIX}"))
    except OSError as exc:
        raise StorageError(f"cannot list checkpoint notes in {directory}: {exc.strerror}",
                           path=directory) from exc
    for path in paths:
        try:
            out[path.name] = path.read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            raise StorageError(f"cannot read checkpoint note {path}: {exc.strerror}",
                               path=path) from exc
    return out


def token_filename(size: int, note: str, response: bytes) -> str:
    """The file name of one timestamp token of a note (see the module docstring)."""
    stem = note_filename(size, note).removesuffix(SUFFIX)
    return f"{stem}.{hashlib.sha256(response).hexdigest()[:16]}{STAMP_SUFFIX}"


def read_tokens(directory: Path) -> dict[str, bytes]:
    """Every ``*.tsr`` file of ``directory`` by name (none if it does not exist yet)."""
    try:
        return {p.name: p.read_bytes() for p in sorted(directory.glob(f"*{STAMP_SUFFIX}"))}
    except OSError as exc:
        raise StorageError(f"cannot read timestamp tokens in {directory}: {exc.strerror}",
                           path=directory) from exc


def filed_names(directory: Path, suffix: str) -> set[str]:
    """The names of the files of ``directory`` ending in ``suffix`` (:data:`SUFFIX` or
    :data:`STAMP_SUFFIX`), without reading them: what filing needs to know."""
    try:
        return {p.name for p in directory.glob(f"*{suffix}")}
    except OSError as exc:
        raise StorageError(f"cannot list {directory}: {exc.strerror}",
                           path=directory) from exc


def token_note_stem(name: str) -> str:
    """The note a token file belongs to, as its name without ``.note``."""
    return name.split(".", 1)[0]


def write_token(directory: Path, size: int, note: str, response: bytes) -> Path:
    """Add one timestamp token of a note to ``directory`` (durably, never replacing)."""
    return _write_once(directory / token_filename(size, note, response), response,
                       "timestamp token")


def write_note(directory: Path, size: int, note: str) -> Path:
    """Add the note of a checkpoint at ``size`` to ``directory`` (durably); returns its
    path. An existing file of that name is never replaced."""
    return _write_once(directory / note_filename(size, note), note.encode("utf-8"),
                       "checkpoint note")


def _write_once(path: Path, data: bytes, what: str) -> Path:
    directory = path.parent
    if path.exists():
        return path
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # a concurrent writer, same note
                os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise StorageError(f"cannot write {what} {path}: {exc.strerror}",
                           path=path) from exc
    return path
