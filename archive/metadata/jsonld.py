"""JSON-LD (schema.org) in ``<script type="application/ld+json">``: lenient parse,
then the article entity and the facts the extractor needs, each with its raw string.

Real pages put several blocks on a page, wrap them in ``@graph`` or lists, refer to
the publisher by ``@id``, leave trailing commas and HTML comments in the JSON, and
describe breadcrumbs, videos and the web site beside the article. The article is
the entity with an article type (``NewsArticle``, ``BlogPosting`` ...), preferring
one with a headline and a date; web-page entities are a weaker fallback.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml.html import HtmlElement

# fmt: off
ARTICLE_TYPES = frozenset({
    "discussionforumposting", "opinionnewsarticle", "videoobject", "report",
    "analysisnewsarticle", "satiricalarticle", "review", "posting", "blogposting",
    "reviewnewsarticle", "scholarlyarticle", "advertisercontentarticle", "howto", "recipe",
    "backgroundnewsarticle", "article", "reportagenewsarticle", "techarticle", "creativework",
    "podcastepisode", "newsarticle", "socialmediaposting", "askpublicnewsarticle",
    "liveblogposting", "medicalscholarlyarticle",
})
# fmt: on
# fmt: off
PAGE_TYPES = frozenset({
    "checkoutpage", "qapage", "contactpage", "faqpage", "medicalwebpage", "itempage",
    "searchresultspage", "realestatelisting", "webpage", "profilepage", "collectionpage",
    "aboutpage",
})
# fmt: on
# fmt: off
ORG_TYPES = frozenset({
    "onlinebusiness", "ngo", "educationalorganization", "governmentorganization", "corporation",
    "website", "newsmediaorganization", "organization", "localbusiness", "newspaper",
})
# fmt: on


@dataclass(frozen=True, slots=True)
class Fact:
    value: str
    source: str  # e.g. "json-ld:datePublished"
    raw: str


@dataclass(slots=True)
class JsonLd:
    article: dict[str, Any] | None = None
    article_type: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    def text(self, *keys: str) -> Fact | None:
        """First non-empty string among ``keys`` of the article entity."""
        if self.article is None:
            return None
        for key in keys:
            for value in _strings(self.article.get(key)):
                return Fact(_unescape(value), f"json-ld:{key}", value)
        return None

    def names(self, key: str) -> list[Fact]:
        """Names of the persons or organisations under ``key`` (author, publisher)."""
        if self.article is None:
            return []
        out: list[Fact] = []
        for item in _as_list(self.article.get(key)):
            item = self.resolve(item)
            name = _name_of(item)
            if name:
                out.append(Fact(_unescape(name), f"json-ld:{key}", name))
        return out

    def persons(self, key: str) -> set[str]:
        """Names under ``key`` typed ``Person`` (a blogger as "publisher")."""
        if self.article is None:
            return set()
        out = set()
        for item in map(self.resolve, _as_list(self.article.get(key))):
            name = _name_of(item)
            if name and isinstance(item, dict) and "person" in types_of(item):
                out.add(_unescape(name))
        return out

    def resolve(self, item: Any) -> Any:
        if (
            isinstance(item, dict)
            and set(item) <= {"@id", "@type"}
            and item.get("@id") in self.by_id
        ):
            return self.by_id[str(item["@id"])]
        return item

    def organisations(self) -> list[Fact]:
        """Names of site-level entities (``Organization``, ``WebSite`` ...) on the page."""
        out: list[Fact] = []
        for entity in self.entities:
            kinds = types_of(entity)
            if kinds & ORG_TYPES:
                name = _name_of(entity)
                if name:
                    label = "WebSite" if "website" in kinds else "Organization"
                    out.append(Fact(_unescape(name), f"json-ld:{label}.name", name))
        return out

    def keywords(self) -> list[Fact]:
        if self.article is None:
            return []
        out: list[Fact] = []
        for key in ("keywords", "about"):
            for item in _as_list(self.article.get(key)):
                item = self.resolve(item)
                value = _name_of(item) if isinstance(item, dict) else item
                if isinstance(value, str) and value.strip():
                    out.append(Fact(_unescape(value), f"json-ld:{key}", value.strip()))
            if out:
                break
        return out


_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")


def _unescape(value: str) -> str:
    if "&" in value and _ENTITY.search(value):
        value = html.unescape(value)
    return " ".join(value.split())


def types_of(entity: dict[str, Any]) -> set[str]:
    return {
        t.rsplit("/", 1)[-1].lower() for t in _as_list(entity.get("@type")) if isinstance(t, str)
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _strings(value: Any) -> Iterator[str]:
    for item in _as_list(value):
        if isinstance(item, str) and item.strip():
            yield item.strip()
        elif isinstance(item, dict):
            for key in ("@value", "name", "url", "@id"):
                inner = item.get(key)
                if isinstance(inner, str) and inner.strip():
                    yield inner.strip()
                    break


def _name_of(item: Any) -> str | None:
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, dict):
        name = item.get("name")
        if isinstance(name, list):
            name = next((n for n in name if isinstance(n, str)), None)
        if isinstance(name, dict):
            name = name.get("@value")
        if isinstance(name, str) and name.strip():
            return name.strip()
        given, family = item.get("givenName"), item.get("familyName")
        if isinstance(given, str) and isinstance(family, str):
            return f"{given.strip()} {family.strip()}".strip() or None
    return None


_COMMENTS = re.compile(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _loads(text: str) -> list[Any]:
    """Parse a JSON-LD block; tolerate comments, CDATA, trailing commas, several
    concatenated objects. Raises ValueError when nothing can be read."""
    cleaned = _COMMENTS.sub("", text.strip()).strip().rstrip(";")
    for attempt in (cleaned, _TRAILING_COMMA.sub(r"\1", cleaned)):
        try:
            return [json.loads(attempt, strict=False)]
        except json.JSONDecodeError:
            pass
        decoder = json.JSONDecoder(strict=False)
        out: list[Any] = []
        pos = 0
        try:
            while pos < len(attempt):
                while pos < len(attempt) and attempt[pos] in " \t\r\n,;":
                    pos += 1
                if pos >= len(attempt):
                    break
                obj, pos = decoder.raw_decode(attempt, pos)
                out.append(obj)
        except json.JSONDecodeError:
            out = []
        if out:
            return out
    raise ValueError("unreadable JSON-LD")


def _walk(obj: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(obj, list):
        for item in obj:
            yield from _walk(item, depth + 1)
    elif isinstance(obj, dict):
        if "@type" in obj:
            yield obj
        for key in ("@graph", "mainEntity", "itemListElement", "hasPart"):
            if key in obj:
                yield from _walk(obj[key], depth + 1)


def collect(tree: HtmlElement) -> JsonLd:
    result = JsonLd()
    for index, script in enumerate(tree.iter("script")):
        kind = (script.get("type") or "").lower()
        if "ld+json" not in kind or not script.text:
            continue
        try:
            blocks = _loads(script.text)
        except ValueError:
            result.errors.append(f"JSON-LD block {index}: not valid JSON")
            continue
        for block in blocks:
            result.entities.extend(_walk(block))
    for entity in result.entities:
        ident = entity.get("@id")
        if isinstance(ident, str) and ident not in result.by_id:
            result.by_id[ident] = entity
    result.article, result.article_type = _main_entity(result.entities)
    return result


def _main_entity(entities: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    best: tuple[int, int] | None = None
    chosen: dict[str, Any] | None = None
    chosen_type: str | None = None
    for position, entity in enumerate(entities):
        kinds = types_of(entity)
        if kinds & ARTICLE_TYPES:
            rank = 3
        elif kinds & PAGE_TYPES:
            rank = 1
        else:
            continue
        if entity.get("headline") or entity.get("name"):
            rank += 1
        if entity.get("datePublished"):
            rank += 2
        key = (rank, -position)
        if best is None or key > best:
            best, chosen = key, entity
            chosen_type = next(iter(sorted(kinds & (ARTICLE_TYPES | PAGE_TYPES))), None)
    return chosen, chosen_type
