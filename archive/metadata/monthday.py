"""A date and time the page shows without its year, and the year its other dates give.

NHK's easy-Japanese news dates an article "[06月24日 11時30分]" under the headline; a
reader knows the year from the page around it. So does this module, on two
conditions that keep it from reading a date the page does not mean as the article's:

- only a month and day *followed by a time of day* count ("06月24日 11時30分",
  "2月15日（土）7時0分", "June 24, 11:30 a.m.", "24. Juni, 11:30 Uhr"): a time stamp.
  A month and day alone is far more often an event in a sentence ("lockdown from
  July 10", "continuará el 18 de mayo") than a date line;
- the year is the one that puts the month and day within :data:`NEAR_DAYS` of every
  other date the page gives (its markup, its URL, htmldate's reading). When they
  do not agree on one year, or none is near, there is no year: a reference a season
  or more away may date another event, and the year is no longer clear.

Nothing here decides whether the date is the publication date; ``htmldates`` does,
with the weights of any date shown under the headline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .dates import MONTHS, TIME_WORDS, make_date

NEAR_DAYS = 92
"""How far the completed date may lie from each reference date. Within three months
the next-nearest year is at least three times as far away."""

# Found first, so that only the few characters before each time are read for a date
# (three date patterns over the whole window cost ten times more). ``\d`` matches
# full-width and Arabic-Indic digits too, and ``int`` reads them.
_CLOCK = re.compile(
    r"(?<!\d)(?P<hour>\d{1,2})\s*(?:(?::|h(?=\d))(?P<minute>\d{2})(?!\d)"
    r"(?:\s*(?P<ampm>[ap]\.?m\.?))?|[時시]\s*(?P<cjk_minute>\d{1,2})\s*[分분])",
    re.IGNORECASE,
)
_BEFORE_CLOCK = 40  # characters before a time where its date may start
# Each ends where the time begins (``\Z`` at the search's end position). A weekday in
# brackets may stand between date and time: "2月15日（土）7時0分"
_CJK = re.compile(
    r"(?<![\d年년./-])(?<![年년]\s)(?P<month>\d{1,2})\s*[月월]\s*(?P<day>\d{1,2})\s*[日일]\s*"
    r"(?:[(（][^)）\d]{1,4}[)）]\s*)?\Z"
)
_TIME_GLUE = r"\.?,?\s*(?:[|–—-]\s*)?" + TIME_WORDS + r"\Z"
_MONTH_DAY = re.compile(
    # not after a day: "27 Mar 20 à 9:21" is 27 March 2020
    r"(?<![\w.])(?<!\d\s)(?<!\d\.\s)(?P<month>[^\W\d_]{3,12})\.?\s+(?P<day>\d{1,2})"
    r"(?:st|nd|rd|th)?(?!\d)" + _TIME_GLUE,
    re.IGNORECASE,
)
_DAY_MONTH = re.compile(
    r"(?<![\d.,:/-])(?P<day>\d{1,2})(?:st|nd|rd|th|er|\.)?\s*(?:de\s+|of\s+)?"
    r"(?P<month>[^\W\d_]{3,12})(?!\w)" + _TIME_GLUE,
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MonthDay:
    """A month, day and time of day written without a year at ``text[start:end]``."""

    month: int
    day: int
    hour: int
    raw: str
    start: int
    end: int


def _hour(match: re.Match[str]) -> int | None:
    hour, minute = int(match["hour"]), int(match["minute"] or match["cjk_minute"])
    ampm = (match["ampm"] or "").lower().replace(".", "")
    if ampm and not 1 <= hour <= 12:
        return None
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    return hour if hour <= 23 and minute <= 59 else None


def find(text: str) -> list[MonthDay]:
    """Every year-less month, day and time in ``text``, in order of position. Month
    and day must make a date in some year (29 February does, in leap years)."""
    found: list[MonthDay] = []
    for clock in _CLOCK.finditer(text):
        hour = _hour(clock)
        if hour is None:
            continue
        lo = max(found[-1].end if found else 0, clock.start() - _BEFORE_CLOCK)
        for pattern in (_CJK, _MONTH_DAY, _DAY_MONTH):
            m = pattern.search(text, lo, clock.start())
            if m is None:
                continue
            month = int(m["month"]) if pattern is _CJK else MONTHS.get(m["month"].lower())
            if month is not None and make_date(2000, month, int(m["day"])) is not None:
                raw = text[m.start() : clock.end()]
                found.append(MonthDay(month, int(m["day"]), hour, raw, m.start(), clock.end()))
                break
    return found


def year_for(found: MonthDay, references: Iterable[date]) -> date | None:
    """``found`` on the one year that puts it within :data:`NEAR_DAYS` of every
    reference date; None when there is no reference, or they do not agree."""
    days: set[date] = set()
    for ref in references:
        near = [
            d
            for year in (ref.year - 1, ref.year, ref.year + 1)
            if (d := make_date(year, found.month, found.day)) is not None
            and abs((d - ref).days) <= NEAR_DAYS
        ]
        if not near:
            return None
        days.update(near)
    return days.pop() if len(days) == 1 else None
