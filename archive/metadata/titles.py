"""The headline: JSON-LD ``headline``, ``og:title`` and kin, ``<h1>``, ``<title>``.

Sources disagree in known ways: ``<title>`` and ``og:title`` carry the site name
("Headline | Site"), section trails ("» Local » Noticias") and kickers
("Kicker: Headline"); an ``<h1>`` may be the site's logo; ``og:title`` may be cut
short. Each candidate is cleaned against the site names and against the other
candidates, then the cleaned spellings vote.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from . import headline, jsonld, outlet
from .combine import Candidate, choose
from .markup import QUOTES, clean_text, text_of
from .model import Field

_EDGE_SEPARATORS = r"[\s|\-–—:·•»«/›‹_~]*[|\-–—:·•»«/›‹_~][\s|\-–—:·•»«/›‹_~]*"


_SEP_CHARS = " |-–—:·•»«/›‹_~"
_MIN_HEAD = 4  # characters: a CJK headline can be this short


def _strip_site(title: str, site_names: list[str], site_keys: set[str]) -> str:
    """Remove the site name a ``<title>`` or ``og:title`` carries before or after the
    headline ("Headline | Site", "Site - Headline", "Headline-新华网")."""
    lowered = title.casefold()
    for name in sorted(site_names, key=len, reverse=True):
        folded = name.casefold()
        if len(folded) < 2 or len(folded) != len(name):
            continue
        if lowered.endswith(folded):
            head = title[: -len(name)]
            trimmed = head.rstrip(_SEP_CHARS)
            if trimmed != head.rstrip() and any(
                ch in head[len(trimmed) :] for ch in _SEP_CHARS.strip()
            ):
                if len(trimmed) >= _MIN_HEAD:
                    return trimmed
            # a site name glued on without a separator ("...la InfantaUltima Hora Mallorca")
            elif (
                len(name) >= 8
                and len(title) > len(name) + 15
                and head[-1:].islower()
                and name[0].isupper()
            ):
                return head.strip()
        if lowered.startswith(folded):
            tail = title[len(name) :]
            trimmed = tail.lstrip(_SEP_CHARS)
            if (
                trimmed != tail.lstrip()
                and any(ch in tail[: len(tail) - len(trimmed)] for ch in _SEP_CHARS.strip())
                and len(trimmed) >= _MIN_HEAD
            ):
                return trimmed
    paren = re.match(r"^(?P<head>.{8,}?)\s*\((?P<site>[^()]{2,40})\)\s*$", title)
    if paren and (
        outlet.fold(paren["site"]) in site_keys
        or any(len(k) >= 4 and k in outlet.fold(paren["site"]) for k in site_keys)
    ):
        return paren["head"]
    parts = outlet.title_parts(title)
    if len(parts) < 2:
        return title
    for index in (-1, 0):
        part = parts[index]
        key = outlet.fold(part)
        if key in site_keys or any(
            k and len(k) >= 4 and k in key and len(key) <= 2 * len(k) for k in site_keys
        ):
            cut = title.rfind(part) if index == -1 else title.find(part) + len(part)
            head = title[:cut] if index == -1 else title[cut:]
            head = re.sub(r"^[\s|\-–—:·•/›]+|[\s|\-–—:·•/›]+$", "", head)
            return head if len(head) >= 8 else title
    return title


def _site_heading(heading: str, segments: list[str], site_keys: set[str]) -> bool:
    """Is this ``<h1>`` the site's logo or a section name rather than the headline?"""
    key = outlet.fold(heading)
    if not key or key in site_keys:
        return True
    if len(heading.split()) <= 4 and any(len(k) >= 4 and k in key for k in site_keys):
        return True
    if len(segments) > 1:
        longest = max(segments, key=len)
        return any(outlet.fold(seg) == key for seg in segments if seg is not longest)
    return False


_GENERIC_SEGMENTS = frozenset(
    outlet.fold(w)
    for w in (
        "blog",
        "blog archive",
        "blog archiv",
        "archive",
        "archives",
        "archiv",
        "home",
        "homepage",
        "news",
        "startseite",
        "aktuelles",
        "nachrichten",
        "noticias",
        "actualités",
        "nyheter",
        "article",
        "artikel",
    )
)
_DANGLING = re.compile(r"^[\s|\-–—:·•/›‹~]+|\s[\s|\-–—:·•/›‹~»]+$|\|\s*$")
_SECTION_TRAIL = re.compile(r"\s+[|»›/]\s+[^|»›/]{1,20}$")


