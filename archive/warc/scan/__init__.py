"""Read a foreign WARC file completely and say exactly what is wrong with it, and where.

Importing somebody else's WARC puts it under our custody, so we must never accept a
file we have not read to its last byte. warcio is a forgiving *reader* (it skips blank
lines, tolerates wrong lengths with a warning, and reports problems without offsets);
here every check is made by us, in one forward pass, so that each problem carries the
byte offset an operator needs to look at the file:

* compression from the magic bytes: one gzip member per record (the standard), a
  whole-file gzip (one member holding many records, FAULTS 34), or none; each gzip
  member is decompressed to its end and its CRC checked, so a truncated last member is
  found (FAULTS 32);
* every record's ``Content-Length`` against the bytes present and the ``CRLF CRLF``
  that must follow the block (FAULTS 33); garbage between records (FAULTS 34);
* ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` for any algorithm hashlib knows,
  in base32, base16 or base64; an unknown algorithm is *unverified*, never a pass;
* an ARC file given as a WARC (FAULTS 34) and duplicate ``WARC-Record-ID`` values
  (FAULTS 35).

The scanner is pure: no database, no writes. ``WARC-Target-URI`` and ``WARC-Filename``
are kept as opaque strings and never touch the file system. Memory stays bounded: blocks
are streamed through the hashers in 64 KiB pieces; only headers (at most 1 MiB) are
held. Offsets in a gzip file are those of the gzip member (the only places a reader
can seek to); positions inside a member are given as uncompressed byte counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from archive.errors import ConfigError
from archive.warc.scan.results import (
    Compression,
    DigestStatus,
    ScannedRecord,
    ScanProblem,
    ScanReport,
    Verdict,
)
from archive.warc.scan.scanner import Scanner

__all__ = [
    "Compression",
    "DigestStatus",
    "ScanProblem",
    "ScanReport",
    "ScannedRecord",
    "Verdict",
    "scan_stream",
    "scan_warc",
]


def scan_stream(stream: BinaryIO, *, path: Path | None = None) -> ScanReport:
    """Scan a WARC from a binary stream, read once, forward only (need not be seekable).

    The stream is read to its end, so ``sha256``/``size`` cover every byte even when the
    verdict is decided early (ARC, unsupported compression).
    """
    return Scanner(stream, path).run()


def scan_warc(path: Path) -> ScanReport:
    """Scan the WARC (or ARC) file at ``path``: every record read fully, nothing written.

    Raises :class:`ConfigError` when the path cannot be opened and
    :class:`StorageError` when reading fails midway; malformed content is never an
    exception but a problem in the report (see :meth:`ScanReport.raise_for_verdict`).
    """
    try:
        f = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot open WARC file {path}: {exc.strerror or exc}",
                          path=path) from exc
    with f:
        return scan_stream(f, path=path)

