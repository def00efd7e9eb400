"""Plain-text documents: header lines, tags, by-lines, outlet lines, datelines."""

from __future__ import annotations

from pathlib import Path

from archive.metadata import extract, validate
from archive.metadata.dateline import find as find_dateline
from archive.metadata.outlet import HOST_CONFIDENCE
from archive.metadata.text import split_tags

DATA = Path(__file__).parent / "data" / "metadata"


def test_dated_article_with_labels_and_convention() -> None:
    record = extract((DATA / "dated_article.txt").read_bytes(), content_type="text/plain")
    validate(record.to_json())
    assert record.title.value == "Council approves new cycle lanes"
    # 12/03/2019 is read day-first because the document writes 14/03/2019 elsewhere
    assert record.published.value == "2019-03-12"
    assert "14/03/2019" in record.published.rejected[0].reason
    assert record.modified.value == "2019-03-14"
    assert record.modified.evidence[0].source == "text:line 4"
    assert record.authors.value == ("Jane Example",)
    assert record.tags.value == ("Transport", "Cycling", "City Council")
    assert record.dateline.value == "London"
    # "according\nto the Evening Standard" is read across the hard line break
    assert record.credited_sources.value == ("Evening Standard",)
    assert record.credited_sources.evidence[0].source == "text:line 8"


def test_space_separated_tags_keep_names_the_text_uses() -> None:
    body = "Sky News reported it. Later Sky News said more. Syria and ISIS were named."
    assert split_tags("Syria ISIS Palmyra Sky News", body, set()) == (
        "Syria",
        "ISIS",
        "Palmyra",
        "Sky News",
    )
    assert split_tags("Syria ISIS Palmyra Sky News", "", {"Sky News"})[-1] == "Sky News"
    assert split_tags("one, two words; three", "", set()) == ("one", "two words", "three")
    assert split_tags("#climate #energy", "", set()) == ("climate", "energy")


def test_outlet_line_is_a_short_name_not_a_section() -> None:
    text = "Bridge reopens after repairs\n\n2019-06-01\nWorld\nThe bridge reopened on Saturday.\n"
    assert extract(text.encode()).outlet.value is None  # "World" is a section, not an outlet
    named = "Bridge reopens after repairs\n2019-06-01\nHarbour Gazette\nThe bridge reopened.\n"
    record = extract(named.encode())
    assert record.outlet.value == "Harbour Gazette"
    assert record.outlet.evidence[0].source == "text:line 3"


def test_outlet_from_url_when_the_text_names_none() -> None:
    record = extract(
        b"Title line\nSome text that is long enough to be read.\n",
        url="https://www.example-news.co.uk/a/b",
    )
    assert record.outlet.value == "example-news.co.uk"
    # marked as the host name, with low confidence (issue 12, item 11)
    assert [e.source for e in record.outlet.evidence] == ["url-host"]
    assert 0 < record.outlet.confidence <= HOST_CONFIDENCE <= 0.3


def test_datelines() -> None:
    assert find_dateline("WASHINGTON (Reuters) - The Senate voted").place == "Washington"  # type: ignore[union-attr]
    found = find_dateline("Berlin (dpa) – Die Bundesregierung hat")
    assert found is not None and (found.place, found.agency) == ("Berlin", "dpa")
    assert find_dateline("NEW YORK — Stocks rose").place == "New York"  # type: ignore[union-attr]
    assert find_dateline("UPDATE: the story changed") is None
    assert find_dateline("BREAKING NEWS — something") is None
    assert find_dateline("The city of Erbil — a story") is None


def test_empty_and_whitespace_text() -> None:
    record = extract(b"   \n\n  ")
    assert record.content_kind == "not-applicable" and record.reason == "empty payload"
    validate(record.to_json())


def test_a_date_only_document_has_no_title() -> None:
    record = extract(b"2016-05-03\nSome words follow here in a sentence.\n")
    assert record.title.value is None
    assert record.published.value == "2016-05-03"
