"""Turn an archived body into what a reader gets, without trusting the sender.

Pure functions (no network, no disk beyond a spooled temporary file):

* :func:`decode_body` undoes ``Content-Encoding`` layers (gzip, deflate, identity) while
  streaming, with a hard cap on the output (a 1 MB gzip bomb inflates to 1 GB) and a cap
  on the number of layers. Failure is reported, never papered over: corrupt or
  mislabelled compression yields an ``error``, not empty text posing as the article.
* :func:`sniff_type` says what the bytes are, whatever the server claimed, so that a PDF
  served as ``text/html`` is not fed to an HTML extractor.
* :func:`guess_charset` names the likely encoding of undeclared or mislabelled bytes
  (used by the metadata extractor's decoder, which records what it used and why).
  Hashes are never computed over decoded text.
"""

from __future__ import annotations

import codecs
import re
import weakref
import zlib
from collections.abc import Generator
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from types import TracebackType
from typing import BinaryIO

import charset_normalizer

from archive.core.hashing import HashingWriter

SPOOL_MEMORY = 4 * 1024 * 1024   # decoded bytes kept in memory before spilling to disk
SNIFF_BYTES = 4096               # how much of the head sniffing and the meta prescan look at
_READ_CHUNK = 64 * 1024
_OUT_CHUNK = 256 * 1024          # bounded output per decompress call (bomb safety)

_CODING_ALIASES = {"x-gzip": "gzip", "x-deflate": "deflate"}
SUPPORTED_CODINGS = frozenset({"gzip", "deflate"})


# --------------------------------------------------------------------------- decoding

@dataclass(frozen=True)
class Decoded:
    """Result of :func:`decode_body`. ``sha256``/``size`` cover exactly the bytes in ``file``.

    When ``error`` is set the content is incomplete or absent and must not be presented
    as the document; ``truncated`` says the output cap was reached.
    """

    sha256: str
    size: int
    codings: tuple[str, ...]
    error: str | None
    truncated: bool
    file: SpooledTemporaryFile[bytes] = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def read(self, limit: int = -1) -> bytes:
        """The decoded bytes (or the first ``limit`` of them)."""
        self.file.seek(0)
        return self.file.read(limit)

    def open(self) -> BinaryIO:
        """The decoded bytes as a stream positioned at the start (closed by :meth:`close`)."""
        self.file.seek(0)
        return self.file  # type: ignore[return-value]

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Decoded:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _DecodeError(Exception):
    pass


def parse_codings(content_encoding: str | None) -> list[str]:
    """Codings in the order the sender applied them; ``identity`` and blanks dropped.

    Several ``Content-Encoding`` header lines should be joined with ", " first.
    """
    if not content_encoding:
        return []
    codings = []
    for token in content_encoding.split(","):
        name = token.strip().lower()
        name = _CODING_ALIASES.get(name, name)
        if name and name != "identity":
            codings.append(name)
    return codings


def decode_body(stream: BinaryIO, content_encoding: str | None, *, max_output: int,
                max_depth: int) -> Decoded:
    """Undo the content codings of ``stream``, streaming, stopping at ``max_output`` bytes.

    Never raises for bad input: every problem (too many layers, unsupported coding,
    corrupt or mislabelled data, output over the cap) is returned in ``error``.
    """
    codings = parse_codings(content_encoding)
    # ownership of the spooled file passes to the returned Decoded (closed by its owner)
    out: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
    writer = HashingWriter(out)
    error: str | None = None
    truncated = False
    unsupported = [c for c in codings if c not in SUPPORTED_CODINGS]
    if len(codings) > max_depth:
        error = (f"content-encoding lists {len(codings)} codings ({', '.join(codings)}); "
                 f"refusing more than {max_depth}")
    elif unsupported:
        error = f"unsupported content-encoding {unsupported[0]!r}"
    else:
        pieces = _read_chunks(stream)
        for coding in reversed(codings):  # the last coding listed was applied last
            pieces = _inflate(pieces, coding)
        try:
            for piece in pieces:
                room = max_output - writer.size
                if len(piece) > room:
                    writer.write(piece[:room])
                    truncated = True
                    error = f"decoded size exceeds cap of {max_output} bytes"
                    break
                writer.write(piece)
        except _DecodeError as exc:
            error = str(exc)
        finally:
            pieces.close()
    out.seek(0)
    decoded = Decoded(sha256=writer.digest, size=writer.size, codings=tuple(codings),
                      error=error, truncated=truncated, file=out)
    # safety net: a Decoded dropped without close() must not leak a spilled temp file
    weakref.finalize(decoded, out.close)
    return decoded


def _read_chunks(stream: BinaryIO) -> Generator[bytes, None, None]:
    while chunk := stream.read(_READ_CHUNK):
        yield chunk


def _inflate(source: Generator[bytes, None, None], coding: str) -> Generator[bytes, None, None]:
    """Decompress one coding layer; several gzip members are decoded in sequence."""
    decomp: zlib._Decompress | None = None
    members = 0
    pending = b""  # deflate's wrapper is recognised by two bytes; wait for them
    try:
        for chunk in source:
            data = pending + chunk
            if decomp is None and len(data) < 2:
                pending = data
                continue
            pending = b""
            while data:
                if decomp is None or decomp.eof:
                    if members and (coding != "gzip" or not data.startswith(b"\x1f")):
                        return  # bytes after the end of the stream: ignored, as browsers do
                    decomp = _decompressor(coding, data)
                    members += 1
                data = yield from _feed(decomp, data, coding)
        if pending:
            decomp = _decompressor(coding, pending)
            yield from _feed(decomp, pending, coding)
        if decomp is not None and not decomp.eof:
            raise _DecodeError(f"{coding} data is truncated (the stream ends before its end)")
    finally:
        source.close()


