"""A capture whose bytes are in hand and whose records are about to be written: the
prepared form every path (fetch, ingest, import, adoption) hands to the recorder,
and the facts derived from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archive.capture.revisit import Revisit
from archive.capture.subresources import PageRequisites
from archive.core.hashing import hex_part, parse_hash
from archive.core.timeutil import iso_utc
from archive.warc.writer import WarcWriter, WrittenRecord


@dataclass(frozen=True)
class Content:
    """What a capture records of its content (as :class:`Decoded` gives it), known
    without decoding when the body has no content coding."""

    sha256: str
    size: int
    codings: tuple[str, ...]
    error: str | None


@dataclass
class Prepared:
    """A capture whose bytes are in hand and whose records are about to be written."""

    url: str
    kind: str
    started_at: datetime
    ended_at: datetime
    content_hash: str | None
    content_type: str | None
    status: str
    http_status: int | None
    final_url: str | None
    provenance: dict[str, Any]
    # writes the records: (writer, warcinfo id, this capture) -> records written
    write: Callable[[WarcWriter, str, Prepared], list[WrittenRecord]]
    revisit_of: str | None = None
    problems: list[str] = field(default_factory=list)
    recovered_from: str | None = None  # set when a reconciler adopts an orphaned file
    run_id: str | None = None  # the orchestrator run that asked for it
    # a complete HTTP payload that may repeat the URL's last capture (looked up per batch)
    payload_digest: str | None = None
    revisit: Revisit | None = None
    # the provenance as its metadata record holds it (JSON), once the file is written
    provenance_text: str | None = None
    # added to the capture's custody event (an import names its file and record)
    event_detail: dict[str, Any] = field(default_factory=dict)
    # page and browser modes: the requisites, written before the page's own records
    requisites: PageRequisites | None = None

    def provenance_json(self) -> str:
        return self.provenance_text or dump_provenance(self.provenance)


def capture_facts(p: Prepared) -> dict[str, Any]:
    """Capture-level facts, stored in the WARC metadata record and used on adoption.

    ``revisit_of`` is written as bare hex, the form this record has always held (the
    manifest, which the capture id commits to, has it as ``sha256:<hex>``);
    :func:`revisit_of_fact` reads it back."""
    return {"url": p.url, "final_url": p.final_url, "kind": p.kind, "status": p.status,
            "http_status": p.http_status, "content_hash": p.content_hash,
            "content_type": p.content_type,
            "revisit_of": hex_part(p.revisit_of) if p.revisit_of else None,
            "started_at": iso_utc(p.started_at), "ended_at": iso_utc(p.ended_at),
            "problems": list(p.problems)}


def revisit_of_fact(facts: dict[str, Any]) -> str | None:
    """The ``revisit_of`` of :func:`capture_facts` as ``sha256:<hex>`` (or ``None``)."""
    value = facts.get("revisit_of")
    return parse_hash(value) if isinstance(value, str) and value else None


def dump_provenance(prov: dict[str, Any]) -> str:
    """The provenance as the metadata record and the captures row hold it."""
    return json.dumps(prov, sort_keys=True, ensure_ascii=False)
