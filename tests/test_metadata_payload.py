"""What a payload is and how it is decoded (FAULTS 12, 13, 14)."""

from __future__ import annotations

import codecs
import gzip
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.metadata import extract, validate
from archive.metadata.payload import decode, sniff

DATA = Path(__file__).parent / "data" / "metadata"


@pytest.mark.parametrize(
    ("data", "content_type", "mime"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "text/html", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None, "image/jpeg"),
        (gzip.compress(b"<html></html>", mtime=0), "text/html", "application/gzip"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, "application/riff"),
        (b"\x00\x01\x02\x03binary", "application/octet-stream", "application/octet-stream"),
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            "application/xml",
            "application/xml",
        ),
    ],
)
def test_not_applicable_by_sniffed_type(data: bytes, content_type: str | None, mime: str) -> None:
    record = extract(data, content_type=content_type)
    assert record.content_kind == "not-applicable"
    assert record.reason
    assert sniff(data, content_type).mime == mime
    doc = record.to_json()
    validate(doc)
    assert all(doc[name]["value"] is None for name in ("published", "title", "outlet", "language"))


def test_a_pdf_served_as_html_says_so() -> None:
    record = extract(b"%PDF-1.4 ...", content_type="text/html; charset=utf-8")
    assert record.reason is not None and "declared text/html" in record.reason


def test_html_and_text_are_recognised_without_a_content_type() -> None:
    assert sniff(b"  <!DOCTYPE html><html>", None).kind == "html"
    assert sniff(b"\xef\xbb\xbf<html lang=sv>", None).kind == "html"
    assert sniff(b"Just some words.\n", None).kind == "text"
    assert sniff(codecs.BOM_UTF16_LE + "<html>".encode("utf-16-le"), None).kind == "html"


@pytest.mark.parametrize(
    ("data", "content_type", "charset", "basis"),
    [
        (codecs.BOM_UTF8 + "é".encode(), None, "utf-8", "byte order mark"),
        ("é".encode("latin-1"), "text/plain; charset=iso-8859-1", "cp1252", "content-type header"),
        (b'<meta charset="windows-1252"><p>\xe9</p>', None, "cp1252", "in-document declaration"),
        # declared latin-1 but the bytes are valid UTF-8 (a common CMS error): UTF-8 wins
        (
            '<meta charset="iso-8859-15"><p>sanción</p>'.encode(),
            None,
            "utf-8",
            "valid UTF-8, although",
        ),
        (
            "日本語のテキスト".encode("shift_jis"),
            "text/plain; charset=shift_jis",
            "shift_jis",
            "content-type",
        ),
    ],
)
def test_decoding_records_charset_and_basis(
    data: bytes, content_type: str | None, charset: str, basis: str
) -> None:
    text, decoding = decode(data, content_type, html=True)
    assert decoding.charset == charset
    assert decoding.basis.startswith(basis)
    assert "\ufffd" not in text and not decoding.replaced


def test_invalid_bytes_are_replaced_and_that_is_recorded() -> None:
    data = b"caf\xe9 \xff\xfe \x81 na\xefve " * 3
    text, decoding = decode(data, "text/plain; charset=utf-8", html=False)
    assert text  # never fails
    assert "not valid utf-8" in decoding.basis
    record = extract(data, content_type="text/plain; charset=utf-8")
    assert record.decoding is not None
    validate(record.to_json())


