"""The error classes of issue 17, each on real pages of the development corpus.

The pages are read from ``../shared/corpus/html`` at test time (``helpers.SHARED``:
``ARCHIVE_TEST_SHARED`` names another copy of the shared folder), never copied into
the project; without the corpus the tests skip saying why, and fail under
``CI=true``. Each test names the class of error and asserts the principle, not a
page's quirk: the pages stand for their class.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from helpers import SHARED, missing_path, require

from archive.metadata import MetadataRecord, extract

CORPUS = SHARED / "corpus" / "html"
HIGH = 0.8


@cache
def _truth(source: str) -> dict[str, dict[str, Any]]:
    lines = (CORPUS / source / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["file"]: row for row in map(json.loads, filter(str.strip, lines))}


def page(source: str, name: str) -> tuple[MetadataRecord, dict[str, Any]]:
    """Our record of one corpus page and its known truth."""
    path = CORPUS / source / name
    require(missing_path(path, "development corpus page"))
    truth = _truth(source)[name]
    return extract(path.read_bytes(), url=truth.get("url"), content_type="text/html"), truth


# ------------------------------------------------------------------ languages


@pytest.mark.parametrize(
    "name", ["za_Dizindaba_2025_11_16.html", "za_EyethuNews_2025_11_25.html"]
)
def test_a_language_the_detector_does_not_know_is_not_confirmed(name: str) -> None:
    """isiXhosa and isiZulu pages that declare English: the detector knows neither
    language, so it says so; the declaration is kept without high confidence, and no
    other listed language (Portuguese, before) is guessed."""
    record, truth = page("fundus", name)
    assert truth["language"] in ("xh", "zu")
    language = record.language
    assert language.value == "en"  # what the page declares, unconfirmed
    assert language.confidence < HIGH
    detection = next(e for e in language.evidence if e.source == "text-detection")
    assert "does not know" in detection.raw


# ------------------------------------------------------------------ dates one day off


def test_a_utc_timestamp_takes_the_zone_the_page_writes_its_other_times_in() -> None:
    """abc7ny: published 02:54 UTC on 2 May; nothing in language or domain places
    the publisher, but the page's other timestamps are written at -04:00, where the
    instant is 22:54 on 1 May: the date a reader there saw."""
    record, truth = page("htmldate", "1594754655.html")
    assert truth["date"] == "2020-05-01"
    assert record.published.value == "2020-05-01T22:54:29-04:00"
    assert record.published.rejected[0].value == "2020-05-02"


@pytest.mark.parametrize(
    ("source", "name"), [("postlight", "www.al.com.html"), ("htmldate", "1493757507.html")]
)
def test_a_date_and_time_under_the_headline_beats_a_utc_date_a_day_off(
    source: str, name: str
) -> None:
    """No date markup; htmldate reads a UTC timestamp as its UTC date, a day off from
    the date and time the page shows under its headline: the shown date wins."""
    record, truth = page(source, name)
    assert str(record.published.value)[:10] == truth["date"]
    assert record.published.evidence[0].source == "text:first-date"
    assert any(r.source == "htmldate" for r in record.published.rejected)


# ------------------------------------------------------------------ invisible characters


def test_soft_hyphens_and_invisible_characters_are_not_kept() -> None:
    """WinFuture writes soft hyphens into its description: a reader never sees them,
    and a citation or comparison must not carry them."""
    path = CORPUS / "fundus" / "de_WinFuture_2024_04_29.html"
    record, _ = page("fundus", "de_WinFuture_2024_04_29.html")
    assert "\u00ad" in path.read_text(encoding="utf-8")
    for name in ("title", "outlet", "description"):
        value = record.get(name).value
        assert isinstance(value, str) and value
        assert not any(ch in value for ch in "\u00ad\u200b\u2060\ufeff\u200e\u200f"), name


# ------------------------------------------------------------------ outlets


def test_an_outlet_named_only_by_its_web_address_is_not_high_confidence() -> None:
    """Morgunblaðið's page names its publisher only "mbl.is", in JSON-LD and meta:
    a web brand, which the page does not confirm as the publication's name."""
    record, truth = page("fundus", "isl_Morgunbladid_2025_04_16.html")
    assert truth["sitename"] == "Morgunbladid"
    assert record.outlet.value == "mbl.is"
    assert record.outlet.confidence < HIGH
