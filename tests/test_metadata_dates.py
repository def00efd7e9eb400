"""Date parsing: machine timestamps, dates in words and numbers, URLs; property tests."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.metadata.dates import (
    MAX_YEAR,
    MIN_YEAR,
    find_dates,
    parse_timestamp,
    past_month_mentions,
    url_date,
)


@pytest.mark.parametrize(
    ("raw", "expected", "utc", "hour"),
    [
        ("2020-02-19T18:37:32+01:00", date(2020, 2, 19), False, 18),
        ("2019-03-04T15:00:00.000Z", date(2019, 3, 4), True, 15),
        ("2022-05-06T02:00:00.824-05:00", date(2022, 5, 6), False, 2),
        ("2016-05-03", date(2016, 5, 3), False, None),
        ("2020.08.19", date(2020, 8, 19), False, None),
        ("2022-5-5 22:17:36", date(2022, 5, 5), False, 22),
        ("20190402", date(2019, 4, 2), False, None),
        ("1582045946", date(2020, 2, 18), True, 17),  # Unix epoch seconds
        ("1582045946000", date(2020, 2, 18), True, 17),  # and milliseconds
        (
            "Tue Feb 20 2018 01:00:00 GMT+0100 (Central European Standard Time)",
            date(2018, 2, 20),
            False,
            1,
        ),
        ("Wed, 19 Feb 2020 18:37:32 GMT", date(2020, 2, 19), True, 18),
        ("10/05/2022 05:22 pm", date(2022, 5, 10), False, 17),  # ambiguous: day-first first
    ],
)
def test_parse_timestamp(raw: str, expected: date, utc: bool, hour: int | None) -> None:
    match = parse_timestamp(raw)
    assert match is not None
    assert match.date == expected
    assert match.utc is utc
    assert match.hour == hour


@pytest.mark.parametrize(
    "raw", ["", "   ", "yesterday", "2016-02-30", "13/13/2020", "0000-00-00", "9999-01-01"]
)
def test_parse_timestamp_refuses_what_is_not_a_date(raw: str) -> None:
    assert parse_timestamp(raw) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Publicerad 2016-05-03", date(2016, 5, 3)),
        ("den 3 maj 2016", date(2016, 5, 3)),
        ("3. Mai 2016", date(2016, 5, 3)),
        ("le 1er mai 2016", date(2016, 5, 1)),
        ("3 de mayo de 2016", date(2016, 5, 3)),
        ("3 de maio de 2016", date(2016, 5, 3)),
        ("May 3, 2016", date(2016, 5, 3)),
        ("24th November, 2013", date(2013, 11, 24)),
        ("Dec. 22, 2016, 6:47 p.m.", date(2016, 12, 22)),
        ("2019年3月5日", date(2019, 3, 5)),
        ("2020년 8월 17일", date(2020, 8, 17)),
        ("29.04.2020, 12:01", date(2020, 4, 29)),
        ("٣ مايو ٢٠١٦", date(2016, 5, 3)),  # Arabic-Indic digits, Arabic month name
        ("3 أيار 2016", date(2016, 5, 3)),  # Levantine month name
        ("3 كانون الثاني 2016", date(2016, 1, 3)),  # two-word month name
    ],
)
def test_find_dates_in_words_and_numbers(text: str, expected: date) -> None:
    found = find_dates(text)
    assert [m.date for m in found] == [expected]
    assert not found[0].ambiguous


def test_numeric_dates_keep_every_reading() -> None:
    (match,) = find_dates("02-05-2016")
    assert match.ambiguous
    assert match.readings == (date(2016, 5, 2), date(2016, 2, 5))  # day-first first
    (dotted,) = find_dates("02.05.2016")
    assert dotted.readings == (date(2016, 5, 2),)  # dots are day-first everywhere
    (unambiguous,) = find_dates("24/11/2013")
    assert unambiguous.readings == (date(2013, 11, 24),) and unambiguous.order == "dmy"


def test_words_that_look_like_months_are_not_dates() -> None:
    assert find_dates("the 12 2016 budget") == []
    assert find_dates("Mars 2016 landing") == []  # month and year only: not a full date


@pytest.mark.parametrize(
    ("url", "expected", "month_only"),
    [
        ("https://example.com/2016/12/23/title/", date(2016, 12, 23), False),
        ("https://befifty.example/home/2017/7/12/unter-uns", date(2017, 7, 12), False),
        ("https://www.theguardian.com/education/2020/jan/20/slug", date(2020, 1, 20), False),
        ("https://www.ipa.go.jp/security/alert20190402.html", date(2019, 4, 2), False),
        ("http://www.refinery29.com/2016/12/132377/graphic-tees", None, True),
        ("https://example.com/news/263700449/story", None, False),
    ],
)
def test_url_date(url: str, expected: date | None, month_only: bool) -> None:
    found = url_date(url)
    if expected is None and not month_only:
        assert found is None
        return
    assert found is not None
    assert found.date == expected
    if month_only:
        assert (found.year, found.month) == (2016, 12)


def test_past_month_mentions_need_a_past_tense_cue() -> None:
    past = past_month_mentions("The celebrated victory in March was a planned handover.")
    assert [(m.month, m.year) for m in past] == [(3, None)]
    assert past_month_mentions("The summit will be held in March.") == []
    assert past_month_mentions("Talks resume next March and were stalled before.") == []
    assert [m.month for m in past_month_mentions("Segern i mars var planerad.")] == [3]
    assert [m.month for m in past_month_mentions("Im März 2016 war es kalt.")] == [3]
    assert past_month_mentions("You may have heard it was over.") == []  # "may" the verb


# ---------------------------------------------------------------- properties


def _valid(found: date) -> bool:
    return MIN_YEAR <= found.year <= MAX_YEAR


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_find_dates_never_crashes_nor_invents_a_date(text: str) -> None:
    for match in find_dates(text):
        assert match.readings and all(_valid(d) for d in match.readings)
        assert 0 <= match.start < match.end <= len(text) or match.start == match.end == 0


_date_like = st.builds(
    lambda a, sep, b, year, tail: f"{a}{sep}{b}{sep}{year}{tail}",
    st.integers(0, 99),
    st.sampled_from(["-", "/", ".", " "]),
    st.integers(0, 99),
    st.integers(0, 9999),
    st.sampled_from(["", "T12:00:00Z", " 25:61", "+05:00", " pm"]),
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(), _date_like, st.from_regex(r"\d{4}-\d{1,2}-\d{1,2}T\d\d:\d\d", fullmatch=True)
    )
)
def test_parse_timestamp_never_crashes_and_returns_real_dates(raw: str) -> None:
    match = parse_timestamp(raw)
    if match is not None:
        assert all(isinstance(d, date) and _valid(d) for d in match.readings)
        assert match.hour is None or 0 <= match.hour <= 23


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["https://example.com/", "http://a.b/x/", ""]))
def test_url_date_never_crashes(path: str, base: str) -> None:
    found = url_date(base + path)
    if found is not None and found.date is not None:
        assert _valid(found.date)


@settings(max_examples=200, deadline=None)
@given(st.dates(date(1900, 1, 1), date(2099, 12, 31)))
def test_iso_dates_round_trip(day: date) -> None:
    match = parse_timestamp(day.isoformat())
    if MIN_YEAR <= day.year <= MAX_YEAR:
        assert match is not None and match.date == day
    else:
        assert match is None


def test_dates_inside_hashes_are_not_url_dates() -> None:
    assert url_date("https://example.com/a/3fa20160503c9e/story") is None
    assert url_date("urn:sha256:0a2016050311ff") is None


def test_the_zone_a_page_writes_its_timestamps_in() -> None:
    from archive.metadata.timezones import stated

    assert stated('"dateModified": "2020-05-01T23:00:00-04:00"') == (-4, -4)
    assert stated("Fri, 01 May 2020 23:00:00 -0400 / 2020-01-02T10:00:00-05:00") == (-5, -4)
    assert stated("2020-05-01T23:00:00Z and 2020-05-01T23:00:00+00:00") is None  # UTC only
    assert stated("2020-05-01T10:00:00+09:00 2020-05-01T10:00:00-04:00") is None  # no one zone
    assert stated("no timestamps here, only 10:00-12:00") is None
