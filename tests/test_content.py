"""archive.core.content: content-coding with caps, type sniffing, charsets (FAULTS 9-14)."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import (
    ARTICLE,
    CP1252_BODY,
    LATIN1_BODY,
    MALFORMED_HTML,
    XML_BOMB,
    gzip_bomb,
    gzip_n,
    minimal_pdf,
    minimal_png,
)

from archive.core.content import (
    Decoded,
    decode_body,
    guess_charset,
    parse_codings,
    sniff_type,
)
from archive.metadata import extract
from archive.metadata.payload import decode as decode_text


def decode(data: bytes, coding: str | None, *, max_output: int = 10 << 20,
           max_depth: int = 2) -> Decoded:
    return decode_body(io.BytesIO(data), coding, max_output=max_output, max_depth=max_depth)


def raw_deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return comp.compress(data) + comp.flush()


# --------------------------------------------------------------------------- decode_body

@pytest.mark.parametrize(("coding", "encode"), [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("GZIP", gzip.compress),
    ("deflate", zlib.compress), ("deflate", raw_deflate), (None, bytes), ("identity", bytes),
])
def test_decode_body_undoes_one_coding(coding: str | None, encode: object) -> None:
    with decode(encode(ARTICLE), coding) as out:  # type: ignore[operator]
        assert out.ok and out.read() == ARTICLE
        assert out.sha256 == "sha256:" + hashlib.sha256(ARTICLE).hexdigest()
        assert out.size == len(ARTICLE)


def test_decode_body_undoes_layers_in_reverse_order() -> None:
    # "deflate, gzip" means deflate was applied first, then gzip
    with decode(gzip.compress(zlib.compress(ARTICLE)), "deflate, gzip") as out:
        assert out.ok and out.read() == ARTICLE and out.codings == ("deflate", "gzip")


def test_decode_body_recognises_deflate_wrapper_across_tiny_reads() -> None:
    class Trickle(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(1)

    out = decode_body(Trickle(zlib.compress(ARTICLE)), "deflate", max_output=1 << 20,
                      max_depth=2)
    with out:
        assert out.ok and out.read() == ARTICLE


def test_decode_body_reads_every_gzip_member() -> None:
    with decode(gzip.compress(b"first ") + gzip.compress(b"second"), "gzip") as out:
        assert out.read() == b"first second"


def test_fault09_gzip_bomb_stops_at_cap_and_reports_it() -> None:
    cap = 8 * 1024 * 1024
    with decode(gzip_bomb(), "gzip", max_output=cap) as out:
        assert out.truncated and out.size == cap
        assert out.error == f"decoded size exceeds cap of {cap} bytes"
        assert out.sha256 == "sha256:" + hashlib.sha256(bytes(cap)).hexdigest()


def test_fault10_repeated_coding_refused_past_depth() -> None:
    with decode(gzip_n(ARTICLE, 10), ", ".join(["gzip"] * 10), max_depth=2) as out:
        assert not out.ok and out.size == 0
        assert "10 codings" in (out.error or "") and "more than 2" in (out.error or "")


def test_depth_within_limit_is_decoded() -> None:
    with decode(gzip_n(ARTICLE, 2), "gzip, gzip", max_depth=2) as out:
        assert out.ok and out.read() == ARTICLE


@pytest.mark.parametrize(("data", "coding", "expect"), [
    (ARTICLE, "gzip", "not valid gzip data"),
    (ARTICLE, "deflate", "not valid deflate data"),
    (gzip.compress(ARTICLE, mtime=0)[:-30], "gzip", "truncated"),
    (gzip.compress(ARTICLE, mtime=0)[:20] + b"\xff" * 40, "gzip", "not valid gzip data"),
    (ARTICLE, "br", "unsupported content-encoding 'br'"),
    (ARTICLE, "compress", "unsupported"),
], ids=["mislabelled-gzip", "mislabelled-deflate", "truncated-gzip", "corrupt-gzip",
        "brotli", "compress"])
def test_fault11_corrupt_or_mislabelled_compression_is_an_error(
        data: bytes, coding: str, expect: str) -> None:
    with decode(data, coding) as out:
        assert not out.ok
        assert expect in (out.error or "")
        assert "\n" not in (out.error or "")


def test_fault11_mislabelled_body_never_passes_as_empty_article() -> None:
    with decode(ARTICLE, "gzip") as out:
        assert out.size == 0 and out.error is not None  # empty AND flagged, never "ok"


def test_empty_body_with_coding_is_empty_not_error() -> None:
    with decode(b"", "gzip") as out:
        assert out.ok and out.size == 0


def test_trailing_garbage_after_gzip_member_is_ignored() -> None:
    with decode(gzip.compress(ARTICLE) + b"\x00\x00junk", "gzip") as out:
        assert out.ok and out.read() == ARTICLE


def test_parse_codings() -> None:
    assert parse_codings(" GZIP , identity, x-gzip,,deflate ") == ["gzip", "gzip", "deflate"]
    assert parse_codings(None) == [] and parse_codings("") == []


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=5000), st.sampled_from(["gzip", "deflate", "raw", "gzip2"]))
def test_decode_body_roundtrip(data: bytes, kind: str) -> None:
    encoded, header = {
        "gzip": (gzip.compress(data), "gzip"), "deflate": (zlib.compress(data), "deflate"),
        "raw": (raw_deflate(data), "deflate"), "gzip2": (gzip_n(data, 2), "gzip, gzip"),
    }[kind]
    with decode(encoded, header) as out:
        assert out.ok and out.read() == data


# --------------------------------------------------------------------------- sniff_type

@pytest.mark.parametrize(("head", "declared", "expect"), [
    (minimal_pdf(), "text/html", "application/pdf"),
    (minimal_png(), "text/html; charset=utf-8", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "text/html", "image/jpeg"),
    (b"GIF89a\x01\x00", None, "image/gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", None, "image/webp"),
    (ARTICLE, None, "text/html"),
    (ARTICLE, "text/plain", "text/html"),
    (b"\xef\xbb\xbf<!doctype html><p>x", None, "text/html"),
    (MALFORMED_HTML, "text/html", "text/html"),
    (XML_BOMB, "application/xml", "application/xml"),
    (b'<?xml version="1.0"?><rss version="2.0">', None, "application/rss+xml"),
    (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">', None,
     "application/xhtml+xml"),
    (b"Just some words.", None, "text/plain"),
    (b'{"a": 1}', "application/json", "application/json"),
    (b"\x00\x01\x02\x03binary", None, "application/octet-stream"),
])
def test_fault13_sniff_type_trusts_bytes_over_declaration(
        head: bytes, declared: str | None, expect: str) -> None:
    assert sniff_type(head, declared) == expect


# --------------------------------------------------------------------------- charsets

# --------------------------------------------------------------------------- charsets
# Text decoding happens in the metadata extractor (archive.metadata.payload.decode, which
# asks content.guess_charset when bytes are undeclared or mislabelled); FAULTS 12 and 14
# are tested here on that live path.


@pytest.mark.parametrize(("data", "content_type", "charset", "basis"), [
    (b"\xef\xbb\xbf<p>x</p>", "text/html; charset=iso-8859-2", "utf-8", "byte order mark"),
    (codecs.BOM_UTF16_LE + "<p>".encode("utf-16-le"), None, "utf-16-le", "byte order mark"),
    (b"<p>\xe9</p>", "text/html; charset=ISO-8859-1", "cp1252", "content-type header"),
    (b'<meta charset="windows-1251"><p>\xcf\xf0\xe8</p>', "text/html", "cp1251",
     "in-document declaration"),
])
def test_decoding_says_which_charset_and_how(data: bytes, content_type: str | None,
                                             charset: str, basis: str) -> None:
    _, decoding = decode_text(data, content_type, html=True)
    assert (decoding.charset, decoding.basis) == (charset, basis)


def test_fault12_cp1252_declared_utf8_is_detected() -> None:
    text, d = decode_text(CP1252_BODY, "text/html; charset=utf-8", html=True)
    assert d.charset == "cp1252" and d.basis.startswith("detected")
    assert "café" in text and "\u201cDéjà vu\u201d" in text and "\ufffd" not in text


def test_fault12_latin1_without_declaration_is_detected() -> None:
    text, d = decode_text(LATIN1_BODY, "text/html", html=True)
    assert d.charset == "cp1252" and d.basis.startswith("detected")
    assert "Noël" in text and "coûte" in text


def test_fault12_invalid_utf8_decodes_with_replacement() -> None:
    data = "Göteborg – ".encode() + b"\xff\xfe broken " + "Malmö".encode()
    text, d = decode_text(data, "text/plain; charset=utf-8", html=False)
    assert d.charset == "utf-8" and d.replaced  # mostly valid UTF-8: keep it
    assert "Göteborg" in text and "Malmö" in text and "\ufffd" in text


def test_utf8_served_as_latin1_is_detected() -> None:
    data = "<p>Försvarsmakten säger att övningen är över.</p>".encode()
    text, d = decode_text(data, "text/html; charset=iso-8859-1", html=True)
    assert d.charset == "utf-8" and "Försvarsmakten" in text


def test_guess_charset_prefers_the_webs_encodings_on_a_near_tie() -> None:
    assert guess_charset(CP1252_BODY) == "cp1252"
    assert guess_charset("Zürich".encode()) == "utf-8"


# --------------------------------------------------------------------------- markup


def test_fault14_entity_payload_is_never_expanded() -> None:
    doc = extract(XML_BOMB, content_type="application/xml").to_json()
    assert doc["content_kind"] == "not-applicable"
    text, _ = decode_text(XML_BOMB, "application/xml", html=False)
    assert len(text) == len(XML_BOMB)  # decoding is byte-for-char: nothing expanded
    assert "&lol9;" in text and "file:///etc/passwd" in text
