"""Outlet names: folding for comparison, domains (offline), copyright lines."""

from __future__ import annotations

import pytest

from archive.metadata.outlet import (
    copyright_holders,
    fold,
    public_suffix,
    registrable_domain,
    resembles_domain,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Le Monde.fr", "Le Monde"),
        ("Süddeutsche.de", "Suddeutsche"),
        ("The Guardian", "guardian"),
        ("Morgunblaðið", "Morgunbladid"),
        ("Der SeglerBlog", "seglerblog"),
    ],
)
def test_fold_compares_spellings(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_fold_can_keep_articles_that_belong_to_the_name() -> None:
    assert fold("ELMUNDO", articles=False) == fold("El Mundo", articles=False) == "elmundo"


def test_registrable_domain_uses_the_bundled_list() -> None:
    assert registrable_domain("https://www.bbc.co.uk/news/x") == ("bbc.co.uk", "bbc")
    assert registrable_domain("https://politics.people.com.cn/n1/x.html") == (
        "people.com.cn",
        "people",
    )
    assert registrable_domain("http://127.0.0.1:8080/x") is None
    assert registrable_domain(None) is None
    assert public_suffix("https://www.gazetadopovo.com.br/x") == "com.br"


@pytest.mark.parametrize(
    ("name", "label", "expected"),
    [
        ("FAZ", "faz", True),
        ("Frankfurter Allgemeine Zeitung", "faz", True),
        ("Le Monde.fr", "lemonde", True),
        ("U.S.", "reuters", False),
        ("Deutsche Welle", "dw", True),
        ("Sports", "espn", False),
    ],
)
def test_resembles_domain(name: str, label: str, expected: bool) -> None:
    assert resembles_domain(name, label) is expected


def test_copyright_holders() -> None:
    text = (
        "Copyright © The Asahi Shimbun Company. All rights reserved.\n"
        "© 2020 Deutsche Welle (www.dw.com)"
    )
    assert copyright_holders(text) == ["The Asahi Shimbun", "Deutsche Welle"]
    assert copyright_holders("© 2024. Alle Rechte vorbehalten") == []


def test_a_latin_name_matching_the_domain_is_preferred_to_another_script() -> None:
    from archive.metadata.jsonld import JsonLd
    from archive.metadata.outlet import from_html

    meta = {"og:site_name": ["朝日新聞デジタル"], "twitter:site": ["@asahi_news"]}
    footer = "Copyright © The Asahi Shimbun Company. All rights reserved."
    field = from_html(meta, JsonLd(), None, "https://www.asahi.com/articles/x.html", footer=footer)
    assert field.value == "The Asahi Shimbun"
    assert field.rejected[0].value == "朝日新聞デジタル"
    assert "another script" in field.rejected[0].reason
    # with no Latin name on the page the native name stands
    native = from_html(meta, JsonLd(), None, "https://www.asahi.com/articles/x.html")
    assert native.value == "朝日新聞デジタル"


def test_a_copyright_word_inside_an_attribute_is_not_a_copyright_line() -> None:
    from archive.metadata.markup import copyright_snippets

    inside = copyright_snippets('<p class="copyright_text">Nikkei Inc. Rights.</p>')
    assert copyright_holders(inside) == []
    assert copyright_holders(copyright_snippets("<footer>© 2018 Stadtbote</footer>")) == [
        "Stadtbote"
    ]
