"""What a scan reports: each record's facts and digest checks, every problem with its
byte offset, and the verdict (valid, partial, refused).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from archive.errors import WarcFormatError

Verdict = Literal["valid", "partial", "refused"]
Format = Literal["warc", "arc", "unknown"]
Compression = Literal["gzip", "none", "bzip2", "xz", "zstd"]
DigestStatus = Literal["pass", "fail", "unverified", "absent"]
# per digest: "not-checked" = declared but by definition not computable from this record
# (revisit payloads, segmented records)
OneDigestStatus = Literal["pass", "fail", "unverified", "absent", "not-checked"]
Severity = Literal["error", "warning"]
# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ScanProblem:
    """One finding. ``message`` is one line and starts with ``offset N:``.

    ``code`` is a stable machine-readable reason, so the importer and tests need not
    parse prose. Errors: ``empty-file``, ``unsupported-compression``, ``arc-format``,
    ``garbage``, ``whole-file-gzip``, ``non-chunked-gzip``, ``split-record``,
    ``gzip-truncated``, ``gzip-corrupt``, ``truncated``, ``bad-header``,
    ``header-too-large``, ``missing-field``, ``conflicting-header``,
    ``bad-content-length``, ``content-length-mismatch``, ``block-digest-mismatch``,
    ``payload-digest-mismatch``, ``malformed-digest``, ``no-records``. Warnings (they
    never change the verdict): ``digest-unverified``, ``duplicate-record-id``,
    ``target-uri-quirk``, ``extra-blank-lines``, ``odd-trailer``, ``missing-trailer``,
    ``header-line-ends``, ``unusual-version``, ``empty-gzip-member``, ``skipped``,
    ``too-many-problems``. For a gzip file ``offset`` is the member's offset.
    """

    offset: int
    message: str
    code: str = "error"
    severity: Severity = "error"


@dataclass(frozen=True)
class ScannedRecord:
    """What one record declares, what its bytes hash to, and what is wrong with it.

    ``offset`` is where the record starts in the file (for gzip: its member's offset).
    ``length`` is its bytes in the file (compressed for gzip); 0 when the record does not
    occupy whole gzip members of its own (non-chunked gzip), since then no byte range
    holds it alone. ``block_sha256`` covers the block exactly as stored;
    ``payload_sha256`` is the HTTP entity body (as stored, transfer coding kept) for
    HTTP records and the whole block for resource/conversion records; None for
    warcinfo, metadata and revisit records, whose blocks carry no payload.
    ``digest_status`` sums up ``block_digest_status`` and ``payload_digest_status``;
    ``not-checked`` there means the digest is by definition not computable from this
    record (a revisit's payload lives in another record; a segment's payload spans
    several): the record's status is then that of its block digest, or "unverified"
    when it has none.
    """

    offset: int
    length: int
    record_id: str | None
    type: str | None
    target_uri: str | None
    date: str | None
    content_type: str | None
    content_length: int | None
    block_digest_declared: str | None
    payload_digest_declared: str | None
    block_sha256: str | None
    payload_sha256: str | None
    digest_status: DigestStatus
    problems: tuple[ScanProblem, ...] = ()
    block_digest_status: OneDigestStatus = "absent"
    payload_digest_status: OneDigestStatus = "absent"
    warc_version: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing about this record is an error (warnings allowed)."""
        return not any(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class ScanReport:
    """The whole file: its hash, every record, every problem and the verdict.

    ``refused``: nothing trustworthy could be read (ARC, whole-file gzip, garbage at the
    start, unsupported compression, empty, or no record without errors). ``partial``:
    some records are good, others (or bytes between them) are not. ``valid``: no errors.
    """

    path: Path | None
    sha256: str
    size: int
    format: Format
    compression: Compression
    records: tuple[ScannedRecord, ...]
    problems: tuple[ScanProblem, ...]
    verdict: Verdict
    warc_versions: dict[str, int] = field(default_factory=dict, hash=False)
    error_count: int = 0

    @property
    def errors(self) -> tuple[ScanProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[ScanProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def record_counts(self) -> dict[str, int]:
        """Records per WARC-Type (``None`` types counted as ``"?"``)."""
        return dict(Counter(r.type or "?" for r in self.records))

    @property
    def reason(self) -> str | None:
        """The first error's message: why the file is refused or partial."""
        errs = self.errors
        return errs[0].message if errs else None

    def raise_for_verdict(self, *, allow_partial: bool = False) -> None:
        """Raise :class:`WarcFormatError` unless the verdict is acceptable to the caller."""
        if self.verdict == "valid" or (self.verdict == "partial" and allow_partial):
            return
        first = self.errors[0] if self.errors else None
        where = f"{self.path}: " if self.path is not None else ""
        raise WarcFormatError(
            f"{where}WARC {self.verdict}: {first.message if first else 'no records'}",
            path=self.path, offset=first.offset if first else None, sha256=self.sha256)