def _trim_against(value: str, others: list[str]) -> str:
    """ "Headline › Site" when another source gives "Headline": the rest is the site
    name. Also drops generic segments ("Blog Archive » Headline") and dangling
    separators."""
    key = title_key(value)
    for other in sorted(others, key=len, reverse=True):
        other_key = title_key(other)
        if len(other_key) < 12 or other_key == key or len(other_key) >= len(key):
            continue
        if key.startswith(other_key) and (
            _SEPARATOR_START.match(key[len(other_key) :])
            or _BYLINE_START.match(key[len(other_key) :])
        ):
            return other
        if key.endswith(other_key) and _SEPARATOR_END.search(key[: -len(other_key)]):
            return other
    parts = outlet.title_parts(value)
    if len(parts) > 1:
        kept = [p for p in parts if outlet.fold(p) not in _GENERIC_SEGMENTS]
        if len(kept) == 1 and len(kept[0]) >= 8:
            return kept[0]
    return value


def _drop_sections(value: str) -> str:
    """ "Headline » Local » Noticias", "Headline | Politik": a trail of short section
    names after a pipe or chevron is navigation, not headline."""
    lead = _SECTION_LEAD.match(value)
    if lead and len(value[lead.end() :].split()) >= 4:
        value = value[lead.end() :]
    while True:
        m = _SECTION_TRAIL.search(value)
        if not m or len(value[: m.start()].split()) < 4 or len(m.group(0).split()) > 3:
            return value
        value = value[: m.start()]


_SEPARATOR_START = re.compile(r"^[\s.!?]*[|\-–—:·•»«/›‹~_]")
_BYLINE_START = re.compile(
    r"^[\"'.!?]*\s+(?:by|von|par|por|av|published|posted|veröffentlicht|publié|publicado|"
    r"publicerad|pubblicato)\b"
)
_SECTION_LEAD = re.compile(r"^[^|»›/]{1,20}\s+[|»›/]\s+")
_SEPARATOR_END = re.compile(r"[|\-–—:·•»«/›‹~_]\s*$")


def _inner(value: str, others: list[str]) -> str:
    """When another source's headline is contained in this one, the rest is a
    kicker or site name ("Neue Leipziger Schule: Judy Lybke, ..." around "Judy
    Lybke, ..."): the contained headline is the one both sources support."""
    key = title_key(value)
    inner = [
        o
        for o in others
        if len(o.split()) >= 4
        and len(title_key(o)) >= 20
        and title_key(o) != key
        and key.endswith(title_key(o))
        and re.search(r"[:|\-–—·•»›/]\s*$", key[: -len(title_key(o))])
    ]
    return max(inner, key=len) if inner else value


def _untruncate(value: str, others: list[str]) -> str:
    """A copy cut short ("... for Hong Kong leader..." or cut at a stray quote) stands
    for the full headline it starts."""
    stem = title_key(value)
    cut = value.rstrip().endswith(("...", "…"))
    if len(stem) < 20:
        return value
    for other in sorted(others, key=len, reverse=True):
        other_key = title_key(other)
        if len(other_key) > len(stem) + 1 and other_key.startswith(stem):
            rest = other_key[len(stem) :].lstrip()
            if _SEPARATOR_START.match(rest.lstrip("…")):
                continue  # "Headline... | Site": the rest is a site name, not the cut words
            if cut or (rest[:1] in ('"', "'") and value.rstrip()[-1:] not in "\"'“”„«»‘’"):
                return other
    return value


@lru_cache(maxsize=1024)
def title_key(value: str | tuple[str, ...]) -> str:
    """The spelling titles are compared by. Pure, and asked about a hundred times a page
    of the same few strings (every pair of candidates, and again by ``choose``)."""
    text = value if isinstance(value, str) else " ".join(value)
    text = _COLON.sub(": ", text.translate(QUOTES).casefold())
    return " ".join(text.split()).strip(" .\"'…")


_COLON = re.compile(r"\s*:\s*")


