"""The replay rewriter and the Memento helpers (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.ledger.replayed import ReplayRecord
from archive.serve import memento
from archive.serve.memento import (
    closest,
    link_header,
    parse_accept_datetime,
    parse_timestamp,
    timemap,
)
from archive.serve.rewrite import replay_url, rewrite_css, rewrite_html

TS = "20260101120000"
BASE = "https://news.example/dir/page.html"


def test_html_attributes_point_into_the_archive() -> None:
    out = rewrite_html(
        '<link rel=stylesheet href="/s.css"><a href=\'p?a=1&amp;b=2\'>x</a>'
        '<img src="i.png" srcset="a.png 1x, b.png 2x"><form action="https://other.example/f">'
        '<div style="background:url(\'c.png\')"></div><a href="#top">t</a>', BASE, TS)
    assert f'href="/web/{TS}/https://news.example/s.css"' in out
    assert f'href="/web/{TS}/https://news.example/dir/p?a=1&amp;b=2"' in out
    assert f'src="/web/{TS}/https://news.example/dir/i.png"' in out
    assert (f'srcset="/web/{TS}/https://news.example/dir/a.png 1x, '
            f'/web/{TS}/https://news.example/dir/b.png 2x"') in out
    assert f'action="/web/{TS}/https://other.example/f"' in out
    assert f"url(&#x27;/web/{TS}/https://news.example/dir/c.png&#x27;)" in out
    assert 'href="#top"' in out


def test_base_href_and_style_blocks() -> None:
    out = rewrite_html('<base href="https://cdn.example/x/"><style>@import "a.css";'
                       ' p{background:url(b.png)}</style><img src="c.png">', BASE, TS)
    assert f'@import "/web/{TS}/https://cdn.example/x/a.css"' in out
    assert f"url(/web/{TS}/https://cdn.example/x/b.png)" in out
    assert f'src="/web/{TS}/https://cdn.example/x/c.png"' in out


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)",
                                 "ftp://x/y", "FILE:/etc/passwd", " jAvAscript:x"])
def test_other_schemes_load_nothing(url: str) -> None:
    assert replay_url(url, BASE, TS) == "about:blank"
    assert f'src="{url}"' not in rewrite_html(f'<img src="{url}">', BASE, TS)


def test_css_url_with_quotes_and_a_closing_paren_stays_one_token() -> None:
    out = rewrite_css('a{b:url("x).png")}', BASE, TS)
    assert out == f'a{{b:url("/web/{TS}/https://news.example/dir/x).png")}}'


@given(st.text(max_size=200))
def test_rewriting_never_raises_and_leaves_text_without_tags_alone(text: str) -> None:
    out = rewrite_html(text, BASE, TS)
    if "<" not in text:
        assert out == text


def test_timestamps_and_accept_datetime() -> None:
    assert parse_timestamp("20260101120000") == datetime(2026, 1, 1, 12, tzinfo=UTC)
    for bad in ("2026", "20261301000000", "2026010112000a", "202601011200000"):
        assert parse_timestamp(bad) is None
    assert parse_accept_datetime("Thu, 01 Jan 2026 12:00:00 GMT") == datetime(
        2026, 1, 1, 12, tzinfo=UTC)
    for bad in ("", "yesterday", "x" * 65, "Thu, 01 Jan 2026 12:00:00"):
        with pytest.raises(ValueError):
            parse_accept_datetime(bad)


def _memento(date: str) -> ReplayRecord:
    return ReplayRecord(date, "response", "https://news.example/", "<urn:uuid:1>",
                        "a.warc.gz", 0, 1, "sha256:" + "0" * 64)


def test_closest_prefers_the_memento_of_the_named_second() -> None:
    found = [_memento("2026-01-01T12:00:03.400000Z"), _memento("2026-01-01T12:00:04.600000Z")]
    assert closest(found, datetime(2026, 1, 1, 12, 0, 4, tzinfo=UTC)) is found[1]
    assert closest(found, datetime(2020, 1, 1, tzinfo=UTC)) is found[0]


def test_link_header_and_timemap_escape_what_would_break_them() -> None:
    link = link_header('https://x.example/a b,"c"', "/m", "2026-01-01T00:00:00Z", "/tg", "/tm")
    assert link.startswith('<https://x.example/a%20b%2C%22c%22>; rel="original"')
    tm = timemap("https://x.example/", "/tg", "/tm", [("/m1", "2026-01-01T00:00:00Z"),
                                                      ("/m2", "2026-01-02T00:00:00Z")])
    assert '</m1>; rel="first memento"; datetime="Thu, 01 Jan 2026 00:00:00 GMT"' in tm
    assert '</m2>; rel="last memento"' in tm


def test_a_lookup_tries_both_forms_of_an_empty_path_only() -> None:
    assert memento.uri_variants("http://a.example") == ["http://a.example", "http://a.example/"]
    assert memento.uri_variants("https://a.example/") == ["https://a.example/",
                                                          "https://a.example"]
    assert memento.uri_variants("http://a.example/?q=1") == ["http://a.example/?q=1"]
    assert memento.uri_variants("http://a.example/x/") == ["http://a.example/x/"]
