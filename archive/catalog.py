"""The researchers' catalogue: one row per capture with its newest stored metadata,
withdrawal and citation, rendered as CSV and JSON Lines.

Every value in a row is read from hashed records (the captures rows, the stored
metadata versions, the custody log's deletion events) or is the citation ``archive
cite`` prints; :meth:`archive.api.Archive.catalog_batches` gathers them, this module
shapes and renders them (pure) and writes the two files atomically, a batch at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.core.files import atomic_file
from archive.core.hashing import HashingWriter
from archive.ledger.queries import CaptureSummary, ListedCapture
from archive.metadata.store import MetadataVersion

CATALOG_COLUMNS = ("url", "title", "outlet", "published", "content_hash", "capture_id",
                   "captured_at", "status", "withdrawn", "citation")
OK_STATUSES = ("complete", "revisit")
"""Capture statuses whose page is whole enough to extract metadata from."""


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """The value of one extracted field ({value, evidence, confidence}), lists joined."""
    item = record.get(name)
    value = item.get("value") if isinstance(item, Mapping) else item
    if isinstance(value, list):
        return ", ".join(str(v.get("name", v) if isinstance(v, Mapping) else v) for v in value)
    return value


def field_evidence(record: Mapping[str, Any], name: str) -> str | None:
    """Where one extracted field's value came from: its first piece of evidence."""
    item = record.get(name)
    evidence = item.get("evidence") if isinstance(item, Mapping) else None
    if isinstance(evidence, list):
        evidence = evidence[0] if evidence else None
    if isinstance(evidence, Mapping):
        evidence = evidence.get("source") or json.dumps(evidence, sort_keys=True)
    return None if evidence is None else str(evidence)


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One capture in the catalogue: the columns of :data:`CATALOG_COLUMNS`."""

    url: str
    title: Any
    outlet: Any
    published: Any
    content_hash: str | None
    capture_id: str
    captured_at: str
    status: str
    withdrawn: str | None  # "<time>: <reason>" of its deletion event
    citation: str

    def to_json(self) -> dict[str, Any]:
        """The row keyed by column, in :data:`CATALOG_COLUMNS` order."""
        return {c: getattr(self, c) for c in CATALOG_COLUMNS}


def metadata_sources(captures: Iterable[CaptureSummary]) -> list[str]:
    """The capture ids whose newest metadata version the rows read: each capture's own
    (its citation's) and, for a revisit, its original's (its columns, and its citation
    when it has none of its own)."""
    return list(dict.fromkeys(i for c in captures for i in (c.capture_id, c.revisit_of) if i))


def catalog_rows(captures: Sequence[ListedCapture], versions: Mapping[str, MetadataVersion],
                 citations: Mapping[str, str]) -> list[CatalogRow]:
    """One row per capture, in the order given (a batch of
    :func:`archive.ledger.queries.oldest_first`: capture time, then capture id), with
    its newest stored metadata version (``versions``, keyed by the ids
    :func:`metadata_sources` names) and its text citation."""
    rows = []
    for cap in captures:
        version = (versions.get(cap.revisit_of or cap.capture_id)
                   if cap.status in OK_STATUSES else None)
        record = version.record if version else {}
        gone = cap.withdrawal  # from the custody log's deletion events
        rows.append(CatalogRow(
            url=cap.url, title=field_value(record, "title"),
            outlet=field_value(record, "outlet"), published=field_value(record, "published"),
            content_hash=cap.content_hash, capture_id=cap.capture_id,
            captured_at=cap.captured_at, status=cap.status,
            withdrawn=f"{gone.time}: {gone.reason}" if gone else None,
            # The citation contract's text form, exactly what `archive cite` prints.
            citation=citations[cap.capture_id].strip()))
    return rows


def titles_of(captures: Iterable[CaptureSummary], versions: Mapping[str, MetadataVersion],
              ) -> dict[str, str]:
    """Each capture's title from its newest stored metadata version (``versions``, keyed
    by capture id; a revisit shows its original's), captures without one left out."""
    out = {}
    for cap in captures:
        version = versions.get(cap.revisit_of or cap.capture_id)
        title = field_value(version.record, "title") if version else None
        if isinstance(title, str) and title:
            out[cap.capture_id] = title
    return out


def render_catalog(rows: Iterable[CatalogRow], *, header: bool = True) -> tuple[bytes, bytes]:
    """(CSV, JSON Lines) bytes of the catalogue rows; the CSV's header line first unless
    ``header`` is false (a batch after the first)."""
    table = [r.to_json() for r in rows]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CATALOG_COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(table)
    jsonl = "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in table)
    return text.getvalue().encode("utf-8"), jsonl.encode("utf-8")


@dataclass(frozen=True)
class WrittenCatalog:
    """What :func:`write_catalog` wrote: both files, how many rows, each file's
    ``sha256:`` and the newest rows (the last ones written, for a preview)."""

    csv: Path
    jsonl: Path
    rows: int
    csv_sha256: str
    jsonl_sha256: str
    newest: tuple[CatalogRow, ...]


def write_catalog(directory: Path, batches: Iterable[Sequence[CatalogRow]], *,
                  newest: int = 10) -> WrittenCatalog:
    """Replace ``catalog.csv`` and ``catalog.jsonl`` in ``directory`` with the rows of
    ``batches`` (oldest first), rendered and written a batch at a time and hashed as
    they are written, so memory holds one batch. Each file is replaced atomically once
    every row is in it; if the rows or the writing fail on the way, both are left as
    they were, and a generator of rows is closed at once (ending the read transaction
    it holds, not whenever the failure's traceback is let go)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "catalog.csv", directory / "catalog.jsonl"
    count, last = 0, deque[CatalogRow](maxlen=newest)
    rows = iter(batches)
    try:
        with atomic_file(paths[0]) as csv_file, atomic_file(paths[1]) as jsonl_file:
            csv_out, jsonl_out = HashingWriter(csv_file), HashingWriter(jsonl_file)
            csv_out.write(render_catalog((), header=True)[0])
            for batch in rows:
                csv_bytes, jsonl_bytes = render_catalog(batch, header=False)
                csv_out.write(csv_bytes)
                jsonl_out.write(jsonl_bytes)
                count += len(batch)
                last.extend(batch)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return WrittenCatalog(paths[0], paths[1], count, csv_out.digest, jsonl_out.digest,
                          tuple(last))


__all__ = ["CATALOG_COLUMNS", "OK_STATUSES", "CatalogRow", "WrittenCatalog", "catalog_rows",
           "field_evidence", "field_value", "metadata_sources", "render_catalog", "titles_of",
           "write_catalog"]
