"""Issue 17, dates from the wrong event, and the title a page shows twice (extractor
1.3.0). Each failure class is reproduced by a small synthetic page written here, not
a copy of a corpus page:

- a date the page labels as an update ("Updated …", "… lastupdate") is not its
  publication date, and a date it labels as published is;
- ``<meta … value=…>`` (some systems write ``value`` for ``content``) is read, so the
  page's declared publication time is not lost to a later date it shows;
- a generic ``<meta name="date">`` yields to the date and time shown under the headline;
- a "publication date" field in a page with no article markup (a review's fact box)
  is not taken for the article's date;
- an ``<h1>`` that the ``<title>`` repeats word for word beats an ``og:title`` that
  tells another story.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from archive.metadata import MetadataRecord, extract
from archive.metadata.datelabels import label

CAPTURED = datetime(2025, 6, 1, tzinfo=UTC)
HIGH = 0.8


def _extract(
    head: str, body: str, *, lang: str = "de", url: str = "https://www.beispiel.de/a/b"
) -> MetadataRecord:
    html = f'<html lang="{lang}"><head>{head}</head><body>{body}</body></html>'
    return extract(html.encode(), url=url, content_type="text/html", capture_time=CAPTURED)


def _paragraphs(lang: str = "de") -> str:
    if lang == "en":
        sentence = (
            "The new bridge over the river was opened to traffic on Wednesday, the city said, "
            "and it will carry about ten thousand cars a day when the works are finished."
        )
    else:
        sentence = (
            "Die neue Brücke über den Fluss wurde am Mittwoch für den Verkehr freigegeben, "
            "teilte die Stadt mit, und sie soll täglich etwa zehntausend Autos tragen."
        )
    return "".join(f"<p>{sentence}</p>" for _ in range(4))


# ------------------------------------------------------------------ the label itself

_DATE = "14.05.2025"
_UPDATED = [
    "Aktualisiert am",
    "Updated",
    "Last updated on",
    "Mis à jour le",
    "Actualizado el",
    "更新",
    "updated 11:14 GMT",
]
_PUBLISHED = [
    "Veröffentlicht am",
    "Published",
    "Published on",
    "Posted on",
    "Publié le",
    "Publicado el",
    "公開日",
]
_RELEASE = ["Erscheinungsdatum:", "Publication date:", "Release date"]


@settings(max_examples=60, deadline=None)
@given(
    words=st.sampled_from(_UPDATED + _PUBLISHED + _RELEASE),
    lead=st.sampled_from(["", "Von Anna Muster | ", "Politik · "]),
    trail=st.sampled_from(["", " | 3 Min. Lesezeit", " Kommentare"]),
)
def test_the_label_touching_a_date_says_what_it_is(words: str, lead: str, trail: str) -> None:
    text = f"{lead}{words} {_DATE}{trail}"
    start = text.index(_DATE)
    expected = "updated" if words in _UPDATED else "published" if words in _PUBLISHED else "release"
    assert label(text, start, start + len(_DATE)) == expected


@settings(max_examples=40, deadline=None)
@given(
    words=st.sampled_from(_UPDATED + _PUBLISHED + _RELEASE),
    filler=st.sampled_from(["von Anna Muster", "in Berlin nach dem Spiel", "the mayor said"]),
)
def test_a_label_that_does_not_touch_the_date_is_not_its_label(words: str, filler: str) -> None:
    """A label word earlier in the sentence, with other words between, is not the date's."""
    text = f"{words} {filler} {_DATE}"
    start = text.index(_DATE)
    assert label(text, start, start + len(_DATE)) is None


def test_a_label_after_a_date_belongs_to_the_date_that_follows_it() -> None:
    text = "22:57 GMT 28.04.2020 (updated 11:14 GMT 29.04.2020)"
    first, second = text.index("28.04.2020"), text.index("29.04.2020")
    assert label(text, first, first + 10) is None
    assert label(text, second, second + 10) == "updated"
    text = "2019.03.26 lastupdate"
    assert label(text, 0, 10) == "updated"


# ------------------------------------------------------------------ in whole pages


def test_an_update_date_under_the_headline_is_not_the_publication_date() -> None:
    """The markup says 8 March; under the headline the page shows only its last
    update. Before 1.3.0 the ``value=`` meta tag was not read and the update won."""
    record = _extract(
        '<meta name="article:published_time" value="2019-03-08T13:00:00.000Z">'
        '<meta name="article:modified_time" value="2019-03-26T12:11:22.000Z">'
        "<title>Zeitungsständer im Test</title>",
        "<h1>Zeitungsständer im Test</h1><p class=date>2019.03.26 lastupdate</p>" + _paragraphs(),
    )
    assert str(record.published.value)[:10] == "2019-03-08"
    assert record.published.evidence[0].source == "meta:article:published_time"
    assert str(record.modified.value)[:10] == "2019-03-26"


def test_meta_value_is_read_as_content() -> None:
    record = _extract(
        '<meta property="og:site_name" value="Stadtbote">'
        '<meta name="article:published_time" value="2024-02-01T09:00:00+01:00">'
        "<title>Brücke eröffnet</title>",
        "<h1>Brücke eröffnet</h1>" + _paragraphs(),
    )
    assert record.published.value == "2024-02-01T09:00:00+01:00"
    assert record.outlet.value == "Stadtbote"


def test_an_update_labelled_date_does_not_win_as_first_shown_date() -> None:
    """No markup: the page shows "Aktualisiert am" first and "Veröffentlicht am" next;
    the publication date is the one the page calls so."""
    record = _extract(
        "<title>Brücke eröffnet</title>",
        "<h1>Brücke eröffnet</h1><div>Aktualisiert am 20.05.2024</div>"
        "<div>Veröffentlicht am 16.05.2024</div>" + _paragraphs(),
    )
    assert str(record.published.value)[:10] == "2024-05-16"
    assert record.published.confidence < HIGH  # text alone: never high confidence


def test_a_generic_meta_date_yields_to_the_date_and_time_under_the_headline() -> None:
    """``<meta name="date">`` is often when the page was built; the page tells its
    readers the date and time under the headline."""
    record = _extract(
        '<meta name="date" content="2020-04-30"><title>Mietenstreik in den USA</title>',
        "<h1>Mietenstreik in den USA</h1><ul><li><time>29.04.2020, 12:01 Uhr</time></li></ul>"
        + _paragraphs(),
    )
    assert str(record.published.value)[:10] == "2020-04-29"
    assert any(r.value == "2020-04-30" for r in record.published.rejected)


def test_a_labelled_publication_date_under_the_headline_beats_other_markup() -> None:
    record = _extract(
        '<meta property="og:article:published_time" content="2022-01-15">'
        "<title>Schneesport mit Rücksicht</title>",
        "<h1>Schneesport mit Rücksicht</h1><p>Erscheinungsdatum 25.01.2022</p>" + _paragraphs(),
    )
    assert str(record.published.value)[:10] == "2022-01-25"
    assert record.published.evidence[0].source == "text:first-date"


def test_the_h1_its_title_repeats_beats_a_social_title_telling_another_story() -> None:
    record = _extract(
        '<meta property="og:title" content="It has been a rough few months for the company">'
        '<meta name="twitter:title" content="It has been a rough few months for the company">'
        "<title>What is the hold-up at the launch site?</title>",
        "<h1>What is the hold-up at the launch site?</h1>" + _paragraphs("en"),
        lang="en",
        url="https://news.example.com/a/b",
    )
    assert record.title.value == "What is the hold-up at the launch site?"
