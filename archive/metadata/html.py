"""HTML pages: parse once with lxml (``markup``), read every field from that tree.

Structured data first (JSON-LD, OpenGraph and other ``<meta>``, ``<link>``,
``itemprop``), visible markup second (``<h1>``, ``<title>``, paragraphs), and
htmldate for dates.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from . import ambiguity, credits, dateline, elements, htmldates, jsonld, outlet, timezones
from .dates import find_dates, past_month_mentions, url_date
from .fields import (
    authors_field,
    canonical_field,
    declared_languages,
    description_field,
    language_field,
    tags_field,
)
from .markup import (
    QUOTES,
    body_text,
    collect_meta,
    copyright_snippets,
    heading_start,
    original_url,
    paragraphs,
    parse,
    text_of,
    visible_text,
)
from .model import Evidence, Field
from .titles import title_field

__all__ = ["extract", "parse"]


def extract(
    tree: HtmlElement, *, url: str | None, ctx: ambiguity.Context, source: str
) -> dict[str, Field]:
    """All fields of an HTML page; ``source`` is the decoded HTML the tree was parsed from."""
    meta = collect_meta(tree)
    ld = jsonld.collect(tree)
    paras = paragraphs(tree)
    marked = elements.collect(tree)
    text = body_text(tree, paras)
    fields: dict[str, Field] = {}

    language, region = language_field(declared_languages(tree, meta, ld), text)
    fields["language"] = language
    canonical = canonical_field(marked, meta, ld, url)
    fields["canonical_url"] = canonical
    page_url = original_url(url or (canonical.value if isinstance(canonical.value, str) else None))

    title_el = tree.find(".//title")
    title_text = text_of(title_el) if title_el is not None else None
    visible, anchor = visible_text(tree)
    site = outlet.from_html(meta, ld, title_text, page_url, footer=copyright_snippets(source))
    fields["outlet"] = site
    site_names = [
        *meta.get("og:site_name", [])[:1],
        *[f.value for f in ld.names("publisher")][:1],
        *meta.get("application-name", [])[:1],
    ]
    if isinstance(site.value, str):
        site_names.append(site.value)
    domain = outlet.registrable_domain(page_url)
    if domain:
        site_names += [domain[0], domain[1]]
        host = (urlsplit(page_url or "").hostname or "").split(".")
        site_names += [
            label for label in host[:-2] if label not in ("www", "m", "amp") and len(label) >= 4
        ]
    site_names = [n for n in dict.fromkeys(site_names) if n and len(n) <= 80]
    site_keys = {outlet.fold(n) for n in site_names} - {""}
    fields["title"] = title_field(tree, meta, ld, site_names, site_keys, page_url)

    date_ctx = ambiguity.Context(
        language=language.value if isinstance(language.value, str) else None,
        region=region,
        bound=ctx.bound,
        url_date=url_date(page_url),
        utc_offsets=timezones.offsets(
            language.value if isinstance(language.value, str) else None,
            region,
            outlet.public_suffix(page_url),
        ),
    )

    def for_ambiguous_dates() -> ambiguity.Context:
        """The document's own date order and the months it speaks of: read only when
        a numeric date can be read two ways."""
        convention, convention_raw = ambiguity.document_convention(
            find_dates("\n".join(p for _, p in paras[:60]))
        )
        return replace(
            date_ctx,
            convention=convention,
            convention_raw=convention_raw,
            mentions=tuple(past_month_mentions(text[:20000])),
        )

    if anchor < 0 and isinstance(fields["title"].value, str):
        folded, heading = (
            visible.translate(QUOTES).casefold(),
            fields["title"].value.translate(QUOTES).casefold(),
        )
        anchor = folded.find(heading[:60])
        if anchor < 0 and len(heading) > 30:
            anchor = folded.find(heading[:30])
    if anchor < 0:
        anchor = heading_start(tree)
    fields["published"], fields["modified"] = htmldates.published_and_modified(
        tree,
        meta,
        ld,
        dated=marked.dated,
        url=page_url,
        ctx=date_ctx,
        visible=visible,
        anchor=anchor,
        html=source,
        refine=for_ambiguous_dates,
    )
    fields["authors"] = authors_field(marked, meta, ld, site_keys)
    fields["tags"] = tags_field(marked, meta, ld)
    fields["description"] = description_field(meta, ld)

    agency_mentions: list[credits.Mention] = []
    for source, paragraph in paras[:3]:
        found = dateline.find(paragraph)
        if found:
            fields["dateline"] = Field(found.place, (Evidence(source, found.raw),), 0.75)
            if found.agency:
                agency_mentions.append(credits.agency(found.agency, source, found.raw))
            break
    title_value = fields["title"].value if isinstance(fields["title"].value, str) else None
    fields["credited_sources"] = credits.credited(
        paras,
        title_value,
        exclude=site.value if isinstance(site.value, str) else None,
        extra=agency_mentions,
    )
    return fields
