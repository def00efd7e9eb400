"""The article's visible headline: the ``<h1>`` a reader sees above the text.

A reader cites the headline the page shows, not the ``<title>``, ``og:title`` or
JSON-LD ``headline``: those are often a variant written for search engines or
social cards (reworded, shortened, translated, "… Rezept", "Receita de …"). So a
visible headline that is a variant of the same story outranks them; one that
shares little with them (a logo, a section name, a teaser) stays a weak witness.

Which ``<h1>``: the only one on the page (copies counted once), else the one
marked as the article's (inside ``<article>``, a ``title``/``headline`` class,
``itemprop=headline``), else the one that best matches the page's other titles.
A kicker element at the start of the ``<h1>`` (``<span class="kicker">``,
``<div class="topic-label">``) is a label above the headline, not part of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml.html import HtmlElement

from .markup import QUOTES, clean_text

# class names sites give the label set above or before a headline
_KICKER_CLASS = re.compile(
    r"kicker|topic|label|subtitle|overline|roofline|dachzeile|spitzmarke|eyebrow|rubric|"
    r"topline|supertitle|pretitle|overhead",
    re.IGNORECASE,
)
_MARKED_CLASS = re.compile(r"title|headline|\bhed\b", re.IGNORECASE)
_LEADING_SEPARATORS = re.compile(r"^[\s|\-–—:·•/›»]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
SAME_STORY = 0.4  # share of the shorter title's words the other one repeats


@dataclass(frozen=True, slots=True)
class Headline:
    text: str
    marked: bool  # inside <article> or marked as a headline by class or itemprop
    kicker_dropped: bool = False


@dataclass(frozen=True, slots=True)
class Found:
    text: str
    sure: bool  # the page's only ``<h1>`` or the only one marked as the article's
    same_story: bool  # a variant of the page's other titles, not a label or a logo
    kicker_dropped: bool


def visible_text(element: HtmlElement) -> str:
    """The headline's text: without ruby readings (``<rt>``, ``<rp>``) or unrendered
    elements. Text hidden only from the eye stays: ``<span class="visually-hidden">:
    </span>`` is the separator a screen reader says between kicker and headline."""
    parts: list[str] = []

    def walk(el: HtmlElement) -> None:
        if el.text:
            parts.append(el.text)
        for child in el:
            if isinstance(child.tag, str) and not _unseen(child):
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return clean_text("".join(parts))


def _unseen(el: HtmlElement) -> bool:
    return el.tag in ("rt", "rp", "script", "style", "template") or el.get("hidden") is not None


def headline_text(h1: HtmlElement) -> tuple[str, bool]:
    """The ``<h1>``'s visible text without a leading kicker element, and whether a
    kicker was dropped."""
    full = visible_text(h1)
    children = [c for c in h1 if isinstance(c.tag, str) and not _unseen(c)]
    if not children or (h1.text or "").strip():
        return full, False
    first = children[0]
    if not _KICKER_CLASS.search(first.get("class") or ""):
        return full, False
    kicker = visible_text(first)
    if not kicker or not full.startswith(kicker):
        return full, False
    rest = _LEADING_SEPARATORS.sub("", full[len(kicker) :])
    if len(rest.split()) >= 3 or (len(rest) >= 8 and _CJK.search(rest)):
        return rest, True
    return full, False


def candidates(tree: HtmlElement) -> list[Headline]:
    """The page's ``<h1>`` texts, each once, in document order."""
    seen: dict[str, Headline] = {}
    for h1 in tree.iter("h1"):
        text, dropped = headline_text(h1)
        if not text:
            continue
        marked = bool(
            h1.xpath("ancestor::article")
            or _MARKED_CLASS.search(h1.get("class") or "")
            or h1.get("itemprop") == "headline"
        )
        old = seen.get(text)
        seen[text] = Headline(text, marked or (old is not None and old.marked), dropped)
    return list(seen.values())


def _tokens(text: str) -> set[str]:
    out: set[str] = set()
    for word in re.findall(r"\w+", text.translate(QUOTES).casefold()):
        if _CJK.search(word):
            out.update(word)  # no spaces between CJK words: compare characters
        else:
            out.add(word)
    return out


def _shared(heading: str, other: str) -> int:
    return len(_tokens(heading) & _tokens(other))


def same_story(heading: str, other: str) -> bool:
    """Does ``heading`` tell the story ``other`` titles? It repeats at least
    SAME_STORY of the shorter one's words (CJK: characters) and is not a label a
    fraction of the other's length ("津波注意報" beside a full headline)."""
    th, to = _tokens(heading), _tokens(other)
    if min(len(th), len(to)) < 3 or len(th) < len(to) / 2:
        return False
    return len(th & to) / min(len(th), len(to)) >= SAME_STORY


def choose(headlines: list[Headline], others: list[str]) -> Found | None:
    """The article's headline among ``headlines``, judged against ``others`` (the
    page's other titles, site names removed)."""
    if not headlines:
        return None

    def found(h: Headline, sure: bool) -> Found:
        story = any(same_story(h.text, o) for o in others)
        return Found(h.text, sure, story, h.kicker_dropped)

    marked = [h for h in headlines if h.marked]
    if len(headlines) == 1:
        return found(headlines[0], True)
    if len(marked) == 1:
        return found(marked[0], True)
    pick = max(
        marked or headlines, key=lambda h: max((_shared(h.text, o) for o in others), default=0)
    )
    result = found(pick, False)
    return result if result.same_story or marked else None
