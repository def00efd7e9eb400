"""Resolve an ambiguous numeric date (``02-05-2016``) by evidence, and say why.

Evidence, strongest first:

1. the capture time is an upper bound: a reading after it is impossible;
2. a date in the URL that equals one reading;
3. the document's own convention: other numeric dates in it whose day is over 12;
4. months the text speaks of as past ("the victory in March was ..."): a reading
   before that month of the same year is ruled out;
5. the language and region convention (day-first outside the US).

With no evidence at all the date stays unknown. The reading not chosen is
returned with the reasons against it, so the record shows the ambiguity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .dates import DateMatch, MonthMention, UrlDate

# Regions whose English writes month first; all other locales write day first.
_MONTH_FIRST_REGIONS = frozenset(
    {"US", "PH", "FM", "MH", "PW", "BZ", "KY", "GU", "PR", "AS", "VI", "UM"}
)
_ORDER_WORDS = {"dmy": "day-first", "mdy": "month-first"}
_MONTH_NAMES = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True, slots=True)
class Context:
    language: str | None = None  # ISO 639-1, lower case
    region: str | None = None  # ISO 3166 alpha-2, upper case
    bound: date | None = None  # latest possible date (capture day + 1)
    url_date: UrlDate | None = None
    convention: str | None = None  # "dmy" or "mdy", from unambiguous dates in the document
    convention_raw: str | None = None
    mentions: tuple[MonthMention, ...] = ()
    utc_offsets: tuple[float, float] | None = None  # plausible local UTC offsets (hours)


@dataclass(frozen=True, slots=True)
class Resolution:
    value: date | None
    confidence: float
    rejected: tuple[tuple[date, str], ...] = ()
    basis: tuple[str, ...] = field(default=())


def language_order(language: str | None, region: str | None) -> str | None:
    """The numeric date order a locale uses, or None when it is not clear (``en``
    with no region is written both ways)."""
    if not language:
        return None
    if language == "en":
        if region is None or region == "CA":
            return None
        return "mdy" if region in _MONTH_FIRST_REGIONS else "dmy"
    return "dmy"


def document_convention(matches: list[DateMatch]) -> tuple[str | None, str | None]:
    """The order the document itself uses, from numeric dates that can be read only
    one way (``24/11/2013`` is day-first). None when there are none or they conflict."""
    orders = {m.order: m.raw for m in matches if m.order in ("dmy", "mdy")}
    if len(orders) == 1:
        ((order, raw),) = orders.items()
        return order, raw
    return None, None


def resolve(match: DateMatch, ctx: Context) -> Resolution:
    """Choose between the readings of an ambiguous numeric date (``match.readings``
    is ``(day-first, month-first)``)."""
    if not match.ambiguous:
        return Resolution(match.date, 1.0)
    readings = {"dmy": match.readings[0], "mdy": match.readings[1]}
    against: dict[str, list[str]] = {"dmy": [], "mdy": []}
    score = {"dmy": 0, "mdy": 0}
    basis: list[str] = []

    if ctx.bound is not None:
        for order, day in readings.items():
            if day > ctx.bound:
                against[order].append(
                    f"it is after the capture time ({ctx.bound.isoformat()} at the latest)"
                )
                score[order] -= 100
    if ctx.url_date is not None and ctx.url_date.date is not None:
        for order, day in readings.items():
            if day == ctx.url_date.date:
                other = "mdy" if order == "dmy" else "dmy"
                score[order] += 4
                against[other].append(f"the URL carries {day.isoformat()} ({ctx.url_date.raw!r})")
                basis.append("url date")
    if ctx.convention in readings:
        other = "mdy" if ctx.convention == "dmy" else "dmy"
        score[ctx.convention] += 3
        against[other].append(
            f"the document writes dates {_ORDER_WORDS[ctx.convention]} elsewhere "
            f"({ctx.convention_raw!r})"
        )
        basis.append("document convention")
    for mention in ctx.mentions:
        for order, day in readings.items():
            year = mention.year or day.year
            if year == day.year and day < date(year, mention.month, 1):
                other = "mdy" if order == "dmy" else "dmy"
                if readings[other] >= date(year, mention.month, 1):
                    score[other] += 2
                    snippet = _snippet(mention.sentence, mention.raw)
                    against[order].append(
                        f"the text speaks of {_MONTH_NAMES[mention.month]} {year} as past "
                        f"({snippet!r}), which rules out {day.day} {_MONTH_NAMES[day.month]}"
                    )
                    basis.append("month named in the text")
    prior = language_order(ctx.language, ctx.region)
    if prior is not None:
        other = "mdy" if prior == "dmy" else "dmy"
        score[prior] += 1
        locale = f"{ctx.language}-{ctx.region}" if ctx.region else str(ctx.language)
        against[other].append(f"{locale} dates are written {_ORDER_WORDS[prior]}")
        basis.append("language convention")

    if score["dmy"] == score["mdy"]:
        reason = "ambiguous day/month order and no evidence decides it"
        return Resolution(
            None, 0.0, tuple((day, reason) for day in readings.values()), tuple(basis)
        )
    winner = "dmy" if score["dmy"] > score["mdy"] else "mdy"
    loser = "mdy" if winner == "dmy" else "dmy"
    margin = score[winner] - max(score[loser], -3)
    confidence = {1: 0.55, 2: 0.75, 3: 0.8}.get(margin, 0.85 if margin > 0 else 0.0)
    reason = f"{_ORDER_WORDS[loser]} reading of {match.raw!r}: " + "; ".join(
        dict.fromkeys(against[loser]) or ["weaker evidence"]
    )
    return Resolution(
        readings[winner], confidence, ((readings[loser], reason),), tuple(dict.fromkeys(basis))
    )


def _snippet(sentence: str, raw: str, width: int = 60) -> str:
    at = sentence.find(raw)
    if at < 0 or len(sentence) <= width:
        return sentence[:width]
    start = max(0, at - width // 3)
    return ("…" if start else "") + sentence[start : start + width].strip() + "…"
