"""Requisite discovery for ``page`` capture mode: every kind of reference in HTML and
CSS, what is never followed, URL resolution, srcset, limits, hostile input, and the
real pages of the shared corpus."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import SHARED, missing_path, require
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import TestServer

from archive.page.cssurls import CssUrl, css_urls, may_reference, scan_urls
from archive.page.requisites import (
    MAX_URL_LENGTH,
    Requisite,
    css_requisites,
    html_requisites,
    parse_srcset,
    plan,
    resolve,
)

PAGE = "https://news.example/2026/article.html"
CORPUS = SHARED / "corpus" / "html"


def found(html: str | bytes, base: str = PAGE) -> list[tuple[str, str, str]]:
    return [(r.url, r.kind, r.found_at) for r in html_requisites(html, base)]


def urls(html: str | bytes, base: str = PAGE) -> list[str]:
    return [r.url for r in html_requisites(html, base)]


# --------------------------------------------------------------------------- HTML kinds

def test_stylesheets_icons_and_preloads() -> None:
    html = """<html><head>
      <link rel="stylesheet" href="/css/site.css">
      <link rel="Alternate Stylesheet" href="alt.css">
      <link rel="shortcut icon" href="/favicon.ico">
      <link rel="apple-touch-icon" href="/touch.png">
      <link rel="preload" as="style" href="/css/late.css">
      <link rel="preload" as="font" href="/f/a.woff2" crossorigin>
      <link rel="preload" as="image" href="/hero.jpg" imagesrcset="/hero-2x.jpg 2x">
      <link rel="preload" as="script" href="/pre.js">
      <link rel="modulepreload" href="/mod.js">
    </head><body></body></html>"""
    assert found(html) == [
        ("https://news.example/css/site.css", "stylesheet", "link[rel=stylesheet]"),
        ("https://news.example/2026/alt.css", "stylesheet", "link[rel=stylesheet]"),
        ("https://news.example/favicon.ico", "icon", "link[rel=icon]"),
        ("https://news.example/touch.png", "icon", "link[rel=apple-touch-icon]"),
        ("https://news.example/css/late.css", "stylesheet", "link[rel=preload as=style]"),
        ("https://news.example/f/a.woff2", "font", "link[rel=preload as=font]"),
        ("https://news.example/hero.jpg", "image", "link[rel=preload as=image]"),
        ("https://news.example/hero-2x.jpg", "image", "link[rel=preload as=image]"),
        ("https://news.example/pre.js", "script", "link[rel=preload as=script]"),
        ("https://news.example/mod.js", "script", "link[rel=modulepreload]"),
    ]
    assert [r.is_css for r in html_requisites(html, PAGE)][:5] == [True, True, False, False, True]


def test_links_that_do_not_show_the_page_are_not_followed() -> None:
    html = """<head><link rel="manifest" href="/m.json"><link rel="prefetch" href="/next.html">
      <link rel="preconnect" href="https://cdn.example"><link rel="dns-prefetch" href="//x.example">
      <link rel="preload" as="fetch" href="/data.json"><link rel="preload" href="/no-as.js">
      <link rel="canonical" href="/canon"><link rel="alternate" href="/feed.xml">
      <link rel="stylesheet"></head>"""
    assert found(html) == []


def test_images_scripts_and_their_attributes() -> None:
    html = """<body>
      <img src="a.jpg" srcset="a-640.jpg 640w, a-1280.jpg 1280w">
      <img data-src="lazy.jpg" data-srcset="lazy-2x.jpg 2x" src="placeholder.gif">
      <picture><source srcset="p.avif" type="image/avif"><source srcset="p.webp 1x, p2.webp 2x">
        <img src="p.jpg"></picture>
      <video poster="poster.jpg" src="movie.mp4"><source src="movie.webm"></video>
      <audio src="sound.mp3"></audio>
      <input type="IMAGE" src="go.png"><input type="text" src="not.png">
      <script src="/js/app.js" defer></script><script>var inline = "x.js";</script>
      <table background="tb.gif"><tr><td background="td.gif">x</td></tr></table>
    </body>"""
    assert found(html) == [
        ("https://news.example/2026/a.jpg", "image", "img@src"),
        ("https://news.example/2026/a-640.jpg", "image", "img@srcset"),
        ("https://news.example/2026/a-1280.jpg", "image", "img@srcset"),
        ("https://news.example/2026/placeholder.gif", "image", "img@src"),
        ("https://news.example/2026/lazy.jpg", "image", "img@data-src"),
        ("https://news.example/2026/lazy-2x.jpg", "image", "img@data-srcset"),
        ("https://news.example/2026/p.avif", "image", "source@srcset"),
        ("https://news.example/2026/p.webp", "image", "source@srcset"),
        ("https://news.example/2026/p2.webp", "image", "source@srcset"),
        ("https://news.example/2026/p.jpg", "image", "img@src"),
        ("https://news.example/2026/poster.jpg", "image", "video@poster"),
        ("https://news.example/2026/go.png", "image", "input[type=image]@src"),
        ("https://news.example/js/app.js", "script", "script@src"),
        ("https://news.example/2026/tb.gif", "image", "table@background"),
        ("https://news.example/2026/td.gif", "image", "td@background"),
    ]


def test_inline_css_in_style_blocks_and_attributes() -> None:
    html = """<head><style>@import "print.css"; body { background: url(/bg.png) }
      @font-face { font-family: F; src: url(/f.woff2) format("woff2") }</style></head>
      <body><div style="background-image: url('hero.jpg')"></div>
      <p style="color: red">no url</p></body>"""
    reqs = html_requisites(html, PAGE)
    assert [(r.url, r.kind, r.found_at, r.is_css) for r in reqs] == [
        ("https://news.example/2026/print.css", "stylesheet", "style:@import", True),
        ("https://news.example/bg.png", "image", "style:url()", False),
        ("https://news.example/f.woff2", "font", "style:url()", False),
        ("https://news.example/2026/hero.jpg", "image", "div@style:url()", False),
    ]


def test_inline_svg_images_and_external_sprites() -> None:
    html = """<body><svg><use xlink:href="/icons.svg#menu"></use><use href="#local"></use>
      <image href="chart.png" width="10" height="10"/></svg></body>"""
    assert found(html) == [
        ("https://news.example/icons.svg", "image", "svg:use@xlink:href"),
        ("https://news.example/2026/chart.png", "image", "svg:image@href"),
    ]


def test_links_and_navigation_are_never_requisites() -> None:
    html = """<body><a href="/other.html">x</a><a href="pic.jpg"><img src="thumb.jpg"></a>
      <area href="/map.html"><form action="/post"></form><iframe src="/embed.html"></iframe>
      <object data="/o.swf"></object><embed src="/e.swf"></body>"""
    assert urls(html) == ["https://news.example/2026/thumb.jpg"]


def test_base_href_changes_what_relative_urls_mean() -> None:
    html = """<head><base href="https://cdn.example/assets/"><base href="/ignored/">
      <link rel="stylesheet" href="s.css"></head><body><img src="../i.png"><img src="/root.png">
      <img src="//other.example/x.png"></body>"""
    assert urls(html) == ["https://cdn.example/assets/s.css", "https://cdn.example/i.png",
                          "https://cdn.example/root.png", "https://other.example/x.png"]
    relative_base = '<head><base href="static/"></head><body><img src="a.png"></body>'
    assert urls(relative_base) == ["https://news.example/2026/static/a.png"]
    bad_base = '<head><base href="javascript:void(0)"></head><body><img src="a.png"></body>'
    assert urls(bad_base) == ["https://news.example/2026/a.png"]


def test_urls_that_fetch_nothing_are_dropped() -> None:
    refs = ["data:image/png;base64,iVBORw0KGgo=", "javascript:alert(1)", "blob:https://x/1",
            "about:blank", "mailto:a@b.example", "tel:123", "file:///etc/passwd",
            "ftp://ftp.example/x.png", "#top", "", "   ", "http://[::1/x.png",
            "http://host.example:99999/x.png"]
    html = "".join(f'<img src="{ref}">' for ref in refs) + '<img src="ok.png">'
    assert urls(html) == ["https://news.example/2026/ok.png"]


def test_fragments_are_cut_and_duplicates_kept_once_in_first_seen_order() -> None:
    html = """<head><link rel="preload" as="image" href="/x.css">
      <link rel="stylesheet" href="/s.css">
      </head><body><img src="b.png#one"><img src="a.png"><img src="B.PNG"><img src="b.png#two">
      <img srcset="a.png 2x"><link rel="stylesheet" href="/x.css"></body>"""
    reqs = html_requisites(html, PAGE)
    assert [r.url for r in reqs] == ["https://news.example/x.css", "https://news.example/s.css",
                                     "https://news.example/2026/b.png",
                                     "https://news.example/2026/a.png",
                                     "https://news.example/2026/B.PNG"]
    # a sheet first seen as a preloaded image is still parsed as the sheet it is
    assert reqs[0].is_css and reqs[0].found_at == "link[rel=stylesheet]"


def test_urls_are_made_fetchable() -> None:
    assert resolve(" \n/a b/caf\u00e9.png?q=\u00e9 x\t", PAGE) == \
        "https://news.example/a%20b/caf%C3%A9.png?q=%C3%A9%20x"
    assert resolve("HTTP://B\u00dcCH.Example:80/x.png", PAGE) == "http://xn--bch-hoa.example/x.png"
    assert resolve("https://news.example:443/already%20encoded.png", PAGE) == \
        "https://news.example/already%20encoded.png"
    # "\\" is "/" before the query, as browsers read it, and kept after it
    assert resolve("\\img\\x.png?a\\b", PAGE) == "https://news.example/img/x.png?a\\b"
    long_ok = "/" + "a" * (MAX_URL_LENGTH - len("https://news.example/"))
    assert resolve(long_ok, PAGE) == f"https://news.example{long_ok}"
    assert resolve(long_ok + "a", PAGE) is None
    assert resolve("x.png", "https://news.example") == "https://news.example/x.png"


def test_bytes_are_decoded_with_the_declared_charset() -> None:
    latin = '<img src="caf\u00e9.png">'.encode("cp1252")
    assert urls(latin, PAGE)[0].endswith("/2026/caf%C3%A9.png")
    meta = b'<meta charset="windows-1252">' + latin
    assert urls(meta) == urls(latin)
    assert [r.url for r in html_requisites(latin, PAGE, charset="iso-8859-1")] == urls(latin)
    # the header's charset wins over a guess: bytes valid in both read as the header says
    koi8 = '<img src="\u0436.png">'.encode("koi8-r")
    assert html_requisites(koi8, PAGE, charset="koi8-r")[0].url.endswith("/%D0%B6.png")


def test_a_base_url_that_is_not_http_is_a_callers_mistake() -> None:
    for bad in ("/relative", "file:///tmp/x.html", "data:text/html,x", ""):
        with pytest.raises(ValueError, match="absolute http"):
            html_requisites("<img src=a.png>", bad)
        with pytest.raises(ValueError, match="absolute http"):
            css_requisites("a{b:url(x)}", bad)


def test_empty_or_unparseable_documents_have_no_requisites() -> None:
    assert html_requisites(b"", PAGE) == []
    assert html_requisites("   ", PAGE) == []
    assert html_requisites(b"\x00\x01\x02", PAGE) == []


# --------------------------------------------------------------------------- srcset

def test_srcset_descriptors_and_urls_with_commas() -> None:
    value = ("https://img.example/c_fill,w_300/a.jpg 300w,\n"
             "  https://img.example/c_fill,w_600/a.jpg   600w 400h ,b.jpg 1.5x,c.jpg, "
             "d.jpg,, e.jpg 2x,f.jpg,g.jpg")
    assert parse_srcset(value) == [
        ("https://img.example/c_fill,w_300/a.jpg", ("300w",)),
        ("https://img.example/c_fill,w_600/a.jpg", ("600w", "400h")),
        ("b.jpg", ("1.5x",)),
        ("c.jpg", ()),
        ("d.jpg", ()),
        ("e.jpg", ("2x",)),
        ("f.jpg,g.jpg", ()),  # a URL runs to white space: one URL, as browsers read it
    ]


def test_srcset_candidates_with_invalid_descriptors_are_dropped() -> None:
    value = ("w2.jpg 100w 200w, wx.jpg 100w 2x, zero.jpg 0w, neg.jpg -1x, what.jpg 3q, "
             "h.jpg 100h, parens.jpg foo(1, 2), ok.jpg 1x")
    assert parse_srcset(value) == [("ok.jpg", ("1x",))]
    assert parse_srcset("") == [] and parse_srcset(" , ,, ") == []


# --------------------------------------------------------------------------- CSS

def test_css_url_in_every_quoting_form() -> None:
    css = r"""
      a { background: url(plain.png) }
      b { background: url( 'single.png' ) }
      c { background: url(  "double.png"  ) }
      d { background: URL(upper.png) }
      e { background: url(sp\ ace.png) }
      f { background: url("q\"uote.png") }
      g { background: url('hex\2e png') }
      h { background: url("line\
cont.png") }
      i { background: u\72l(escaped-name.png) }
      j { background: url(caf\E9 .png) }
      k { background: url(  trailing.png   ) }
      l { background: url("") }
    """
    assert [u.url for u in css_urls(css)] == [
        "plain.png", "single.png", "double.png", "upper.png", "sp ace.png", 'q"uote.png',
        "hex.png", "linecont.png", "escaped-name.png", "café.png", "trailing.png", "",
    ]
    # the empty one resolves to nothing; the rest relative to the sheet
    reqs = css_requisites(css, "https://cdn.example/css/site.css")
    assert reqs[0].url == "https://cdn.example/css/plain.png"
    assert reqs[4].url == "https://cdn.example/css/sp%20ace.png"
    assert len(reqs) == 11 and all(r.found_at == "css:url()" for r in reqs)


def test_css_imports_fonts_and_image_sets() -> None:
    css = """@charset "utf-8";
      @import "base.css";
      @import url(theme.css) screen and (min-width: 40em);
      @import url("print.css") print;
      @font-face { font-family: X; src: local("X Sans"), url(x.woff2) format("woff2"),
                   url('x.woff') format('woff'); }
      .hero { background-image: image-set("h1.avif" type("image/avif") 1x, url(h2.jpg) 2x);
              mask: -webkit-image-set('m.png' 1x) }
      @media print { .logo { background: url(print-logo.png) } @import "late.css"; }"""
    reqs = css_requisites(css, "https://cdn.example/css/site.css")
    assert [(r.url.rsplit("/", 1)[1], r.kind, r.found_at) for r in reqs] == [
        ("base.css", "stylesheet", "css:@import"),
        ("theme.css", "stylesheet", "css:@import"),
        ("print.css", "stylesheet", "css:@import"),
        ("x.woff2", "font", "css:url()"),
        ("x.woff", "font", "css:url()"),
        ("h1.avif", "image", "css:image-set()"),
        ("h2.jpg", "image", "css:url()"),
        ("m.png", "image", "css:image-set()"),
        ("print-logo.png", "image", "css:url()"),
    ]
    assert [r.is_css for r in reqs[:4]] == [True, True, True, False]


def test_css_comments_strings_and_look_alikes_are_not_urls() -> None:
    css = r"""/* url(commented.png) @import "no.css"; */
      a { content: "url(in-a-string.png)"; font-family: 'url(x)' }
      b { background: myurl(no.png); c: #url(no) 1url(no); grid-area: url }
      c { background: url(bad"quote.png) url(bad(paren.png) url(bad url.png) url(good.png) }
      d { font: 12px/1.5 "Font" } e{} /* unterminated url( */"""
    assert [u.url for u in css_urls(css)] == ["good.png"]


def test_font_context_ends_with_its_block() -> None:
    css = """@font-face { src: url(a.woff); } .x { background: url(b.png) }
      @font-face { src: url(c.woff) } @media screen { .y { background: url(d.png) } }"""
    assert [(u.url, u.kind) for u in css_urls(css)] == [
        ("a.woff", "font"), ("b.png", "image"), ("c.woff", "font"), ("d.png", "image")]


def test_css_with_crlf_nul_and_unterminated_constructs() -> None:
    assert [u.url for u in css_urls('a{b:url("x\\\r\ny.png")}')] == ["xy.png"]
    assert [u.url for u in css_urls("a{b:url(n\0ul.png)}")] == ["n\ufffdul.png"]
    assert [u.url for u in css_urls("a{b:url('n\0ul.png')}")] == ["n\ufffdul.png"]
    assert [u.url for u in css_urls("a{b:url(eof.png")] == ["eof.png"]
    assert [u.url for u in css_urls("a{b:url('eof.png")] == ["eof.png"]
    assert [u.url for u in css_urls('a{b:url("new\nline.png")} c{d:url(after.png)}')] == [
        "after.png"]
    assert [u.url for u in css_urls(r"a{b:url(\0 \D800 \110000 .png)}")] == ["\ufffd" * 3 + ".png"]


# --------------------------------------------------------------------------- planning

def _reqs(*specs: tuple[str, str, str]) -> list[Requisite]:
    return [Requisite(f"https://news.example/{name}", kind, at)  # type: ignore[arg-type]
            for name, kind, at in specs]


def test_plan_keeps_document_order_and_takes_sheets_first_when_over_the_limit() -> None:
    found = _reqs(("1.jpg", "image", "img@srcset"), ("a.jpg", "image", "img@src"),
                  ("s.css", "stylesheet", "link[rel=stylesheet]"),
                  ("i.ico", "icon", "link[rel=icon]"),
                  ("2.jpg", "image", "img@srcset"), ("app.js", "script", "script@src"))
    result = plan(found, page_url=PAGE, limit=4)
    assert [r.url.rsplit("/", 1)[1] for r in result.fetch] == ["a.jpg", "s.css", "i.ico", "app.js"]
    assert [(s.requisite.url.rsplit("/", 1)[1], s.reason) for s in result.skipped] == [
        ("1.jpg", "over the limit of 4 requisites per page"),
        ("2.jpg", "over the limit of 4 requisites per page"),
    ]


def test_plan_skips_the_page_itself_and_what_was_already_captured() -> None:
    found = [Requisite("https://news.example/2026/article.html", "image", "img@src"),
             *_reqs(("s.css", "stylesheet", "link[rel=stylesheet]"), ("a.png", "image", "img@src"),
                    ("a.png", "image", "css:url()"))]
    result = plan(found, page_url="https://NEWS.example:443/2026/article.html#top",
                  seen={"https://news.example/s.css"})
    assert [r.url for r in result.fetch] == ["https://news.example/a.png"]
    assert [s.reason for s in result.skipped] == [
        "the page itself", "already captured for this page", "already captured for this page"]
    assert plan(found, page_url=PAGE, limit=0).fetch == ()
    with pytest.raises(ValueError, match="limit"):
        plan(found, page_url=PAGE, limit=-1)


def test_plan_levels_page_then_its_sheets() -> None:
    """How a capture engine uses it: the page's requisites, then one level of CSS."""
    page = html_requisites('<link rel=stylesheet href="/s.css"><img src="/logo.png">', PAGE)
    first = plan(page, page_url=PAGE, limit=3)
    sheets = [r for r in first.fetch if r.is_css]
    nested = css_requisites("@import 'more.css'; a{background:url(/logo.png)} b{c:url(bg.png)}",
                            sheets[0].url)
    second = plan(nested, page_url=PAGE, seen={r.url for r in first.fetch},
                  limit=3 - len(first.fetch))
    assert [r.url for r in second.fetch] == ["https://news.example/more.css"]
    assert [(s.requisite.url, s.reason) for s in second.skipped] == [
        ("https://news.example/logo.png", "already captured for this page"),
        ("https://news.example/bg.png", "over the limit of 1 requisites per page"),
    ]


# --------------------------------------------------------------------------- hostile input

def test_entities_are_never_expanded_nor_fetched() -> None:
    with TestServer(routes={}) as server:
        html = f"""<!DOCTYPE html SYSTEM "{server.url('/dtd')}" [
          <!ENTITY net SYSTEM "{server.url('/entity')}">
          <!ENTITY file SYSTEM "file:///etc/passwd">
          <!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
          <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
        ]><html><body><img src="/x/&net;.png"><img src="/y/&file;.png"><img src="/z/&d;.png">
        </body></html>"""
        reqs = urls(html)
        assert server.connections == 0
    assert len(reqs) == 3
    assert all(len(u) < 100 and "root" not in u for u in reqs)


@pytest.mark.timeout(60)
def test_pathological_html_is_bounded() -> None:
    # libxml2 stops at its nesting limit (256): what came before is kept, never a crash
    deep = '<img src="first.png">' + "<div>" * 100_000 + '<img src="deep.png">' + "</div>" * 100_000
    assert urls(deep + '<img src="after.png">') == ["https://news.example/2026/first.png"]
    shallow = "<div>" * 200 + '<img src="deep.png">' + "</div>" * 200 + '<img src="after.png">'
    assert len(urls(shallow)) == 2
    # over 10 MB, libxml2 drops the attribute (and may stop there); never returned
    huge_attr = '<img src="before.png"><img src="' + "a" * 12_000_000 + '.png"><img src="x.png">'
    assert urls(huge_attr)[0] == "https://news.example/2026/before.png"
    assert all(len(url) < 100 for url in urls(huge_attr))
    long_attr = '<img src="' + "a" * 5_000_000 + '.png"><img src="small.png">'
    assert urls(long_attr) == ["https://news.example/2026/small.png"]  # over MAX_URL_LENGTH
    many = "".join(f'<img src="/i/{n}.png">' for n in range(10_000))
    assert len(urls(many)) == 10_000
    long_style = '<div style="' + "background:url(a.png) " * 20_000 + '"></div>'
    assert urls(long_style) == ["https://news.example/2026/a.png"]


@pytest.mark.timeout(60)
def test_pathological_css_is_bounded() -> None:
    assert css_urls("{" * 200_000 + "a{b:url(x.png)}") == css_urls("a{b:url(x.png)}")
    assert css_urls("(" * 200_000 + "url(x.png)")[0].url == "x.png"
    assert css_urls("/*" + "x" * 5_000_000) == []
    assert css_urls('"' + "\\" * 1_000_000) == []
    assert css_urls("url(" + "\\" * 1_000_000) == [CssUrl("\\" * 500_000, "image", "url()")]
    assert len(css_urls("a{b:url(x.png)}" * 20_000)) == 20_000
    # long identifiers with no "(" after them: once exponential backtracking in the regex
    assert css_urls("\u00e9" * 100_000) == []
    assert css_urls("a\\aaaaaa" * 20_000) == []
    assert css_urls("-" * 100_000 + "url(x)") == []  # one identifier: "---…url"
    assert [u.url for u in css_urls("@font-face{" * 50_000 + "src:url(f.woff)")] == ["f.woff"]
    assert parse_srcset("a.png " + "(" * 1_000_000) == []
    assert len(parse_srcset(", ".join(f"/{n}.png {n + 1}w" for n in range(20_000)))) == 20_000


# --------------------------------------------------------------------------- properties

_URL_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_ESCAPE_IN_UNQUOTED = set(" \t\n\r\f\"'()\\") | {chr(c) for c in range(0x20)} | {"\x7f"}


def _hex_escape(ch: str) -> str:
    return f"\\{ord(ch):x} "


def _css_string(url: str, quote: str, escape_all: bool) -> str:
    out = []
    for ch in url:
        if escape_all or ch in (quote, "\\", "\n", "\r", "\f"):
            out.append(_hex_escape(ch))
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def _css_unquoted(url: str, escape_all: bool) -> str:
    return "".join(_hex_escape(ch) if escape_all or ch in _ESCAPE_IN_UNQUOTED else ch
                   for ch in url)


@given(url=st.text(_URL_CHARS, min_size=1, max_size=40),
       form=st.sampled_from(["unquoted", "'", '"']),
       escape_all=st.booleans(),
       pad_left=st.sampled_from(["", " ", "\n\t  "]),
       pad_right=st.sampled_from(["", " ", "\n  "]),
       name=st.sampled_from(["url", "URL", "Url", "u\\72l", "\\75rl"]))
def test_url_round_trips_through_every_quoting_form(url: str, form: str, escape_all: bool,
                                                    pad_left: str, pad_right: str,
                                                    name: str) -> None:
    body = (_css_unquoted(url, escape_all) if form == "unquoted"
            else _css_string(url, form, escape_all))
    css = f".a {{ background: {name}({pad_left}{body}{pad_right}) }}"
    assert [u.url for u in css_urls(css)] == [url]


_SEGMENT = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"),
                                 whitelist_characters="-_.~,"), min_size=1, max_size=8)
_REF = st.one_of(
    st.builds(lambda s: f"/{s}.png", _SEGMENT),
    st.builds(lambda s: f"{s}/x.css", _SEGMENT),
    st.builds(lambda s: f"https://cdn.example/{s}.js", _SEGMENT),
    st.builds(lambda s: f"//cdn.example/{s}#frag", _SEGMENT),
    st.builds(lambda s: f"../{s}?q={s}", _SEGMENT),
    st.sampled_from(["data:image/gif;base64,R0lGOD==", "javascript:void(0)", "about:blank",
                     "mailto:x@y.example", "blob:https://x.example/1", "#a", ""]),
)
_ELEMENT = st.sampled_from([
    '<img src="{}">', '<img srcset="{} 2x">', '<link rel="stylesheet" href="{}">',
    '<script src="{}"></script>', '<video poster="{}"></video>',
    '<div style="background:url(\'{}\')">',
    '<style>a{{background:url("{}")}}</style>', '<picture><source srcset="{}"></picture>',
    '<link rel="icon" href="{}">', '<input type="image" src="{}">',
])


def _srcset_safe(pair: tuple[str, str]) -> bool:
    """A reference this test can expect back as written: in a srcset, commas at either
    end of a URL are separators, as browsers read them (",/x.css" is "/x.css"; "a, 2x"
    is "a" then the URL "2x"), and an empty URL is none (" 2x" is the URL "2x");
    test_srcset_descriptors_and_urls_with_commas covers those."""
    template, ref = pair
    return "srcset" not in template or (bool(ref) and not ref.startswith(",")
                                        and not ref.endswith(","))


_REFERENCE = st.tuples(_ELEMENT, _REF).filter(_srcset_safe)


@settings(max_examples=150)
@given(elements=st.lists(_REFERENCE, max_size=25),
       links=st.lists(_SEGMENT, max_size=5))
def test_generated_pages_give_absolute_unique_urls_and_no_links(
        elements: list[tuple[str, str]], links: list[str]) -> None:
    body = "".join(template.format(ref) for template, ref in elements)
    body += "".join(f'<a href="/link-only/{s}.html">x</a>' for s in links)
    result = urls(f"<html><body>{body}</body></html>")
    assert len(result) == len(set(result))
    for url in result:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.hostname
        assert "#" not in url and "/link-only/" not in url
        assert resolve(url, PAGE) == url  # already normalised
    fetchable = {resolve(ref, PAGE) for _, ref in elements} - {None}
    assert set(result) == fetchable


@given(candidates=st.lists(st.tuples(
    st.text(st.characters(whitelist_categories=("Ll", "Nd"), whitelist_characters="/,._()"),
            min_size=1, max_size=12).filter(lambda s: not s.startswith(",")
                                            and not s.endswith(",")),
    st.one_of(st.just(()), st.builds(lambda n: (f"{n}w",), st.integers(1, 5000)),
              st.builds(lambda n: (f"{n}x",), st.sampled_from(["1", "1.5", "2", "0.5", "3"])))),
    max_size=8),
       sep=st.sampled_from([", ", " ,\n", " , ", ",\t"]))
def test_srcset_round_trips(candidates: list[tuple[str, tuple[str, ...]]], sep: str) -> None:
    value = sep.join(" ".join((url, *desc)) for url, desc in candidates)
    assert parse_srcset(value) == candidates


# pieces of CSS near a URL reference: its markers in any case, split, escaped or
# commented apart, inside strings, and the punctuation around them
_CSS_PIECE = st.sampled_from([
    "url(", "URL(", "Url(", "u rl(", "ur\\6c(", "\\75rl(", "url", "(", ")", "@import",
    "@IMPORT", "@im/**/port", "@\\69mport", "image-set(", "-webkit-Image-Set(", "image-set",
    '"a.png"', "'b.png'", "c.png", "/*", "*/", "{", "}", ";", " ", "\n", "\\", "\"",
    "@font-face", "src:", "a", "İ", "\x00", "\r",
])


@settings(max_examples=300)
@given(st.lists(_CSS_PIECE | st.text(max_size=4), max_size=20).map("".join))
def test_the_first_look_never_hides_a_url(text: str) -> None:
    assert css_urls(text) == scan_urls(text)
    if not may_reference(text):
        assert scan_urls(text) == []


@given(st.text(max_size=300))
def test_css_tokenizer_never_raises(text: str) -> None:
    for ref in css_urls(text):
        assert ref.kind in ("image", "font", "stylesheet")
    css_requisites(text, PAGE)


@given(names=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=20),
       limit=st.integers(0, 8))