def title_field(
    tree: HtmlElement,
    meta: dict[str, list[str]],
    ld: jsonld.JsonLd,
    site_names: list[str],
    site_keys: set[str],
    url: str | None = None,
) -> Field:
    raw: list[tuple[str, str, float]] = []
    fact = ld.text("headline")
    if fact:
        raw.append((fact.value, fact.source, 0.8))
    for key, weight in (
        ("og:title", 0.75),
        ("twitter:title", 0.6),
        ("title", 0.55),
        ("dc.title", 0.55),
        ("parsely-title", 0.6),
        ("sailthru.title", 0.55),
        ("headline", 0.6),
    ):
        for value in meta.get(key, [])[:1]:
            raw.append((value, f"meta:{key}", weight))
    title_el = tree.find(".//title")
    title_text = text_of(title_el) if title_el is not None else ""
    if title_text:
        raw.append((title_text, "html:title", 0.5))
    values: list[tuple[str, str, str, float]] = []
    for value, source, weight in raw:
        clean_value = _clean(value, source, site_names, site_keys)
        if 2 <= len(clean_value) <= 400:
            values.append((clean_value, source, value, weight))
    segments = outlet.title_parts(title_text) if title_text else []
    found = headline.choose(
        [
            h
            for h in headline.candidates(tree)
            if not _site_heading(h.text, [] if h.marked else segments, site_keys)
        ],
        [v[0] for v in values],
    )
    unsure = False  # whether a kicker belongs to the headline is a matter of style
    if found is not None:
        # the visible headline outranks a metadata variant of the same story (0.85 > the
        # JSON-LD headline's 0.8); one that shares little with them, or that only the
        # <title> backs (a blog's name in both), stays a weaker witness
        variant = any(headline.same_story(found.text, v[0]) for v in values if v[1] != "html:title")
        clean_value = _clean(found.text, "html:h1", site_names, site_keys)
        # the page's two visible titles, its heading and its tab, say the same words:
        # that is its headline, above a social-media variant that tells another story
        tab = title_key(_clean(title_text, "html:title", site_names, site_keys))
        repeated = bool(title_text) and title_key(clean_value) == tab
        weight = 0.85 if variant else 0.78 if repeated else 0.7 if found.sure else 0.6
        if 2 <= len(clean_value) <= 400:
            values.append((clean_value, "html:h1", found.text, weight))
            unsure = found.kicker_dropped
    texts = [v[0] for v in values]
    path_segments = (
        {outlet.fold(seg) for seg in urlsplit(url).path.split("/")} - {""} if url else set()
    )
    candidates = []
    texts = [_untruncate(_trim_against(t, texts), texts) for t in texts]
    for (clean_value, source, value, weight), trimmed in zip(values, texts, strict=True):
        best = _inner(trimmed, texts)
        key = title_key(best)
        # words cut from the front are a kicker (site names went in _strip_site)
        unsure = unsure or (key != title_key(clean_value) and title_key(clean_value).endswith(key))
        label = source != "json-ld:headline" and (
            len(best.split()) <= 3 or outlet.fold(best) in path_segments
        )
        if label and any(len(t.split()) >= 5 and key not in title_key(t) for t in texts):
            weight *= 0.5  # a section label ("Pressemitteilungen") beside a real headline
        candidates.append(Candidate(best, source, value, weight))
    # a kicker cut off (or kept against a source without it) leaves the title uncertain
    return choose(candidates, key=title_key, cap=0.75 if unsure else 0.99, display=_spelling)


def _spelling(group: list[Candidate]) -> Candidate:
    """The strongest source's spelling, unless it is another's without a space: the
    visible ``<h1>`` loses the space between two styled spans ("पकड़ा:</span>दो")."""
    best = max(group, key=lambda c: c.weight)

    def bare(c: Candidate) -> str:
        return "".join(str(c.value).split())

    spaced = [
        c
        for c in group
        if bare(c) == bare(best) and str(c.value).count(" ") > str(best.value).count(" ")
    ]
    return max(spaced, key=lambda c: c.weight) if spaced else best


def _clean(value: str, source: str, site_names: list[str], site_keys: set[str]) -> str:
    clean_value = _strip_site(clean_text(value), site_names, site_keys)
    if source in ("html:title", "meta:og:title", "meta:twitter:title", "meta:title"):
        clean_value = _drop_sections(clean_value)
    return _DANGLING.sub("", clean_value) or clean_value
