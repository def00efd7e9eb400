"""The smaller HTML fields: language (declared, checked against the text), authors,
tags, canonical URL and description."""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from . import jsonld, outlet
from .combine import Candidate, choose
from .elements import Elements, bylines
from .language import Declared, detect, overrules, parse_tag
from .markup import absolute, clean_text, text_of
from .model import Evidence, Field
from .titles import title_key


def declared_languages(
    tree: HtmlElement, meta: dict[str, list[str]], ld: jsonld.JsonLd
) -> list[Declared]:
    out: list[Declared] = []
    raw_tags: list[tuple[str | None, str]] = [
        (tree.get("lang"), "html@lang"),
        (
            tree.get("{http://www.w3.org/XML/1998/namespace}lang") or tree.get("xml:lang"),
            "html@xml:lang",
        ),
    ]
    for key in ("content-language", "language", "dc.language", "og:locale", "inlanguage"):
        for value in meta.get(key, [])[:1]:
            raw_tags.append((value, f"meta:{key}"))
    fact = ld.text("inLanguage")
    if fact:
        raw_tags.append((fact.raw, fact.source))
    for raw, source in raw_tags:
        parsed = parse_tag(raw)
        if parsed and raw:
            out.append(Declared(parsed[0], parsed[1], source, raw))
    return out


_MIN_DETECTION = 0.4
_LIST_SEP = re.compile(r"\s*[,;]\s*")


def language_field(declared: list[Declared], text: str) -> tuple[Field, str | None]:
    """(field, region) — region from the declaration, for date conventions."""
    detection = detect(text)
    detected_ev = Evidence("text-detection", detection.detail)
    if declared:
        primary = declared[0]
        agree = [d for d in declared if d.code == primary.code]
        evidence = tuple(Evidence(d.source, d.raw) for d in agree)
        if detection.code is not None and overrules(detection, primary.code):
            conf = round(min(0.9, 0.5 + 0.4 * detection.confidence), 3)
            return Field(detection.code, (detected_ev,), conf, ()), None
        if detection.code == primary.code:
            return Field(primary.code, (*evidence, detected_ev), 0.98), primary.region
        if detection.unrecognised:
            # the text is in a language the detector does not know: the declaration
            # stands, unconfirmed, and says so by its confidence and evidence
            return Field(primary.code, (*evidence, detected_ev), 0.5), primary.region
        conf = 0.9 if detection.code is None or detection.confidence < 0.5 else 0.8
        return Field(primary.code, evidence, conf), primary.region
    if detection.code is None or detection.confidence < _MIN_DETECTION:
        return Field(), None  # too little or too mixed text: unknown, not a guess
    return Field(detection.code, (detected_ev,), round(min(0.95, detection.confidence), 3)), None


def _list_field(sources: list[tuple[list[str], str, float]]) -> Field:
    """The first source that has values wins; its values are the list."""
    for values, source, weight in sources:
        clean = tuple(
            dict.fromkeys(v for v in (" ".join(x.split()).strip(" ,;#") for x in values) if v)
        )
        if clean:
            raw = "; ".join(values)[:500]
            return Field(clean, (Evidence(source, raw),), weight)
    return Field()


def tags_field(found: Elements, meta: dict[str, list[str]], ld: jsonld.JsonLd) -> Field:
    ld_keywords = [part for fact in ld.keywords() for part in _LIST_SEP.split(fact.value)]
    rel_tags = [text_of(a) for a in found.rel_tag]

    def split(key: str) -> list[str]:
        return [p for v in meta.get(key, []) for p in _LIST_SEP.split(v)]

    # publishers' tag lists differ from annotators' often: confidence stays moderate
    return _list_field(
        [
            (meta.get("article:tag", []), "meta:article:tag", 0.7),
            (ld_keywords, "json-ld:keywords", 0.65),
            (split("news_keywords"), "meta:news_keywords", 0.6),
            (split("keywords"), "meta:keywords", 0.5),
            (rel_tags, "html:a[rel=tag]", 0.5),
        ]
    )


_BYLINE_PREFIX = re.compile(
    r"^(?:by|von|par|por|av|di|door|text:|texte:|autor:|author:|written by|posted by|"
    r"(?:view|see) all posts by|zeige alle beiträge von|alle beiträge von|"
    r"voir tous les articles de)\s+",
    re.IGNORECASE,
)
_SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)+$")


