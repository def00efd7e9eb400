"""Dates keep the instant the page states (issue 12, item 11): ``published`` and
``modified`` are the full instant with its UTC offset when the page gives a time and
a zone, the calendar date alone when that is all it says; the schema accepts both,
and citations still format them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from archive.cite import CitationData, render
from archive.metadata import extract, validate
from archive.metadata.schema import errors

CAPTURED = datetime(2025, 6, 1, tzinfo=UTC)


def _page(head: str, lang: str = "de", url: str = "https://www.example-zeitung.de/a/b") -> dict:
    html = (
        f'<html lang="{lang}"><head>{head}<title>Brücke wird eröffnet</title></head>'
        "<body><article><h1>Brücke wird eröffnet</h1>"
        "<p>Die neue Brücke über den Fluss wird am Mittwoch für den Verkehr freigegeben, "
        "teilte die Stadt mit.</p></article></body></html>"
    )
    doc = extract(html.encode(), url=url, content_type="text/html", capture_time=CAPTURED)
    record = doc.to_json()
    validate(record)
    return record


def test_published_and_modified_keep_the_instant_and_its_offset() -> None:
    doc = _page(
        '<meta property="article:published_time" content="2025-05-14T09:30:00+02:00">'
        '<meta property="article:modified_time" content="2025-05-15T18:05:00+02:00">'
    )
    assert doc["published"]["value"] == "2025-05-14T09:30:00+02:00"
    assert doc["modified"]["value"] == "2025-05-15T18:05:00+02:00"
    assert doc["published"]["evidence"][0]["raw"] == "2025-05-14T09:30:00+02:00"


def test_the_date_alone_when_that_is_all_the_page_says() -> None:
    doc = _page('<meta property="article:published_time" content="2025-05-14">')
    assert doc["published"]["value"] == "2025-05-14"
    # a time without a zone is not an instant: the date alone
    doc = _page('<meta property="article:published_time" content="2025-05-14 09:30">')
    assert doc["published"]["value"] == "2025-05-14"


def test_a_midnight_timestamp_is_a_date_not_an_instant() -> None:
    """``2025-05-14T00:00:00Z`` is how many systems store a bare date."""
    doc = _page('<meta property="article:published_time" content="2025-05-14T00:00:00Z">')
    assert doc["published"]["value"] == "2025-05-14"


def test_the_value_always_starts_with_the_publishers_date() -> None:
    """21:30 UTC on 13 May is 14 May in Japan: the value is the instant written in
    Japan's offset, so its date part is the date a reader there sees."""
    doc = _page(
        '<meta property="article:published_time" content="2025-05-13T21:30:00Z">',
        lang="ja",
        url="https://www.example-shinbun.jp/a/b",
    )
    assert doc["published"]["value"] == "2025-05-14T06:30:00+09:00"
    assert doc["published"]["rejected"][0]["value"] == "2025-05-13"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2025-05-14", True),
        ("2025-05-14T09:30:00+02:00", True),
        ("2025-05-14T09:30:00Z", True),
        ("2025-05-14T09:30:00", False),  # an instant without its offset is not one
        ("2025-05-14T25:30:00+02:00", False),
        ("2025-02-30", False),
    ],
)
def test_the_schema_accepts_a_date_or_an_instant_with_offset(value: str, valid: bool) -> None:
    doc = _page('<meta property="article:published_time" content="2025-05-14">')
    for name in ("published", "modified"):
        changed = json.loads(json.dumps(doc))
        evidence = doc["published"]["evidence"]
        changed[name] = {"value": value, "evidence": evidence, "confidence": 0.9}
        assert (not errors(changed)) is valid, (name, value, errors(changed))


def test_citations_format_a_full_instant() -> None:
    data = CitationData(
        capture_id="sha256:" + "a" * 64,
        content_hash="sha256:" + "b" * 64,
        url="https://www.example-zeitung.de/a/b",
        captured_at="2025-06-01T00:00:00.000000Z",
        archive="provenance-archive",
        title="Brücke wird eröffnet",
        outlet="Example Zeitung",
        published="2025-05-14T09:30:00+02:00",
    )
    csl = json.loads(render([data], "csl-json"))
    assert csl[0]["issued"] == {"date-parts": [[2025, 5, 14]]}
    ris = render([data], "ris")
    assert "DA  - 2025/05/14" in ris and "PY  - 2025" in ris
    bibtex = render([data], "bibtex")
    assert "year = {2025}" in bibtex and "month = may" in bibtex
    assert "2025-05-14" in render([data], "text")
