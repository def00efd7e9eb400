"""Ambiguous numeric dates are resolved by evidence, and the rejected reading is kept."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from archive.metadata import ambiguity
from archive.metadata.dates import UrlDate, find_dates, past_month_mentions


def _match(text: str = "02-05-2016"):  # type: ignore[no-untyped-def]
    (match,) = find_dates(text)
    assert match.ambiguous
    return match


def test_a_month_spoken_of_as_past_rules_out_the_earlier_reading() -> None:
    mentions = tuple(
        past_month_mentions("The victory over ISIS in Palmyra in March was a handover.")
    )
    result = ambiguity.resolve(_match(), ambiguity.Context(language="en", mentions=mentions))
    assert result.value == date(2016, 5, 2)
    ((rejected, reason),) = result.rejected
    assert rejected == date(2016, 2, 5)
    assert "March 2016" in reason and "rules out 5 February" in reason


def test_capture_time_is_an_upper_bound() -> None:
    result = ambiguity.resolve(_match(), ambiguity.Context(language="en", bound=date(2016, 3, 1)))
    assert result.value == date(2016, 2, 5)
    assert "after the capture time" in result.rejected[0][1]


def test_the_documents_own_order_decides() -> None:
    convention, raw = ambiguity.document_convention(
        find_dates("Updated 24/11/2013. Filed 02/05/2016")
    )
    assert (convention, raw) == ("dmy", "24/11/2013")
    ctx = ambiguity.Context(language="en", region="US", convention=convention, convention_raw=raw)
    # the document convention (day-first) beats the en-US habit (month-first)
    assert ambiguity.resolve(_match("02/05/2016"), ctx).value == date(2016, 5, 2)


def test_a_date_in_the_url_decides() -> None:
    ctx = ambiguity.Context(url_date=UrlDate(date(2016, 2, 5), 2016, 2, "/2016/02/05"))
    result = ambiguity.resolve(_match(), ctx)
    assert result.value == date(2016, 2, 5)
    assert "URL" in result.rejected[0][1]


def test_language_conventions() -> None:
    assert ambiguity.language_order("sv", None) == "dmy"
    assert ambiguity.language_order("en", "GB") == "dmy"
    assert ambiguity.language_order("en", "US") == "mdy"
    assert ambiguity.language_order("en", None) is None  # written both ways
    us = ambiguity.resolve(_match("02/05/2016"), ambiguity.Context(language="en", region="US"))
    assert us.value == date(2016, 2, 5) and us.confidence < 0.8  # a convention alone is weak


def test_no_evidence_means_unknown_with_both_readings_recorded() -> None:
    result = ambiguity.resolve(_match(), ambiguity.Context(language="en"))
    assert result.value is None and result.confidence == 0.0
    assert {r for r, _ in result.rejected} == {date(2016, 5, 2), date(2016, 2, 5)}


def test_unambiguous_dates_pass_through() -> None:
    (match,) = find_dates("2016-05-03")
    assert ambiguity.resolve(match, ambiguity.Context()).value == date(2016, 5, 3)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1990, 2030),
    st.sampled_from([None, "en", "sv", "de"]),
    st.sampled_from([None, "US", "GB"]),
    st.one_of(st.none(), st.dates(date(1990, 1, 1), date(2031, 1, 1))),
)
def test_resolve_never_crashes_and_only_returns_a_reading(
    a: int, b: int, year: int, language: str | None, region: str | None, bound: date | None
) -> None:
    found = find_dates(f"{a:02d}/{b:02d}/{year}")
    if not found:
        return
    result = ambiguity.resolve(
        found[0], ambiguity.Context(language=language, region=region, bound=bound)
    )
    assert result.value is None or result.value in found[0].readings
    assert 0.0 <= result.confidence <= 1.0
    if bound is not None and result.value is not None and found[0].ambiguous:
        assert result.value <= bound or all(r > bound for r in found[0].readings)