def _decompressor(coding: str, head: bytes) -> zlib._Decompress:
    if coding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    # "deflate" means zlib-wrapped (RFC 9110), but many servers send raw deflate.
    if len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0:
        return zlib.decompressobj(zlib.MAX_WBITS)
    return zlib.decompressobj(-zlib.MAX_WBITS)


def _feed(decomp: zlib._Decompress, data: bytes, coding: str) -> Generator[bytes, None, bytes]:
    """Yield bounded output for ``data``; return any bytes after the end of the stream."""
    first = data[:16]
    while True:
        try:
            out = decomp.decompress(data, _OUT_CHUNK)
        except zlib.error as exc:
            raise _DecodeError(
                f"content-encoding {coding}: the body is not valid {coding} data ({exc}); "
                f"it starts with {first!r}") from None
        if out:
            yield out
        if decomp.eof:
            return decomp.unused_data
        data = decomp.unconsumed_tail
        if not data and len(out) < _OUT_CHUNK:
            return b""


# --------------------------------------------------------------------------- sniffing

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x1f\x8b\x08", "application/gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"%!PS", "application/postscript"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"OggS", "application/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1aE\xdf\xa3", "video/webm"),
)
_HTML_TAGS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<h1",
              b"<div", b"<font", b"<table", b"<a", b"<style", b"<title", b"<b", b"<br", b"<p",
              b"<meta", b"<link", b"<!--")
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def parse_content_type(value: str | None) -> tuple[str | None, dict[str, str]]:
    """``text/html; charset="UTF-8"`` -> ``("text/html", {"charset": "UTF-8"})``."""
    if not value:
        return None, {}
    parts = value.split(";")
    mime = parts[0].strip().lower() or None
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, val = part.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"').strip("'").strip()
    return mime, params


def sniff_type(head: bytes, declared: str | None) -> str:
    """The media type of a body judged by its first bytes, the declared type as a hint.

    Binary signatures win over the declaration (a PDF served as text/html is a PDF);
    markup is recognised by its opening tags; otherwise the declaration is kept when the
    bytes do not contradict it.
    """
    mime, _ = parse_content_type(declared)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    lead = _strip_bom(head).lstrip(b" \t\r\n\x0c").lower()
    if lead.startswith(b"<?xml"):
        return _xml_kind(lead, mime)
    if lead.startswith(b"<svg"):
        return "image/svg+xml"
    if lead.startswith(b"<rss"):
        return "application/rss+xml"
    if lead.startswith(b"<feed"):
        return "application/atom+xml"
    for tag in _HTML_TAGS:
        if lead.startswith(tag) and lead[len(tag):len(tag) + 1] in (b" ", b">", b"\t", b"\n",
                                                                    b"\r", b"/", b""):
            return "text/html"
    if _looks_binary(lead) and not _is_utf16(head):  # markup with a stray NUL stays markup
        return mime if mime and not _is_textual(mime) else "application/octet-stream"
    if mime and _is_textual(mime):
        return mime
    if lead[:1] in (b"{", b"[") and mime and "json" in mime:
        return mime
    return "text/plain"


def is_html(media_type: str | None) -> bool:
    return media_type in _HTML_TYPES


def _xml_kind(lead: bytes, declared: str | None) -> str:
    sample = lead[:SNIFF_BYTES]
    if b"<html" in sample:
        return "application/xhtml+xml"
    if b"<rss" in sample:
        return "application/rss+xml"
    if b"<feed" in sample:
        return "application/atom+xml"
    if b"<svg" in sample:
        return "image/svg+xml"
    if declared and (declared.endswith("+xml") or declared.endswith("/xml")):
        return declared
    return "application/xml"


def _is_textual(mime: str) -> bool:
    return (mime.startswith("text/") or mime.endswith("+xml") or mime.endswith("/xml")
            or mime.endswith("json") or mime.endswith("+json") or mime == "application/javascript")


def _looks_binary(head: bytes) -> bool:
    return bool(_BINARY_BYTES.search(head[:SNIFF_BYTES]))


def _strip_bom(head: bytes) -> bytes:
    return head[3:] if head.startswith(codecs.BOM_UTF8) else head


def _is_utf16(head: bytes) -> bool:
    return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


# --------------------------------------------------------------------------- charsets

# WHATWG Encoding Standard: these labels mean windows-1252 on the web.
_WEB_ALIASES = {"iso8859-1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252",
                "utf8mb4": "utf-8", "unicode-1-1-utf-8": "utf-8"}
_PREFERRED = ("utf-8", "cp1252")  # on a near tie, the encodings most of the web uses
_TIE_MARGIN = 5.0                 # percent of "chaos" (charset-normalizer's mess measure)


def normalize_charset(label: str | None) -> str | None:
    """A Python codec name for an encoding label, or None if the label is unknown."""
    if not label:
        return None
    label = label.strip().lower()
    label = _WEB_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _WEB_ALIASES.get(name, name)


def guess_charset(data: bytes) -> str | None:
    """The most likely encoding of ``data`` (valid UTF-8 is UTF-8); on a near tie in
    charset-normalizer's mess measure, prefer what most of the web uses (UTF-8, cp1252)
    over look-alikes such as cp1257 that decode the same Latin letters differently."""
    if not data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"  # valid UTF-8 (ASCII included) is UTF-8
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    for preferred in _PREFERRED:
        for match in matches:
            names = {normalize_charset(n) for n in [match.encoding, *match.could_be_from_charset]}
            if preferred in names and match.percent_chaos <= best.percent_chaos + _TIE_MARGIN:
                return preferred
    return normalize_charset(best.encoding)
