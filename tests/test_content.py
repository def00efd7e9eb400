"""archive.content: content-coding with caps, type sniffing, charsets (FAULTS 9-14)."""

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

from archive.content import (
    Decoded,
    decode_body,
    decode_text,
    detect_charset,
    parse_codings,
    sniff_type,
    xml_hazard,
)


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

@pytest.mark.parametrize(("head", "content_type", "expect"), [
    (b"\xef\xbb\xbf<p>x</p>", "text/html; charset=iso-8859-2", ("utf-8", "bom")),
    (codecs.BOM_UTF16_LE + "<p>".encode("utf-16-le"), None, ("utf-16-le", "bom")),
    (b"<p>x</p>", 'text/html; charset="Shift_JIS"', ("shift_jis", "http-header")),
    (b"<p>x</p>", "text/html; charset=ISO-8859-1", ("cp1252", "http-header")),
    (b'<meta charset="windows-1251"><p>x</p>', "text/html", ("cp1251", "meta")),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">', None,
     ("koi8-r", "meta")),
    (b'<?xml version="1.0" encoding="ISO-8859-15"?><a/>', None, ("iso8859-15", "meta")),
    (b"<p>x</p>", "text/html; charset=no-such-charset", ("utf-8", "detected")),
    (b"", None, ("utf-8", "default")),
])
def test_detect_charset_says_how(head: bytes, content_type: str | None,
                                 expect: tuple[str, str]) -> None:
    assert detect_charset(head, content_type) == expect


def test_fault12_cp1252_declared_utf8_is_detected() -> None:
    text, charset, how = decode_text(CP1252_BODY, "text/html; charset=utf-8")
    assert (charset, how) == ("cp1252", "detected")
    assert "café" in text and "\u201cDéjà vu\u201d" in text and "\ufffd" not in text


def test_fault12_latin1_without_declaration_is_detected() -> None:
    text, charset, how = decode_text(LATIN1_BODY, "text/html")
    assert how == "detected" and charset == "cp1252"
    assert "Noël" in text and "coûte" in text


def test_fault12_invalid_utf8_decodes_with_replacement() -> None:
    data = "Göteborg – ".encode() + b"\xff\xfe broken " + "Malmö".encode()
    text, charset, how = decode_text(data, "text/plain; charset=utf-8")
    assert (charset, how) == ("utf-8", "http-header")  # mostly valid UTF-8: keep it
    assert "Göteborg" in text and "Malmö" in text and "\ufffd" in text


def test_utf8_served_as_latin1_is_detected() -> None:
    data = "<p>Försvarsmakten säger att övningen är över.</p>".encode()
    text, charset, how = decode_text(data, "text/html; charset=iso-8859-1")
    assert (charset, how) == ("utf-8", "detected") and "Försvarsmakten" in text


def test_decode_text_strips_bom() -> None:
    text, charset, how = decode_text(codecs.BOM_UTF8 + "Zürich".encode(), None)
    assert (text, charset, how) == ("Zürich", "utf-8", "bom")


# --------------------------------------------------------------------------- markup

def test_fault14_entity_declarations_flagged_and_never_expanded() -> None:
    assert "entity" in (xml_hazard(XML_BOMB) or "").lower()
    text, _, _ = decode_text(XML_BOMB, "application/xml")
    assert len(text) == len(XML_BOMB)  # decoding is byte-for-char: nothing expanded
    assert "&lol9;" in text and "file:///etc/passwd" in text


@pytest.mark.parametrize("doc", [
    b'<?xml version="1.0"?><!DOCTYPE a [<!ELEMENT a ANY>]><a/>',
    b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://evil.example/a.dtd"><a/>',
])
def test_fault14_dtds_flagged(doc: bytes) -> None:
    assert xml_hazard(doc) is not None


def test_plain_html_is_not_flagged() -> None:
    assert xml_hazard(ARTICLE) is None
    assert xml_hazard(b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
                      b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html>') is None