def _split_people(values: list[str]) -> list[str]:
    """Names from author strings: split lists, drop "By", links, slugs, photo credits
    and anything without a letter."""
    out: list[str] = []
    for value in values:
        if value.startswith(("http://", "https://", "/")) or "@" in value:
            continue
        for part in re.split(
            r"\s*(?:;|\band\b|\bund\b|\by\b|\bet\b|\boch\b|&|,(?=\s*\S+\s+\S+))\s*", value
        ):
            part = _BYLINE_PREFIX.sub("", part.strip()).strip(" →»›|,")
            if (
                not part
                or len(part) > 80
                or part.startswith(("(", "["))
                or _SLUG.match(part)
                or not any(ch.isalpha() for ch in part)
                or sum(ch.isdigit() for ch in part) > 2
            ):
                continue
            out.append(part)
    return list(dict.fromkeys(out))




def _byline_author(found: Elements) -> Field:
    """By-line elements (class "author", "byline" ...) outside comment sections, for
    pages that declare no author in their markup."""
    for element in bylines(found):
        text = text_of(element)
        if not 2 < len(text) <= 80 or element.xpath(".//*[contains(@class, 'author')]"):
            continue  # too long, or a wrapper around a more specific author element
        names = _split_people([text])
        if names and all(len(n.split()) <= 5 for n in names):
            return Field(tuple(names[:5]), (Evidence("html:byline", text),), 0.45)
    return Field()


def authors_field(
    found_elements: Elements,
    meta: dict[str, list[str]],
    ld: jsonld.JsonLd,
    site_keys: set[str] | None = None,
) -> Field:
    ld_names = [f.value for f in ld.names("author")]
    meta_names = [
        v
        for key in (
            "author",
            "article:author",
            "parsely-author",
            "sailthru.author",
            "dc.creator",
            "dcterms.creator",
            "byl",
        )
        for v in meta.get(key, [])
    ]
    item = [text_of(e) for e in found_elements.itemprop_author]
    item = [t for t in item if 2 < len(t) < 80]
    rel = [text_of(a) for a in found_elements.rel_author]
    found = _list_field(
        [
            (_split_people(ld_names), "json-ld:author", 0.75),
            (_split_people(meta_names), "meta:author", 0.65),
            (_split_people(item), "itemprop:author", 0.6),
            (_split_people(rel), "html:a[rel=author]", 0.55),
        ]
    )
    if found.value is None:
        found = _byline_author(found_elements)
    if (
        isinstance(found.value, tuple)
        and site_keys
        and all(outlet.fold(v) in site_keys for v in found.value)
    ):
        # the outlet named as its own author: true, but no byline; trust it less
        return Field(found.value, found.evidence, 0.5)
    return found


def canonical_field(
    found: Elements, meta: dict[str, list[str]], ld: jsonld.JsonLd, url: str | None
) -> Field:
    candidates: list[Candidate] = []
    for link in [found.canonical] if found.canonical is not None else []:
        href = link.get("href")
        full = absolute(href, url)
        if full:
            candidates.append(Candidate(full, "link:canonical", href or "", 0.85))
    for value in meta.get("og:url", [])[:1]:
        full = absolute(value, url)
        if full:
            candidates.append(Candidate(full, "meta:og:url", value, 0.7))
    fact = ld.text("mainEntityOfPage", "url")
    if fact:
        full = absolute(fact.raw, url)
        if full:
            candidates.append(Candidate(full, fact.source, fact.raw, 0.6))
    return choose(candidates, key=lambda v: str(v).rstrip("/").split("#")[0].lower())


def description_field(meta: dict[str, list[str]], ld: jsonld.JsonLd) -> Field:
    candidates: list[Candidate] = []
    for key, weight in (
        ("description", 0.7),
        ("og:description", 0.7),
        ("twitter:description", 0.6),
        ("dc.description", 0.6),
    ):
        for value in meta.get(key, [])[:1]:
            candidates.append(Candidate(clean_text(value), f"meta:{key}", value, weight))
    fact = ld.text("description")
    if fact:
        candidates.append(Candidate(clean_text(fact.value), fact.source, fact.raw, 0.7))
    return choose(candidates, key=title_key, cap=0.95)
