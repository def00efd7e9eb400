"""What the page says a date it shows is: its publication, or its last update.

A date written under a headline is usually the publication date, but pages also
show "Updated 26 March", "Aktualisiert am …", "2019.03.26 lastupdate": a later
event, which a reader does not take for the day the article appeared. And a date
the page labels "Published on …", "Veröffentlicht am …" is the publication date in
the page's own words, stronger than a date found by position alone.

``label(text, start, end)`` reads the few characters around a date found at
``text[start:end]`` and returns ``"updated"``, ``"published"`` ("Published on"),
``"release"`` (a "publication date" field, which in a review's fact box is the
book's) or ``None``. The
words are those of the languages whose dates ``dates`` reads, plus Japanese and
Chinese; a label must touch the date (only a preposition, a colon or a weekday
between), so a word earlier in the sentence does not count.
"""

from __future__ import annotations

import re
from typing import Literal

Label = Literal["updated", "published", "release"]

# what may stand between a label and its date: "on", "am", "le", a colon, a weekday
_GLUE = (
    r"[\s:,.|–—-]*(?:on|am|le|el|em|il|op|den|at|um|:)?[\s:,]*"
    r"(?:[^\W\d_]{2,12}day|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|lunes|martes|miércoles|jueves|"
    r"viernes|sábado|domingo)?[\s:,.]*(?:den|le|el)?\s*"
    # a time may come first: "updated 11:14 GMT 29.04.2020"
    r"(?:\d{1,2}[:.h]\d{2}\s*(?:[ap]\.?m\.?|gmt|utc|uhr|h)?[\s,]*)?$"
)
_UPDATED_BEFORE = re.compile(
    r"(?:\b(?:last\s+)?updated?|\blast\s+modified|\bmodified|\brevised|\baktualisiert|"
    r"\bzuletzt\s+geändert|\bgeändert|\bmis\s+à\s+jour|\bmise\s+à\s+jour|\bactualizado|"
    r"\bactualización|\bactualizada|\batualizado|\batualização|\baggiornato|"
    r"\baggiornamento|\bbijgewerkt|\bgewijzigd|\buppdaterad|\buppdaterat|\bopdateret|"
    r"\boppdatert|更新|更新日|更新時間|最終更新)" + _GLUE,
    re.IGNORECASE,
)
_PUBLISHED_BEFORE = re.compile(
    r"(?:\b(?:first\s+)?published|\bposted|\bveröffentlicht|\berschienen|\bpublié|"
    r"\bpublie|\bpublicado|\bpublicada|\bpubblicato|\bgepubliceerd|\bpublicerad|"
    r"\bpubliceret|\bpublisert|公開日|公開|配信|掲載|发布|發布|发表|發表)" + _GLUE,
    re.IGNORECASE,
)
# "2019.03.26 lastupdate"; not "28.04.2020 (updated 11:14 29.04.2020)", whose label
# belongs to the date that follows it
# a "date of publication" field: the article's on an article's page, but in a review's
# fact box it is the book's or the album's
_RELEASE_BEFORE = re.compile(
    r"(?:\bpublication\s+date|\bdate\s+(?:de\s+)?publication|\brelease\s+date|"
    r"\berscheinungsdatum|\bver(?:ö|oe)ffentlichungsdatum|\bpublikationsdatum|"
    r"\bfecha\s+de\s+publicación|\bdata\s+de\s+publicação|\bdata\s+di\s+pubblicazione)" + _GLUE,
    re.IGNORECASE,
)
_UPDATED_AFTER = re.compile(
    r"^[\s,:)(|]*(?:(?:last\s*)?update[ds]?\b|lastupdate|更新)(?![\s:,]*(?:on\s+|am\s+)?\d)",
    re.IGNORECASE,
)
_PUBLISHED_AFTER = re.compile(r"^[\s,:)(|]*(?:公開|配信|发布|發布)(?![\s:,]*\d)")
_WINDOW = 40


def label(text: str, start: int, end: int) -> Label | None:
    """The label the page puts on the date at ``text[start:end]``, if any."""
    before = text[max(0, start - _WINDOW) : start]
    after = text[end : end + _WINDOW]
    if _UPDATED_BEFORE.search(before) or _UPDATED_AFTER.match(after):
        return "updated"
    if _PUBLISHED_BEFORE.search(before) or _PUBLISHED_AFTER.match(after):
        return "published"
    if _RELEASE_BEFORE.search(before):
        return "release"
    return None
