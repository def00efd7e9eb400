"""The dateline at the start of a news story: ``ERBIL, Kurdistan Region—``,
``WASHINGTON (Reuters) -``, ``Berlin (dpa) –``. The value is the place in title
case (``Erbil``); a wire agency in parentheses is returned too, as a credited source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UPPER = "A-ZÀ-ÖØ-ÞĀ-ŽА-ЯЁ"
_CAPS_PLACE = rf"[{_UPPER}][{_UPPER}'’.\- ]{{1,38}}[{_UPPER}.]"
_NAME_PLACE = rf"[{_UPPER}][\w'’.-]+(?: [{_UPPER}][\w'’.-]+){{0,2}}"
_DASH = r"(?:—|–|-{1,2}|:)"
_CAPS_FORM = re.compile(
    rf"^\s*(?P<place>{_CAPS_PLACE})(?:\s*,\s*(?P<rest>[^—–\n()]{{1,50}}?))?\s*"
    rf"(?:\((?P<agency>[\w .&/-]{{1,30}})\)\s*)?{_DASH}\s*(?=[\w\"“‘'«„])"
)
_AGENCY_FORM = re.compile(
    rf"^\s*(?P<place>{_NAME_PLACE})(?:\s*,\s*(?P<rest>[^—–\n()]{{1,50}}?))?\s*"
    rf"\((?P<agency>[\w .&/-]{{1,30}})\)\s*{_DASH}\s*(?=[\w\"“‘'«„])"
)
_NOT_PLACES = frozenset(
    {
        "UPDATE",
        "UPDATED",
        "BREAKING",
        "WATCH",
        "EXCLUSIVE",
        "LIVE",
        "VIDEO",
        "PHOTOS",
        "OPINION",
        "ANALYSIS",
        "CORRECTION",
        "NOTE",
        "EDITOR'S NOTE",
        "READ MORE",
        "ADVERTISEMENT",
        "FILE",
        "PHOTO",
        "AUDIO",
        "LISTEN",
        "SPONSORED",
        "COMMENT",
        "REVIEW",
        "INTERVIEW",
        "FAQ",
        "TL;DR",
        "Q",
        "A",
        "UPPDATERAD",
        "UPPDATERING",
        "AKTUALISIERT",
        "EILMELDUNG",
        "MISE À JOUR",
        "ÚLTIMA HORA",
        "AVISO",
    }
)


@dataclass(frozen=True, slots=True)
class Dateline:
    place: str
    raw: str
    agency: str | None


def _title_case(place: str) -> str:
    if place != place.upper():
        return place.strip()
    words = re.split(r"(\s+|-)", place.strip().lower())
    small = {"de", "del", "la", "le", "di", "da", "do", "dos", "das", "van", "von", "al", "el"}
    out = []
    for i, word in enumerate(words):
        if i and word in small:
            out.append(word)
        else:
            out.append(word[:1].upper() + word[1:])
    return "".join(out).replace(" D.c.", " D.C.")


def find(paragraph: str) -> Dateline | None:
    """The dateline opening ``paragraph``, or None."""
    head = paragraph[:160]
    for pattern in (_CAPS_FORM, _AGENCY_FORM):
        m = pattern.match(head)
        if not m:
            continue
        place = m["place"].strip(" .-")
        words = set(place.upper().split()) | {place.upper()}
        if words & _NOT_PLACES or sum(ch.isalpha() for ch in place) < 3:
            continue
        if pattern is _CAPS_FORM and place != place.upper():
            continue
        agency = m["agency"].strip() if m["agency"] else None
        return Dateline(_title_case(place), m.group(0).strip(), agency)
    return None
