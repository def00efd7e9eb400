"""HTML pages: structured data, titles, dates in UTC, sites without markup."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.metadata import extract, validate
from archive.metadata.markup import original_url
from archive.metadata.outlet import HOST_CONFIDENCE
from archive.metadata.titles import _strip_site

DATA = Path(__file__).parent / "data" / "metadata"
CAPTURED = datetime(2024, 1, 1, tzinfo=UTC)


def _extract(name: str, url: str | None = None):  # type: ignore[no-untyped-def]
    record = extract(
        (DATA / name).read_bytes(), url=url, content_type="text/html", capture_time=CAPTURED
    )
    validate(record.to_json())
    return record


def test_json_ld_article() -> None:
    r = _extract(
        "jsonld_article.html", "https://www.northern-courier.example/news/2021/03/09/harbour-crane"
    )
    assert r.content_kind == "html"
    # the page states the instant in UTC: it is kept with its offset (issue 12, item 11)
    assert r.published.value == "2021-03-09T08:15:00+00:00" and r.published.confidence >= 0.9
    sources = [e.source for e in r.published.evidence]
    assert sources[:2] == ["json-ld:datePublished", "meta:article:published_time"]
    assert r.modified.value == "2021-03-10T12:00:00+00:00"
    assert r.title.value == "Harbour crane collapses in storm"
    assert r.authors.value == ("Ada Byline", "Ben Second")
    assert r.outlet.value == "The Northern Courier" and r.outlet.confidence >= 0.9
    assert r.tags.value == ("Weather", "Harbour")
    assert r.language.value == "en"
    assert (
        r.canonical_url.value
        == "https://www.northern-courier.example/news/2021/03/09/harbour-crane"
    )
    assert r.description.value == "A crane at the east harbour fell during Tuesday's gale."
    assert r.dateline.value == "Aberdeen"
    assert r.credited_sources.value is not None
    assert {"Reuters", "BBC", "Press and Journal"} <= set(r.credited_sources.value)


def test_utc_timestamp_moves_to_the_publishers_day() -> None:
    """15:30 UTC on 4 March is 5 March in Japan; the UTC date is kept as rejected, and
    the instant is shown in Japan's one offset, on the date a reader there sees."""
    r = _extract("utc_only_japanese.html")
    assert r.published.value == "2019-03-05T00:30:00+09:00"
    (rejected,) = r.published.rejected
    assert rejected.value == "2019-03-04" and "UTC+9" in rejected.reason
    assert r.published.confidence < 0.8
    assert r.title.value == "新しい駅が開業"  # the site name after " - " is not the headline
    assert r.language.value == "ja"


def test_same_instant_with_a_local_offset_wins() -> None:
    r = _extract("utc_with_local_twin.html")
    assert r.published.value == "2022-05-05T21:00:00-05:00"  # as the local twin writes it
    assert any("local time" in rej.reason for rej in r.published.rejected)
    assert r.credited_sources.value == ("EFE",)


def test_page_without_date_markup() -> None:
    r = _extract("no_markup_dates.html")
    assert r.published.value == "2018-05-14"
    assert r.published.confidence < 0.8  # text only: never high confidence
    assert r.title.value == "Neue Brücke eröffnet"
    assert r.outlet.value == "Stadtbote"
    assert r.outlet.evidence[0].source == "text:copyright"
    assert r.credited_sources.value == ("Spiegel",)


def test_logo_in_h1_is_not_the_headline() -> None:
    r = _extract("logo_h1.html")
    assert r.title.value == "Le marché couvert rouvre ses portes"
    assert r.outlet.value == "Gazette du Quai"
    assert r.published.value is None and r.published.confidence == 0  # unknown, not a guess
    assert r.credited_sources.value == ("Le Monde",)


@pytest.mark.parametrize(
    ("title", "names", "expected"),
    [
        ("Harbour crane collapses | The Courier", ["The Courier"], "Harbour crane collapses"),
        ("The Courier - Harbour crane collapses", ["The Courier"], "Harbour crane collapses"),
        (
            "短缺药品保供稳价 全力保障临床用药需求-新华网",
            ["新华网"],
            "短缺药品保供稳价 全力保障临床用药需求",
        ),
        (
            "»Miete zu hoch« (neues deutschland)",
            ["neues-deutschland", "neues deutschland"],
            "»Miete zu hoch«",
        ),
        (
            "A headline about the Courier itself",
            ["The Courier"],
            "A headline about the Courier itself",
        ),
    ],
)
def test_strip_site(title: str, names: list[str], expected: str) -> None:
    from archive.metadata.outlet import fold

    assert _strip_site(title, names, {fold(n) for n in names}) == expected


def test_wayback_urls_stand_for_the_original() -> None:
    assert (
        original_url("https://web.archive.org/web/20160330101229/http://muffin.example/a")
        == "http://muffin.example/a"
    )
    assert (
        original_url("https://example.com/web/1/http://x") == "https://example.com/web/1/http://x"
    )


def test_declared_language_overruled_by_the_text() -> None:
    page = (
        '<html lang="en"><head><title>x</title></head><body>'
        + "<p>Die Bundesregierung hat am Montag beschlossen, dass die neuen Regeln ab dem ersten "
        "Januar gelten sollen. Das wurde von allen Beteiligten begrüßt und soll nun umgesetzt "
        "werden, sagte der Sprecher der Regierung nach der Sitzung in Berlin.</p>"
        * 3
        + "</body></html>"
    )
    r = extract(page.encode(), content_type="text/html")
    assert r.language.value == "de"
    assert r.language.evidence[0].source == "text-detection"


def test_broken_json_ld_is_read_leniently() -> None:
    page = b"""<html><head><script type="application/ld+json">
    <!-- {"@type": "NewsArticle", "headline": "Lenient parsing works",
          "datePublished": "2020-01-02",} -->
    </script></head><body><p>Body text that is long enough to count as a paragraph.</p>
    </body></html>"""
    r = extract(page, content_type="text/html")
    assert r.title.value == "Lenient parsing works"
    assert r.published.value == "2020-01-02"


def test_garbage_html_gives_a_valid_record() -> None:
    for payload in (
        b"<html",
        b"<html><body>\x00\x01\x02</body>",
        b"<p>" * 5000,
        "<p>é</p>".encode("latin-1"),
    ):
        record = extract(payload, content_type="text/html")
        validate(record.to_json())


def test_an_outlet_read_from_the_host_name_alone_is_marked_and_low() -> None:
    """Issue 12, item 11: a page that names no outlet gets its host name, marked
    ``url-host`` and with low confidence, never passed off as the outlet's name."""
    page = (
        b"<html lang=en><head><title>Harbour crane returns to the quay</title></head><body>"
        b"<h1>Harbour crane returns to the quay</h1><p>The crane came back on Monday, the "
        b"port authority said, after two years of repairs.</p></body></html>"
    )
    record = extract(page, url="https://www.harbour-courier.co.uk/news/crane")
    assert record.outlet.value == "harbour-courier.co.uk"
    assert [e.source for e in record.outlet.evidence] == ["url-host"]
    assert record.outlet.confidence <= HOST_CONFIDENCE <= 0.3
