"""The record the extractor returns: frozen values, converted to JSON at the edge.

A :class:`Field` is one extracted value with the evidence it rests on and a
confidence (our estimate of the probability that the value is right). Unknown is
``value=None`` with confidence 0: the extractor never fills a gap with a guess.
Readings that were considered and set aside (the other reading of an ambiguous
numeric date, a source that disagreed) are kept in ``rejected`` with the reason,
so a reader can audit the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Any, Literal

EXTRACTOR_NAME = "provenance-archive-metadata"
# Bump whenever extraction logic changes what a record can contain: stored records
# name the version that produced them and a newer one is stored beside the old.
EXTRACTOR_VERSION = "1.4.0"
EXTRACTOR_ID = f"{EXTRACTOR_NAME}/{EXTRACTOR_VERSION}"

FIELD_NAMES: tuple[str, ...] = (
    "published",
    "modified",
    "title",
    "authors",
    "outlet",
    "tags",
    "language",
    "canonical_url",
    "description",
    "dateline",
    "credited_sources",
)
LIST_FIELDS = frozenset({"authors", "tags", "credited_sources"})
DATE_FIELDS = frozenset({"published", "modified"})

ContentKind = Literal["html", "text", "not-applicable"]
Value = str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a value came from: ``source`` names the place (``json-ld:datePublished``,
    ``meta:article:published_time``, ``text:line 3``, ``url-path``, ``htmldate``),
    ``raw`` the string as found there, ``extractor`` the software that read it."""

    source: str
    raw: str
    extractor: str = EXTRACTOR_ID

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "raw": self.raw, "extractor": self.extractor}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A reading that was considered and not chosen, and why (e.g. the month-first
    reading of ``02-05-2016``, or a URL date that disagrees with the markup)."""

    value: str
    reason: str
    source: str | None = None
    raw: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "reason": self.reason}
        if self.source is not None:
            out["source"] = self.source
        if self.raw is not None:
            out["raw"] = self.raw
        return out


@dataclass(frozen=True, slots=True)
class Field:
    value: Value = None
    evidence: tuple[Evidence, ...] = ()
    confidence: float = 0.0
    rejected: tuple[Rejected, ...] = ()

    def __post_init__(self) -> None:
        if self.value is None and self.confidence != 0.0:
            raise ValueError("an unknown value has confidence 0")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside 0..1")

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        value: Any = list(self.value) if isinstance(self.value, tuple) else self.value
        out: dict[str, Any] = {
            "value": value,
            "evidence": [e.to_json() for e in self.evidence],
            "confidence": round(self.confidence, 3),
        }
        if self.rejected:
            out["rejected"] = [r.to_json() for r in self.rejected]
        return out


UNKNOWN = Field()


@dataclass(frozen=True, slots=True)
class Decoding:
    """How bytes became text (FAULTS 12): the charset used, how it was chosen, and
    whether undecodable bytes had to be replaced."""

    charset: str
    basis: str
    replaced: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"charset": self.charset, "basis": self.basis, "replaced": self.replaced}


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the extraction was given besides the bytes; recorded so it can be re-run."""

    url: str | None = None
    content_type: str | None = None
    capture_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "content_type": self.content_type,
            "capture_time": self.capture_time.isoformat() if self.capture_time else None,
        }


@dataclass(frozen=True, slots=True)
class MetadataRecord:
    content_kind: ContentKind
    published: Field = UNKNOWN
    modified: Field = UNKNOWN
    title: Field = UNKNOWN
    authors: Field = UNKNOWN
    outlet: Field = UNKNOWN
    tags: Field = UNKNOWN
    language: Field = UNKNOWN
    canonical_url: Field = UNKNOWN
    description: Field = UNKNOWN
    dateline: Field = UNKNOWN
    credited_sources: Field = UNKNOWN
    reason: str | None = None
    decoding: Decoding | None = None
    inputs: Inputs = dc_field(default_factory=Inputs)
    extractor: str = EXTRACTOR_NAME
    extractor_version: str = EXTRACTOR_VERSION

    def get(self, name: str) -> Field:
        if name not in FIELD_NAMES:
            raise KeyError(name)
        value: Field = getattr(self, name)
        return value

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "extractor": self.extractor,
            "extractor_version": self.extractor_version,
            "content_kind": self.content_kind,
        }
        for name in FIELD_NAMES:
            out[name] = self.get(name).to_json()
        out["reason"] = self.reason
        out["decoding"] = self.decoding.to_json() if self.decoding else None
        out["inputs"] = self.inputs.to_json()
        return out
