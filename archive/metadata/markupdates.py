"""Date witnesses the markup declares, each with its prior weight: date meta tags
(OpenGraph ``article:*``, Dublin Core, Parse.ly, Sailthru, ``itemprop`` ...; a known
name weighs more than one that only looks like a date's), the JSON-LD article entity
(less when the entity is a web page, not an article), and ``itemprop`` or
``<time pubdate>`` elements. :mod:`archive.metadata.htmldates` weighs them against what
the page shows and htmldate's answer.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from .dates import parse_timestamp
from .jsonld import JsonLd
from .localdate import Witness, instant_of

_STRONG_PUBLISHED = {
    "article:published_time": 0.85,
    "og:article:published_time": 0.85,
    "article:published": 0.8,
    "article:published_date": 0.8,
    "published_time": 0.8,
    "og:published_time": 0.8,
    "datepublished": 0.8,
    "parsely-pub-date": 0.8,
    "sailthru.date": 0.75,
    "pubdate": 0.75,
    "publishdate": 0.75,
    "publish-date": 0.75,
    "publish_date": 0.75,
    "pub_date": 0.75,
    "dc.date.issued": 0.75,
    "dcterms.issued": 0.75,
    "citation_publication_date": 0.75,
}
_STRONG_MODIFIED = {
    "article:modified_time": 0.85,
    "og:article:modified_time": 0.85,
    "article:modified": 0.8,
    "article:modified_date": 0.8,
    "article:updated_time": 0.8,
    "og:updated_time": 0.75,
    "datemodified": 0.8,
    "dcterms.modified": 0.7,
    "last-modified": 0.6,
}
_MODIFIED_NAME = re.compile(r"modif|updat|revis|moddate|lastmod|last-mod|changed")
_PUBLISHED_NAME = re.compile(
    r"publi(?:shed|sh|cation)?[_.:-]?(?:date|time|datetime)|pub[_.:-]?date|publishtime|issued|"
    r"created|release[_.:-]?date|firstpublished|original|articledate|^date$|[.:]date$|^dc\.date$"
)
_NOT_A_DATE_NAME = re.compile(
    r"expir|end[_-]?date|gentime|publisher|publishid|type|principles|premium|"
    r"count|epoch"
)
META_GENERIC_WEIGHT = 0.55


def meta_witnesses(meta: dict[str, list[str]], *, modified: bool) -> list[Witness]:
    out: list[Witness] = []
    strong = _STRONG_MODIFIED if modified else _STRONG_PUBLISHED
    for key, values in meta.items():
        if key in strong:
            weight = strong[key]
        elif _NOT_A_DATE_NAME.search(key):
            continue
        elif (modified and _MODIFIED_NAME.search(key)) or (
            not modified and _PUBLISHED_NAME.search(key) and not _MODIFIED_NAME.search(key)
        ):
            weight = META_GENERIC_WEIGHT
        else:
            continue
        for raw in values[:3]:
            parsed = parse_timestamp(raw)
            if parsed is not None:
                out.append(Witness(parsed, f"meta:{key}", weight, instant_of(raw)))
    return out


def ld_witnesses(ld: JsonLd, *, modified: bool) -> list[Witness]:
    if ld.article is None:
        return []
    is_article = ld.article_type not in (None, "webpage") and "page" not in (ld.article_type or "")
    keys = (
        (("dateModified", 0.85),)
        if modified
        else (("datePublished", 0.85), ("dateCreated", 0.55), ("uploadDate", 0.7))
    )
    out: list[Witness] = []
    for key, weight in keys:
        fact = ld.text(key)
        if fact is None:
            continue
        parsed = parse_timestamp(fact.raw)
        if parsed is not None:
            out.append(
                Witness(
                    parsed,
                    fact.source,
                    weight if is_article else weight - 0.2,
                    instant_of(fact.raw),
                )
            )
    return out


def element_witnesses(elements: list[HtmlElement], *, modified: bool) -> list[Witness]:
    """``itemprop=datePublished`` elements and ``<time pubdate>``. When they carry
    several different dates they belong to a list of posts or comments: only the
    first (the page's own, usually) is kept, and trusted less."""
    prop = "datemodified" if modified else "datepublished"
    out: list[Witness] = []
    for element in elements:
        itemprop = (element.get("itemprop") or "").lower()
        tag = element.tag if isinstance(element.tag, str) else ""
        if itemprop == prop:
            weight, source = 0.75, f"itemprop:{element.get('itemprop')}"
        elif itemprop:
            continue
        elif not modified and tag == "time" and element.get("pubdate") is not None:
            weight, source = 0.6, "time[pubdate]"
        else:
            continue
        raw = element.get("datetime") or element.get("content") or element.text_content()
        parsed = parse_timestamp(raw or "")
        if parsed is not None:
            out.append(Witness(parsed, source, weight, instant_of(raw or "")))
    kept: list[Witness] = []
    for source in dict.fromkeys(w.source for w in out):
        same = [w for w in out if w.source == source]
        if len({w.match.date for w in same}) > 1:
            # explicit microdata on the first item is usually the page's own; a bare
            # <time pubdate> list is usually comments or related posts
            first = same[0]
            kept.append(
                Witness(
                    first.match,
                    first.source,
                    0.6 if source.startswith("itemprop") else 0.35,
                    first.instant,
                )
            )
        else:
            kept.extend(same)
    return kept
