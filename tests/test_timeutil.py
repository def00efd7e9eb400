"""Every time the archive writes (custody events, database rows, WARC-Date) has one form:
UTC ISO 8601 with a Z and microseconds, four-digit year, read back to the same instant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.core.timeutil import iso_utc, parse_iso
from archive.warc.writer import warc_date

FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(UTC) | OFFSETS))
def test_iso_utc_has_one_form_and_reads_back(moment: datetime) -> None:
    text = iso_utc(moment)
    assert FORM.fullmatch(text), text
    assert parse_iso(text) == moment
    assert warc_date(moment) == text


def test_a_year_before_1000_keeps_four_digits() -> None:
    assert iso_utc(datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC)) == "0999-03-04T05:06:07.000008Z"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        iso_utc(datetime(2026, 12, 3, 12, 0))
