"""Issue 17, a date shown without its year (extractor 1.4.0): "[06月24日 11時30分]"
under the headline takes its year from the page's other dates. Synthetic pages and
strings written here; the corpus page is in ``test_metadata_corpus.py``.

- only a month and day followed by a time of day is read (a date line, not a date
  in a sentence), in Japanese, Korean and the languages whose month names ``dates``
  knows;
- the year is the one that puts the date within three months of every other date
  the page gives (markup, URL, htmldate), and none when they disagree or are far;
- the headline is found when its text is split by ruby readings and the first
  ``<h1>`` is an empty one around a logo.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from archive.metadata import MetadataRecord, extract
from archive.metadata.markup import heading_start, parse, visible_text
from archive.metadata.monthday import MonthDay, find, year_for

CAPTURED = datetime(2025, 6, 30, tzinfo=UTC)
HIGH = 0.8


def _extract(body: str, *, head: str = "", lang: str = "ja", url: str) -> MetadataRecord:
    html = f'<html lang="{lang}"><head>{head}</head><body>{body}</body></html>'
    return extract(html.encode(), url=url, content_type="text/html", capture_time=CAPTURED)


_JA_TEXT = "".join(
    f"<p>{s}</p>"
    for s in (
        "子どもへの虐待をなくすための法律ができて、親が子どもを教育するために体罰を禁止することになりました。",
        "最近、親に虐待された子どもを児童相談所が守ることができなくて、子どもが亡くなる事件が続いています。",
        "このため、法律では児童相談所の力を強くしました。医者や保健師が意見を言うようにしました。",
    )
)
_EN_TEXT = "".join(
    "<p>The new bridge over the river was opened to traffic on Wednesday, the city said, "
    "and it will carry about ten thousand cars a day when the works are finished.</p>"
    for _ in range(3)
)
# an empty <h1> around the logo, then the article's headline with ruby readings
_JA_HEADLINE = (
    '<header><h1><a href="/"><img src="logo.png" alt="NEWS"></a></h1>'
    "<p>やさしい日本語で書いたニュースです。</p></header>"
    "<article><h1><ruby>子<rt>こ</rt></ruby>どもへの<ruby>体罰<rt>たいばつ</rt></ruby>を"
    "<ruby>禁止<rt>きんし</rt></ruby>する<ruby>法律<rt>ほうりつ</rt></ruby>ができる</h1>"
)


# ------------------------------------------------------------------ finding


@pytest.mark.parametrize(
    ("text", "month", "day", "hour"),
    [
        ("[06月24日 11時30分]", 6, 24, 11),
        ("2月15日（土）7時0分 オリコン", 2, 15, 7),
        ("６月２４日　１１時３０分", 6, 24, 11),
        ("6월 24일 11시 30분", 6, 24, 11),
        ("June 24, 11:30 a.m.", 6, 24, 11),
        ("Posted Jun 24 at 4:15 pm", 6, 24, 16),
        ("24. Juni, 11:30 Uhr", 6, 24, 11),
        ("mardi 24 juin à 9h30", 6, 24, 9),
    ],
)
def test_a_month_and_day_with_a_time_of_day_is_read(
    text: str, month: int, day: int, hour: int
) -> None:
    (found,) = find(text)
    assert (found.month, found.day, found.hour) == (month, day, hour)
    assert text[found.start : found.end] == found.raw


@pytest.mark.parametrize(
    "text",
    [
        "lockdown from July 10 until further notice",  # a date in a sentence, no time
        "continuará el 18 de mayo",
        "Jun 17 Jun 17",
        "19:02 (IST), Oct 02 TOSS",  # a time before the date: a live blog's entry
        "Publié le 27 Mar 20 à 9:21",  # 27 March 2020, a two-digit year
        "2019年6月24日 11時30分",  # a full date is not year-less
        "2019年 6月24日 11時30分",
        "30 février 10:00",  # no such day
        "June 24, 25:30",  # no such time
    ],
)
def test_no_year_less_date_and_time_is_read_where_there_is_none(text: str) -> None:
    assert find(text) == []


# ------------------------------------------------------------------ the year

_JUNE_24 = MonthDay(6, 24, 11, "06月24日 11時30分", 0, 13)
_DEC_30 = MonthDay(12, 30, 9, "12月30日 9時00分", 0, 12)


def test_the_year_puts_the_date_nearest_the_pages_other_dates() -> None:
    assert year_for(_JUNE_24, [date(2019, 6, 19)]) == date(2019, 6, 24)
    assert year_for(_JUNE_24, [date(2019, 6, 19), date(2019, 7, 2)]) == date(2019, 6, 24)
    # across new year: a date line of 30 December on a page whose link says 2 January
    assert year_for(_DEC_30, [date(2020, 1, 2)]) == date(2019, 12, 30)


def test_no_year_when_the_other_dates_disagree_or_are_far() -> None:
    assert year_for(_JUNE_24, []) is None
    assert year_for(_JUNE_24, [date(2019, 6, 19), date(2018, 6, 20)]) is None
    assert year_for(_JUNE_24, [date(2019, 1, 10)]) is None  # five months away
    leap_day = MonthDay(2, 29, 8, "Feb 29 8:00", 0, 11)
    assert year_for(leap_day, [date(2020, 3, 3)]) == date(2020, 2, 29)
    assert year_for(leap_day, [date(2021, 3, 3)]) is None  # no 29 February near


# ------------------------------------------------------------------ the headline


def test_the_headline_is_found_behind_an_empty_logo_h1_and_ruby_readings() -> None:
    tree = parse(f"<html><body>{_JA_HEADLINE}<p>[06月24日 11時30分]</p></article></body></html>")
    assert tree is not None
    text, anchor = visible_text(tree)
    assert anchor == -1  # the first <h1> is empty, and ruby readings split the second
    start = heading_start(tree)
    assert text[start:].startswith("子 こ どもへの")


# ------------------------------------------------------------------ in whole pages


def test_a_year_less_date_under_the_headline_takes_the_year_of_the_pages_other_date() -> None:
    """No date markup; htmldate reads 19 June 2019 from a link to the same story in
    the regular news; the page shows "[06月24日 11時30分]" under its headline. The
    reader sees 24 June, in the year the page's other date gives: 2019."""
    record = _extract(
        _JA_HEADLINE
        + '<p class="date">[06月24日 11時30分]</p>'
        + _JA_TEXT
        + '<a href="https://www.example.jp/news/html/20190619/k1001.html">普通のニュース</a>'
        + "</article>",
        head="<title>子どもへの体罰を禁止する法律ができる</title>",
        url="https://www.example.jp/news/easy/k1001/k1001.html",
    )
    assert str(record.published.value)[:10] == "2019-06-24"
    assert record.published.evidence[0].source == "text:first-date (year from htmldate)"
    assert record.published.evidence[0].raw == "06月24日 11時30分"
    assert any(r.value == "2019-06-19" for r in record.published.rejected)
    assert record.published.confidence < HIGH  # text and a borrowed year: not high


def test_a_year_month_url_gives_the_year() -> None:
    record = _extract(
        "<article><h1>New bridge opens to traffic</h1><p>June 24, 11:30 a.m.</p>"
        + _EN_TEXT
        + "</article>",
        head="<title>New bridge opens to traffic</title>",
        lang="en",
        url="https://www.example.com/2019/06/new-bridge-opens",
    )
    assert str(record.published.value)[:10] == "2019-06-24"
    assert record.published.evidence[0].source == "text:first-date (year from url-path)"


def test_a_month_and_day_without_a_time_takes_no_year() -> None:
    """ "from July 10" under the headline is an event in a sentence, not a date line."""
    record = _extract(
        "<article><h1>Lockdown from July 10</h1><p>Districts announce lockdown from July 10</p>"
        + _EN_TEXT
        + "</article>",
        head="<title>Lockdown from July 10</title>",
        lang="en",
        url="https://www.example.com/2019/07/lockdown",
    )
    assert record.published.value is None
