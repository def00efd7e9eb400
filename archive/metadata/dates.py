"""Date parsing: machine timestamps, dates in words and numbers, dates in URLs.

Nothing here decides which date is the publication date; it finds dates and says
exactly what was read (the raw string, its span, and every valid reading of an
ambiguous numeric date). Languages with month names: English, Swedish, Danish,
Norwegian, German, Dutch, French, Spanish, Portuguese, Italian, and Arabic
(Gregorian and Levantine names); Arabic-Indic and full-width digits are read too.
Every returned date is a real calendar date between ``MIN_YEAR`` and ``MAX_YEAR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MIN_YEAR = 1970
MAX_YEAR = 2100

# Month names, '|'-separated (Arabic names can be two words).
_MONTH_NAMES: dict[int, str] = {
    1: (
        "january|jan|januari|januar|janvier|janv|enero|ene|janeiro|gennaio|gen|"
        "jänner|jänn|janúar|يناير|كانون الثاني|جانفي"
    ),
    2: (
        "february|feb|februari|februar|février|fevrier|févr|fév|febrero|"
        "fevereiro|fev|febbraio|febr|فبراير|شباط|فيفري"
    ),
    3: "march|mar|mars|märz|maerz|marzo|março|marco|maart|marts|mrz|مارس|آذار",
    4: "april|apr|avril|avr|abril|abr|aprile|أبريل|ابريل|نيسان|أفريل",
    5: "may|maj|mai|mayo|maio|maggio|mei|mag|مايو|أيار|ماي",
    6: "june|jun|juni|juin|junio|junho|giugno|giu|يونيو|حزيران|جوان",
    7: "july|jul|juli|juillet|juil|julio|julho|luglio|lug|يوليو|تموز|جويلية",
    8: "august|aug|augusti|août|aout|agosto|ago|augustus|أغسطس|اغسطس|آب|أوت",
    9: (
        "september|sep|sept|septembre|septiembre|setiembre|setembro|set|settembre|sett|سبتمبر|أيلول"
    ),
    10: (
        "october|oct|oktober|okt|octobre|octubre|outubro|out|ottobre|ott|أكتوبر|اكتوبر|تشرين الأول"
    ),
    11: "november|nov|novembre|noviembre|novembro|نوفمبر|تشرين الثاني",
    12: (
        "december|dec|décembre|decembre|déc|dezember|dez|diciembre|dic|dezembro|"
        "dicembre|desember|ديسمبر|كانون الأول"
    ),
}
MONTHS: dict[str, int] = {
    name: number for number, names in _MONTH_NAMES.items() for name in names.split("|")
}
# Spelled-out names only (no abbreviations): used for "in March"-style mentions,
# where a bare "mar"/"may" would be a word, not a month.
FULL_MONTHS: dict[str, int] = {
    name: num for name, num in MONTHS.items() if len(name) > 3 or not name.isascii()
}

# A month is matched as any word (Arabic names may take two) and then looked up in
# MONTHS: one alternation of every name would make each scan many times slower. The
# run of letters is possessive: a shorter run is followed by a letter, which nothing
# after a month name can match, so giving letters back only fails slowly.
_MONTH_WORD = r"[^\W\d_]{3,12}+(?:\s[\u0600-\u06FF]{2,7})?"
_OTHER_DIGITS = "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹０１２３４５６７８９"
_DIGITS = str.maketrans(_OTHER_DIGITS, "0123456789" * 3)
_ANY_OTHER_DIGIT = re.compile("[" + _OTHER_DIGITS + "]")

TIME_WORDS = r"(?:at\s+|um\s+|à\s+|a\s+las\s+|kl\.?\s+)?"
"""The word a page may put between a date and its time ("May 3 at 10:30")."""
_TIME = (
    r"(?:[T\s,]+" + TIME_WORDS + r"(?P<hour>\d{1,2})[:.h](?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,]\d+)?)?\s*(?P<ampm>[ap]\.?m\.?)?\s*"
    r"(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2}|(?:GMT|UTC)[+-]\d{1,2}(?::?\d{2})?)?)?"
)
_ISO = re.compile(
    r"(?<![\d/.-])(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?![\d])"
    + _TIME,
    re.IGNORECASE,
)
_COMPACT = re.compile(
    r"^(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})(?:T?(?P<hour>\d{2})(?P<minute>\d{2})"
    r"(?P<second>\d{2})?(?P<tz>Z|[+-]\d{4})?)?$"
)
_CJK = re.compile(
    r"(?P<year>\d{4})\s*[年년]\s*(?P<month>\d{1,2})\s*[月월]\s*(?P<day>\d{1,2})\s*[日일]?"
)
_NUMERIC = re.compile(
    r"(?<![\d.:/-])(?P<a>\d{1,2})(?P<sep>[-/.])\s?(?P<b>\d{1,2})(?P=sep)\s?(?P<year>\d{4})(?![\d])"
    + _TIME,
    re.IGNORECASE,
)
_DAY = r"(?<![\d.])(?P<day>\d{1,2})(?:st|nd|rd|th|er|re|e|º|°|\.)?"
_DMY_WORDS = re.compile(
    _DAY
    + r"\s*(?:de\s+|of\s+)?(?P<month>"
    + _MONTH_WORD
    + r")\.?,?\s+(?:de\s+|del\s+)?(?P<year>\d{4})(?!\d)"
    + _TIME,
    re.IGNORECASE,
)
_MDY_WORDS = re.compile(
    r"(?<![\w])(?P<month>"
    + _MONTH_WORD
    + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})(?!\d)"
    + _TIME,
    re.IGNORECASE,
)
_WEEKDAY_MDY = re.compile(  # JavaScript Date.toString(): "Tue Feb 20 2018 01:00:00 GMT+0100"
    r"(?<![\w])(?P<month>"
    + _MONTH_WORD
    + r")\s+(?P<day>\d{1,2})\s+(?P<year>\d{4})\s+(?P<hour>\d{2}):(?P<minute>\d{2})",
    re.IGNORECASE,
)

_URL_WORDS = re.compile(
    r"/(?P<year>(?:19|20)\d{2})/(?P<month>[a-z]{3,9})/(?P<day>[0-3]?\d)(?:/|$)", re.IGNORECASE
)
# Not inside a hexadecimal run: "…a20160503f…" in a hash is not a date.
_URL_YMD = re.compile(
    r"(?<![0-9a-fA-F])(?P<year>(?:19|20)\d{2})(?P<sep>[/_-]?)(?P<month>[01]\d)(?P=sep)"
    r"(?P<day>[0-3]\d)(?![0-9a-fA-F])"
)
_URL_SLASHED = re.compile(
    r"/(?P<year>(?:19|20)\d{2})/(?P<month>[01]?\d)/(?:(?P<day>[0-3]?\d)(?:/|$|[^\d]))?"
)


@dataclass(frozen=True, slots=True)
class DateMatch:
    """One date expression found in a string.

    ``readings`` lists every valid calendar reading, first the one the pattern
    suggests (``order`` says which order that is); an unambiguous date has one.
    ``utc`` is true when the expression is a timestamp in UTC, whose calendar
    date may differ from the publisher's local date.
    """

    readings: tuple[date, ...]
    raw: str
    start: int
    end: int
    order: str  # "ymd", "dmy", "mdy", "dmy|mdy" (ambiguous numeric), "words", "epoch",
    # "monthday" (written without a year, which ``monthday`` took from the page)
    hour: int | None = None
    utc: bool = False
    offset: bool = False  # an explicit non-UTC offset was given

    @property
    def date(self) -> date:
        return self.readings[0]

    @property
    def ambiguous(self) -> bool:
        return len(self.readings) > 1


def make_date(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def normalise_digits(text: str) -> str:
    """Arabic-Indic and full-width digits as ASCII digits. ``str.translate`` looks up
    every character of a non-Latin-1 string in a dict (a quarter of a 3,000-character
    date search); the regex scan that finds none is ten times faster."""
    return text.translate(_DIGITS) if _ANY_OTHER_DIGIT.search(text) else text


def _time_facts(match: re.Match[str]) -> tuple[int | None, bool, bool]:
    groups = match.groupdict()
    hour_text = groups.get("hour")
    if hour_text is None:
        return None, False, False
    hour = int(hour_text)
    ampm = (groups.get("ampm") or "").lower().replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    if hour > 23:
        return None, False, False
    tz = (groups.get("tz") or "").upper()
    utc = tz in ("Z", "UTC", "GMT", "+00:00", "+0000", "-00:00") or tz in ("UTC+0", "GMT+0")
    offset = bool(tz) and not utc
    return hour, utc, offset


_WORD_DIGIT = re.compile(r"[^\W\d_]{2}\.?,?\s+\d|\d\.?\s+[^\W\d_]{2}")


def find_dates(text: str) -> list[DateMatch]:
    """Every full date (day, month, year) in ``text``, in order of position."""
    text = normalise_digits(text)
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []

    def overlaps(start: int, end: int) -> bool:
        return any(start < e and s < end for s, e in taken)

    def add(m: re.Match[str], readings: list[date | None], order: str) -> None:
        valid = tuple(dict.fromkeys(d for d in readings if d is not None))
        if not valid or overlaps(m.start(), m.end()):
            return
        hour, utc, offset = _time_facts(m)
        found.append(
            DateMatch(valid, m.group(0).strip(), m.start(), m.end(), order, hour, utc, offset)
        )
        taken.append((m.start(), m.end()))

    for m in _ISO.finditer(text):
        add(m, [make_date(int(m["year"]), int(m["month"]), int(m["day"]))], "ymd")
    for m in _CJK.finditer(text):
        add(m, [make_date(int(m["year"]), int(m["month"]), int(m["day"]))], "ymd")
    has_letters_near_digits = _WORD_DIGIT.search(text) is not None
    for pattern in (_WEEKDAY_MDY, _DMY_WORDS, _MDY_WORDS) if has_letters_near_digits else ():
        for m in pattern.finditer(text):
            month = MONTHS.get(m["month"].lower())
            if month is not None:
                add(m, [make_date(int(m["year"]), month, int(m["day"]))], "words")
    for m in _NUMERIC.finditer(text):
        a, b, year = int(m["a"]), int(m["b"]), int(m["year"])
        dmy, mdy = make_date(year, b, a), make_date(year, a, b)
        if m["sep"] == "." or mdy is None:
            add(m, [dmy], "dmy")
        elif dmy is None:
            add(m, [mdy], "mdy")
        else:
            add(m, [dmy, mdy], "dmy|mdy")
    found.sort(key=lambda d: d.start)
    return found


def parse_timestamp(raw: str) -> DateMatch | None:
    """Read a machine-readable date (meta tag, JSON-LD, ``<time datetime>``).

    ISO 8601 and its common variants, compact ``YYYYMMDD``, Unix epoch seconds or
    milliseconds, JavaScript ``Date.toString()``, RFC 2822, and as a last resort
    the first date written in words or numbers.
    """
    text = normalise_digits(raw.strip())
    if not text:
        return None
    m = _COMPACT.match(text)
    if m:
        d = make_date(int(m["year"]), int(m["month"]), int(m["day"]))
        if d is None:
            return None
        hour, utc, offset = _time_facts(m)
        return DateMatch((d,), raw.strip(), 0, len(text), "ymd", hour, utc, offset)
    if re.fullmatch(r"\d{10}|\d{13}", text):
        seconds = int(text[:10])
        moment = datetime.fromtimestamp(seconds, UTC)
        d = make_date(moment.year, moment.month, moment.day)
        if d is None:
            return None
        return DateMatch((d,), raw.strip(), 0, len(text), "epoch", moment.hour, True, False)
    dates = find_dates(text)
    if not dates:
        return None
    first = dates[0]
    if first.ambiguous:
        return first  # the caller resolves it with context
    if (
        first.hour is None
        and ("GMT" in text or "+0000" in text)
        and re.search(r"\d{2}:\d{2}", text)
    ):
        # RFC 2822 "Wed, 19 Feb 2020 18:37:32 GMT": the time follows the year
        tail = text[first.end :]
        tm = re.match(r"\s+(\d{2}):(\d{2})(?::\d{2})?\s*(GMT|UTC|\+0000|[+-]\d{4})?", tail)
        if tm:
            tz = tm.group(3) or ""
            utc = tz in ("GMT", "UTC", "+0000")
            return DateMatch(
                first.readings,
                first.raw,
                first.start,
                first.end,
                first.order,
                int(tm.group(1)),
                utc,
                bool(tz) and not utc,
            )
    return first


@dataclass(frozen=True, slots=True)
class UrlDate:
    date: date | None  # None when the URL gives only year and month
    year: int
    month: int
    raw: str


def url_date(url: str | None) -> UrlDate | None:
    """A date in a URL path: ``/2016/12/23/``, ``/2016-12-23-``, ``/20161223``,
    or year and month only (``/2016/12/``)."""
    if not url:
        return None
    path = (
        re.sub(r"^[a-z]+://[^/]+", "", url, flags=re.IGNORECASE).split("?", 1)[0].split("#", 1)[0]
    )
    m = _URL_SLASHED.search(path)
    if m:
        year, month = int(m["year"]), int(m["month"])
        if 1 <= month <= 12 and MIN_YEAR <= year <= MAX_YEAR:
            day = make_date(year, month, int(m["day"])) if m["day"] else None
            return UrlDate(
                day, year, month, m.group(0).rstrip("/").rstrip("-_.") if day else m.group(0)
            )
    m = _URL_WORDS.search(path)
    if m and m["month"].lower() in MONTHS:
        d = make_date(int(m["year"]), MONTHS[m["month"].lower()], int(m["day"]))
        if d is not None:
            return UrlDate(d, d.year, d.month, m.group(0).rstrip("/"))
    m = _URL_YMD.search(path)
    if m:
        d = make_date(int(m["year"]), int(m["month"]), int(m["day"]))
        if d is not None:
            return UrlDate(d, d.year, d.month, m.group(0))
    return None


_PAST_CUES = re.compile(
    r"\b(?:was|were|had|did|ago|last|earlier|previously|took place|happened|"
    r"var|hade|blev|tidigare|förra|i våras|"
    r"war|waren|wurde|wurden|hatte|hatten|vergangenen|letzten|"
    r"était|étaient|fut|avait|dernier|dernière|a été|"
    r"fue|fueron|era|había|pasado|pasada)\b",
    re.IGNORECASE,
)
_FUTURE_CUES = re.compile(
    r"\b(?:will|shall|next|coming|upcoming|planned for|scheduled|"
    r"ska|skall|kommer att|nästa|kommande|"
    r"wird|werden|soll|nächsten|kommenden|"
    r"sera|seront|prochain|prochaine|"
    r"será|serán|próximo|próxima)\b",
    re.IGNORECASE,
)
_MENTION = re.compile(
    r"\b(?:in|i|im|en|em|a|à|since|sedan|seit|depuis|desde)\s+(?:early\s+|late\s+|mid-?\s*|"
    r"(?:början|slutet)\s+av\s+|(?:Anfang|Ende|Mitte)\s+|(?:début|fin)\s+|(?:principios|finales)\s+de\s+)?"
    r"(?P<month>"
    + "|".join(sorted((re.escape(m) for m in FULL_MONTHS), key=len, reverse=True))
    + r")\b"
    r"(?:\s+(?:of\s+|de\s+)?(?P<year>\d{4}))?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MonthMention:
    month: int
    year: int | None
    raw: str
    sentence: str


def past_month_mentions(text: str) -> list[MonthMention]:
    """Months the text speaks of as past ("the victory in March was ..."): the
    sentence has a past-tense cue and no future cue. Evidence that a publication
    date cannot fall before that month."""
    out: list[MonthMention] = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", normalise_digits(text)):
        if not _PAST_CUES.search(sentence) or _FUTURE_CUES.search(sentence):
            continue
        for m in _MENTION.finditer(sentence):
            name = m["month"]
            if name.lower() == "may" and not name[0].isupper():
                continue  # "may" is a verb far more often than a month
            month = FULL_MONTHS.get(name.lower())
            if month is None:
                continue
            year = int(m["year"]) if m["year"] else None
            out.append(MonthMention(month, year, m.group(0), sentence.strip()))
    return out


def as_date(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def upper_bound(capture_time: datetime | None) -> date | None:
    """The latest possible publication date: the capture day plus one (a page can
    carry tomorrow's local date when captured late in the UTC day)."""
    day = as_date(capture_time)
    return day + timedelta(days=1) if day else None