def test_plan_never_exceeds_the_limit_and_loses_nothing(names: list[str], limit: int) -> None:
    found = _reqs(*[(f"{n}.png", "image", "img@src") for n in names])
    result = plan(found, page_url=PAGE, limit=limit)
    assert len(result.fetch) <= limit
    assert len({r.url for r in result.fetch}) == len(result.fetch)
    assert len(result.fetch) + len(result.skipped) == len(found)
    assert {r.url for r in result.fetch} | {s.requisite.url for s in result.skipped} == \
        {r.url for r in found}


# --------------------------------------------------------------------------- real pages

def _corpus_pages() -> list[tuple[Path, str]]:
    pages = []
    for truth in sorted(CORPUS.glob("*/truth.jsonl")):
        rows = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
        by_file = {row["file"]: row.get("url") for row in rows}
        for path in sorted(truth.parent.glob("*.html")):
            url = by_file.get(path.name)
            if not url or not url.startswith(("http://", "https://")):
                url = f"https://{truth.parent.name}.example/{path.name}"
            pages.append((path, url))
    return pages


def test_real_pages_give_plausible_requisites() -> None:
    """Every corpus page parses; almost all reference something; nothing is a link."""
    require(missing_path(CORPUS, "shared HTML corpus"))
    pages = _corpus_pages()
    assert len(pages) > 400
    counts = []
    for path, url in pages:
        reqs = html_requisites(path.read_bytes(), url)
        counts.append(len(reqs))
        assert len({r.url for r in reqs}) == len(reqs), path.name
        assert all(urlsplit(r.url).scheme in ("http", "https") for r in reqs), path.name
        assert all(not r.url.startswith(("data:", "javascript:")) for r in reqs)
    with_any = sum(1 for c in counts if c > 0)
    assert with_any >= 0.95 * len(pages)
    counts.sort()
    assert 10 <= counts[len(counts) // 2] <= 200  # a news page needs tens of files
