"""Article metadata with per-field evidence: the pure extractor.

``extract(data, url=..., content_type=..., capture_time=...)`` reads a payload (HTML
or plain text) and returns a :class:`MetadataRecord`: publication and modification
dates, title, authors, outlet, tags, language, canonical URL, description, dateline
and the outlets the article credits, each with the evidence it rests on and a
confidence. Unknown is null, never a guess. PDFs, images, stylesheets, scripts and
other non-articles get a record with ``content_kind="not-applicable"``, every field
null, and the reason.

The function is pure: no network, no database, no file writes. Its only use of
the clock is that, given no ``capture_time``, dates after today are impossible.
``validate(doc)`` checks a record's JSON form against
``schemas/article-metadata.schema.json`` and reports every error at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..errors import MetadataError
from . import ambiguity
from .dates import upper_bound
from .model import (
    EXTRACTOR_ID,
    EXTRACTOR_NAME,
    EXTRACTOR_VERSION,
    FIELD_NAMES,
    UNKNOWN,
    ContentKind,
    Decoding,
    Evidence,
    Field,
    Inputs,
    MetadataRecord,
    Rejected,
)
from .payload import decode, sniff
from .schema import SCHEMA_NAME, load_schema, validate

__all__ = [
    "EXTRACTOR_ID",
    "EXTRACTOR_NAME",
    "EXTRACTOR_VERSION",
    "FIELD_NAMES",
    "SCHEMA_NAME",
    "Decoding",
    "Evidence",
    "Field",
    "MetadataRecord",
    "Rejected",
    "extract",
    "load_schema",
    "validate",
]


def extract(
    data: bytes,
    *,
    url: str | None = None,
    content_type: str | None = None,
    capture_time: datetime | None = None,
) -> MetadataRecord:
    """Extract article metadata from ``data`` (the payload as a reader gets it:
    transfer- and content-encoding already undone).

    ``url`` is the page's URL (dates in its path, the outlet's domain, relative
    canonical links); ``content_type`` the declared type with its charset, a hint
    the bytes can overrule; ``capture_time`` an aware datetime, the upper bound for
    every date (without it, today's date is used as the bound).
    """
    if capture_time is not None and capture_time.tzinfo is None:
        raise MetadataError(
            "capture_time must be timezone-aware (UTC): a naive time cannot bound dates"
        )
    inputs = Inputs(url=url, content_type=content_type, capture_time=capture_time)
    kind = sniff(data, content_type, url)
    if kind.kind == "not-applicable":
        return MetadataRecord(content_kind="not-applicable", reason=kind.reason, inputs=inputs)
    text, decoding = decode(data, content_type, html=kind.kind == "html")
    bound = upper_bound(capture_time or datetime.now(UTC))
    ctx = ambiguity.Context(bound=bound)
    if kind.kind == "html":
        from . import html

        tree = html.parse(text)
        if tree is not None:
            fields = html.extract(tree, url=url, ctx=ctx, source=text)
            return _record("html", fields, decoding, inputs)
        # not parseable as HTML at all: read it as text rather than lose it
    from . import text as plain

    fields = plain.extract(text, url=url, bound_ctx=ctx)
    if not fields:
        return MetadataRecord(
            content_kind="text", reason="no text in the payload", decoding=decoding, inputs=inputs
        )
    return _record("text", fields, decoding, inputs)


def _record(
    kind: ContentKind, fields: dict[str, Field], decoding: Decoding, inputs: Inputs
) -> MetadataRecord:
    def get(name: str) -> Field:
        return fields.get(name, UNKNOWN)

    return MetadataRecord(
        content_kind=kind,
        published=get("published"),
        modified=get("modified"),
        title=get("title"),
        authors=get("authors"),
        outlet=get("outlet"),
        tags=get("tags"),
        language=get("language"),
        canonical_url=get("canonical_url"),
        description=get("description"),
        dateline=get("dateline"),
        credited_sources=get("credited_sources"),
        decoding=decoding,
        inputs=inputs,
    )