def test_entities_are_never_expanded_nor_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    """FAULTS 14: an XHTML page with a billion-laughs DTD and an external entity."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the extractor tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    record = extract(
        (DATA / "entity_bomb.xhtml").read_bytes(), content_type="application/xhtml+xml"
    )
    doc = record.to_json()
    validate(doc)
    assert "lollollol" not in str(doc)
    assert len(str(doc)) < 20000


def test_extraction_is_pure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network and no file writes (tldextract's cache, trafilatura, htmldate)."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the extractor tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    page = (DATA / "jsonld_article.html").read_bytes()
    first = extract(page, url="https://news.example.co.uk/2021/03/09/x").to_json()
    second = extract(page, url="https://news.example.co.uk/2021/03/09/x").to_json()
    assert first == second  # same input, same record
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.text(max_size=300).map(
            lambda t: f"<html><head><title>{t}</title></head><body><p>{t}</p>".encode(
                "utf-8", "surrogatepass"
            )
        ),
    ),
    st.sampled_from(
        [
            None,
            "text/html",
            "text/plain; charset=latin-1",
            "application/pdf",
            "text/html; charset=bogus",
        ]
    ),
)
def test_any_payload_gives_a_valid_record(data: bytes, content_type: str | None) -> None:
    validate(extract(data, content_type=content_type).to_json())


def test_cp1252_mislabelled_as_utf8_is_read_as_cp1252() -> None:
    """Near-tie detection prefers the web's common encoding over look-alikes (cp1257)."""
    from servers import CP1252_BODY

    doc = extract(CP1252_BODY, content_type="text/html; charset=utf-8").to_json()
    assert doc["decoding"]["charset"] == "cp1252"
    assert "declared utf-8" in doc["decoding"]["basis"]


def test_a_stray_nul_byte_does_not_turn_an_html_page_into_binary() -> None:
    from servers import MALFORMED_HTML

    doc = extract(MALFORMED_HTML, content_type="text/html").to_json()
    assert doc["content_kind"] == "html" and doc["title"]["value"]


_CSS = b"/* site styles */\nbody { margin: 0; font-family: serif; }\nh1 { color: red }\n"
_JS = b'// site scripts\n"use strict";\nfunction init() { document.title = "Home"; }\n'
_SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><title>Logo</title></svg>'


@pytest.mark.parametrize(
    ("data", "content_type", "url", "mime"),
    [
        (_CSS, "text/css", None, "text/css"),
        (_CSS, None, "https://www.example-news.com/static/site.css?v=3", "text/css"),
        (_CSS, None, None, "text/css"),
        (_JS, "text/javascript; charset=utf-8", None, "text/javascript"),
        (_JS, "application/octet-stream", "https://www.example-news.com/app.js", "text/javascript"),
        (_JS, None, None, "text/javascript"),
        (b"var tracker = {id: 7};\nwindow.tracker = tracker;\n", "text/plain", None,
         "text/javascript"),
        (_SVG, None, "https://www.example-news.com/logo", "image/svg+xml"),
        (_SVG, "image/svg+xml", None, "image/svg+xml"),
        (b"Logo of the site\n", "image/png", None, "image/png"),
        (b"Logo of the site\n", None, "https://www.example-news.com/logo.webp", "image/webp"),
    ],
)
def test_a_stylesheet_script_or_image_gets_no_title_and_no_outlet(
    data: bytes, content_type: str | None, url: str | None, mime: str
) -> None:
    """Issue 12, item 11: a page's resources are not articles, whatever their text."""
    record = extract(data, url=url or "https://www.example-news.com/x", content_type=content_type)
    assert record.content_kind == "not-applicable"
    assert sniff(data, content_type, url).mime == mime
    assert record.reason
    doc = record.to_json()
    validate(doc)
    assert all(doc[name]["value"] is None for name in ("title", "outlet", "published", "language"))


def test_html_served_as_a_stylesheet_is_still_read_as_html() -> None:
    """The bytes decide: an HTML page mislabelled (or named .css) is read."""
    page = b"<!DOCTYPE html><html><head><title>Harbour crane returns</title></head></html>"
    record = extract(page, url="https://www.example-news.com/a.css", content_type="text/css")
    assert record.content_kind == "html"
    assert record.title.value == "Harbour crane returns"


@pytest.mark.parametrize(
    "text",
    [
        b"Let me tell you about the harbour\nThe crane returned on Monday.\n",
        b"Import duties rise again\nThe government said on Monday that duties will rise.\n",
        b"Function of the new bridge\nIt carries trains and cars { and bicycles }.\n",
    ],
)
def test_plain_text_is_not_mistaken_for_a_script_or_stylesheet(text: bytes) -> None:
    record = extract(text, content_type="text/plain")
    assert record.content_kind == "text"
    assert record.title.value == text.decode().split("\n")[0]
