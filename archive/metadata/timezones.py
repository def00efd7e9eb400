"""Where in the world a page is likely published, as a range of UTC offsets.

A timestamp written in UTC (``2019-03-04T15:00:00Z``) has the publisher's local
date one day later in Tokyo; to cite the date the reader sees, the extractor
needs the plausible offsets. They come from the page's region (``en-US``), its
country-code domain (``.com.br``), or its language, in that order; each entry is
general knowledge (offsets in hours, standard and summer time), never a
per-site rule. None when nothing narrows it down.

When none of those narrows it down, the page itself may: other timestamps in its
source written with a local offset (``…T10:00:00-04:00``, ``Fri, 01 May 2020
23:00:00 -0400``) say which zone the publishing system runs in (``stated``).
"""

from __future__ import annotations

import re

Range = tuple[float, float]

# fmt: off
_COUNTRIES: dict[str, Range] = {
    "JP": (9, 9), "KR": (9, 9), "KP": (9, 9), "CN": (8, 8), "TW": (8, 8), "HK": (8, 8),
    "MO": (8, 8), "SG": (8, 8), "MY": (8, 8), "PH": (8, 8), "TH": (7, 7), "VN": (7, 7),
    "KH": (7, 7), "LA": (7, 7), "ID": (7, 9), "IN": (5.5, 5.5), "LK": (5.5, 5.5), "PK": (5, 5),
    "BD": (6, 6), "NP": (5.75, 5.75), "IR": (3.5, 3.5), "IL": (2, 3), "PS": (2, 3), "TR": (3, 3),
    "SA": (3, 3), "AE": (4, 4), "QA": (3, 3), "KW": (3, 3), "IQ": (3, 3), "JO": (3, 3),
    "LB": (2, 3), "SY": (3, 3), "EG": (2, 3), "ZA": (2, 2), "NG": (1, 1), "KE": (3, 3),
    "TZ": (3, 3), "UG": (3, 3), "ET": (3, 3), "GH": (0, 0), "MA": (0, 1), "DZ": (1, 1),
    "TN": (1, 1), "LS": (2, 2), "ZW": (2, 2), "DE": (1, 2), "FR": (1, 2), "IT": (1, 2),
    "ES": (0, 2), "NL": (1, 2), "BE": (1, 2), "AT": (1, 2), "CH": (1, 2), "LI": (1, 2),
    "LU": (1, 2), "SE": (1, 2), "NO": (1, 2), "DK": (1, 2), "PL": (1, 2), "CZ": (1, 2),
    "SK": (1, 2), "HU": (1, 2), "SI": (1, 2), "HR": (1, 2), "BA": (1, 2), "RS": (1, 2),
    "ME": (1, 2), "MK": (1, 2), "AL": (1, 2), "MT": (1, 2), "GB": (0, 1), "UK": (0, 1),
    "IE": (0, 1), "PT": (0, 1), "IS": (0, 0), "FI": (2, 3), "EE": (2, 3), "LV": (2, 3),
    "LT": (2, 3), "UA": (2, 3), "RO": (2, 3), "BG": (2, 3), "GR": (2, 3), "CY": (2, 3),
    "MD": (2, 3), "BY": (3, 3), "GE": (4, 4), "AM": (4, 4), "AZ": (4, 4), "KZ": (5, 6),
    "UZ": (5, 5), "RU": (2, 12), "US": (-10, -4), "CA": (-8, -2.5), "MX": (-8, -5),
    "BR": (-5, -2), "AR": (-3, -3), "CL": (-4, -3), "CO": (-5, -5), "PE": (-5, -5),
    "EC": (-5, -5), "VE": (-4, -4), "BO": (-4, -4), "UY": (-3, -3), "PY": (-4, -3),
    "CU": (-5, -4), "DO": (-4, -4), "GT": (-6, -6), "CR": (-6, -6), "PA": (-5, -5), "AU": (8, 11),
    "NZ": (12, 13),
}
# fmt: on
# fmt: off
_LANGUAGES: dict[str, Range] = {
    "ja": (9, 9), "ko": (9, 9), "zh": (8, 8), "th": (7, 7), "vi": (7, 7), "id": (7, 9),
    "ms": (8, 8), "hi": (5.5, 5.5), "bn": (5.5, 6), "mr": (5.5, 5.5), "ta": (5.5, 5.5),
    "te": (5.5, 5.5), "gu": (5.5, 5.5), "kn": (5.5, 5.5), "ml": (5.5, 5.5), "pa": (5, 5.5),
    "ur": (5, 5.5), "ne": (5.75, 5.75), "fa": (3.5, 4.5), "he": (2, 3), "tr": (3, 3),
    "ka": (4, 4), "hy": (4, 4), "az": (4, 4), "de": (1, 2), "it": (1, 2), "nl": (1, 2),
    "sv": (1, 2), "no": (1, 2), "nb": (1, 2), "nn": (1, 2), "da": (1, 2), "pl": (1, 2),
    "cs": (1, 2), "sk": (1, 2), "hu": (1, 2), "sl": (1, 2), "hr": (1, 2), "bs": (1, 2),
    "sr": (1, 2), "mk": (1, 2), "sq": (1, 2), "is": (0, 0), "fi": (2, 3), "et": (2, 3),
    "lv": (2, 3), "lt": (2, 3), "uk": (2, 3), "ro": (2, 3), "bg": (2, 3), "el": (2, 3),
    "sw": (3, 3), "xh": (2, 2), "zu": (2, 2), "af": (2, 2),
}
# fmt: on
# Country-code second-level domains that are not countries of publication.
# fmt: off
_GENERIC_CC = frozenset({
    "ly", "am", "tv", "nu", "to", "co", "ws", "fm", "io", "me", "cc", "gg", "la", "ai",
})
# fmt: on


def offsets(language: str | None, region: str | None, suffix: str | None) -> Range | None:
    """Plausible UTC offsets (hours) for a page: region subtag, then the country
    code of the domain (``com.br`` -> BR), then the language."""
    if region and region.upper() in _COUNTRIES:
        return _COUNTRIES[region.upper()]
    if suffix:
        country = suffix.rsplit(".", 1)[-1].lower()
        if len(country) == 2 and country not in _GENERIC_CC and country.upper() in _COUNTRIES:
            return _COUNTRIES[country.upper()]
    if language and language in _LANGUAGES:
        return _LANGUAGES[language]
    return None


# ISO 8601, or RFC 2822 ("Fri, 01 May 2020 23:00:00 -0400"). Both start with a digit,
# written first and once: a pattern that starts with a character class lets the regex
# engine skip to the next digit instead of trying both branches at every character
# of the page (three times faster over a whole page's source).
_STATED = re.compile(
    r"\d(?:\d{3}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?|"
    r"\d? [A-Z][a-z]{2} \d{4} \d{2}:\d{2}(?::\d{2})? )"
    r"(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})(?!\d)"
)


def stated(html: str) -> Range | None:
    """The UTC offsets the page's own timestamps are written in, when there are some
    other than UTC and they span at most an hour (standard and summer time)."""
    found: set[float] = set()
    for m in _STATED.finditer(html):
        value = int(m["hours"]) + int(m["minutes"]) / 60
        if value and value <= 14:
            found.add(-value if m["sign"] == "-" else value)
    if not found or max(found) - min(found) > 1:
        return None
    return min(found), max(found)
