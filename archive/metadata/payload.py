"""Decide what a payload is (HTML, plain text, or something we do not read) and decode it.

The declared content type is a hint; the bytes decide (FAULTS 13): a PDF served as
``text/html`` is still a PDF. A stylesheet, a script or an image is never an article
(issue 12, item 11): declared as one, named as one by the URL's file extension when
nothing is declared, or recognisable from its first bytes (an SVG root, CSS rules,
JavaScript statements), it gets no title, outlet or date, unless its bytes are HTML.
Decoding records the charset and how it was found (FAULTS 12) and never fails:
undecodable bytes are replaced and that is recorded.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from archive.core.content import guess_charset

from .model import ContentKind, Decoding

# (magic prefix, type name); checked after leading whitespace is NOT skipped,
# because binary formats start at byte 0.
# fmt: off
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b'%PDF-', "application/pdf"), (b'\x89PNG\r\n\x1a\n', "image/png"),
    (b'\xff\xd8\xff', "image/jpeg"), (b'GIF87a', "image/gif"), (b'GIF89a', "image/gif"),
    (b'II*\x00', "image/tiff"), (b'MM\x00*', "image/tiff"), (b'BM', "image/bmp"),
    (b'\x00\x00\x01\x00', "image/x-icon"), (b'PK\x03\x04', "application/zip"),
    (b'\x1f\x8b', "application/gzip"), (b'BZh', "application/x-bzip2"),
    (b'\xfd7zXZ\x00', "application/x-xz"), (b'(\xb5/\xfd', "application/zstd"),
    (b"7z\xbc\xaf'\x1c", "application/x-7z-compressed"), (b'OggS', "audio/ogg"),
    (b'ID3', "audio/mpeg"), (b'fLaC', "audio/flac"), (b'\x1aE\xdf\xa3', "video/webm"),
    (b'wOFF', "font/woff"), (b'wOF2', "font/woff2"), (b'\x00asm', "application/wasm"),
    (b'\x7fELF', "application/x-elf"),
    (b'\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1', "application/x-ole-storage"),
    (b'{\\rtf', "application/rtf"), (b'WARC/', "application/warc"),
)
# fmt: on

_HTML_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"<(?:!doctype\s+html|html|head|body|meta|title|script|style|link|div|p|table|h1|"
    rb"iframe|font|br|b|a|base|center|!--)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)
_FEED_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:rss|feed|rdf:RDF|urlset|sitemapindex)[\s>]",
    re.IGNORECASE | re.DOTALL,
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.+-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:+-]+)""")
_CT_CHARSET = re.compile(r"""charset\s*=\s*["']?([a-zA-Z0-9_:.+-]+)""", re.IGNORECASE)

# Types that are resources of a page, never an article themselves: what they are called.
_RESOURCE_TYPES: dict[str, str] = {
    "text/css": "a stylesheet",
    "text/javascript": "a script",
    "application/javascript": "a script",
    "application/x-javascript": "a script",
    "application/ecmascript": "a script",
    "text/ecmascript": "a script",
    "text/x-javascript": "a script",
    "text/jscript": "a script",
    "application/wasm": "a WebAssembly module",
}
_RESOURCE_PREFIXES = (
    ("image/", "an image"),
    ("audio/", "audio"),
    ("video/", "a video"),
    ("font/", "a font"),
)
# The URL's file extension, read only when no specific type is declared.
_RESOURCE_SUFFIXES: dict[str, tuple[str, str]] = {
    ".css": ("text/css", "a stylesheet"),
    ".js": ("text/javascript", "a script"),
    ".mjs": ("text/javascript", "a script"),
    ".svg": ("image/svg+xml", "an image"),
    ".png": ("image/png", "an image"),
    ".jpg": ("image/jpeg", "an image"),
    ".jpeg": ("image/jpeg", "an image"),
    ".gif": ("image/gif", "an image"),
    ".webp": ("image/webp", "an image"),
    ".avif": ("image/avif", "an image"),
    ".ico": ("image/x-icon", "an image"),
    ".woff": ("font/woff", "a font"),
    ".woff2": ("font/woff2", "a font"),
}
_GENERIC_TYPES = frozenset({"", "text/plain", "application/octet-stream", "binary/octet-stream"})
_SVG_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE\s+svg[^>]*>\s*)*<svg[\s>]",
    re.IGNORECASE | re.DOTALL,
)
_LEADING_COMMENTS = re.compile(r"^(?:\s+|/\*.*?\*/|//[^\n]*\n)*", re.DOTALL)
# CSS: an at-rule or a selector opening a block of "property:" declarations.
_CSS_START = re.compile(
    r"@(?:charset|import|media|font-face|keyframes|layer|supports|namespace)\b|"
    r"[^{}<>\n;]{1,200}\{\s*(?:--)?[a-zA-Z-]+\s*:"
)
# JavaScript: a statement form that prose does not take.
_JS_START = re.compile(
    r"""["']use strict["']|(?:var|let|const)\s+[\w$]+\s*=|function\s*[\w$]*\s*\(|"""
    r"""[(!]\s*function\b|\(\s*\(\)\s*=>|import\s+(?:[\w$]+\s+from\b|[*{]|["'])|"""
    r"""export\s+(?:default|const|let|var|function|class)\b|"""
    r"""(?:window|document|module\.exports|self)\s*(?:\.\s*[\w$]+\s*)*(?:=|\()"""
)

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml"})
_TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown", "text/enriched"})

# WHATWG Encoding: these labels mean windows-1252 on the web.
_WEB_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
}


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: ContentKind
    mime: str
    reason: str | None = None


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _url_suffix(url: str | None) -> str:
    if not url:
        return ""
    path = url.split("#", 1)[0].split("?", 1)[0]
    name = path.rsplit("/", 1)[-1].lower()
    return name[name.rfind(".") :] if "." in name else ""


def _resource(data: bytes, declared: str, url: str | None) -> Sniffed | None:
    """A stylesheet, script or image (declared, named by the URL, or by its first
    bytes): not an article. None when the payload may be one."""
    kind = _RESOURCE_TYPES.get(declared) or next(
        (name for prefix, name in _RESOURCE_PREFIXES if declared.startswith(prefix)), None
    )
    if kind is not None:
        return Sniffed("not-applicable", declared, f"declared {declared}: {kind}, not an article")
    head = data[:4096]
    if _SVG_START.match(head):
        return Sniffed("not-applicable", "image/svg+xml", "sniffed an SVG image: not an article")
    if declared not in _GENERIC_TYPES:
        return None
    suffix = _url_suffix(url)
    if suffix in _RESOURCE_SUFFIXES:
        mime, name = _RESOURCE_SUFFIXES[suffix]
        basis = f"declared {declared}, " if declared else "no declared type, "
        return Sniffed(
            "not-applicable", mime, f"{basis}the URL names {name} ({suffix}): not an article"
        )
    text = _LEADING_COMMENTS.sub("", head.decode("utf-8", "replace"), count=1)
    if _JS_START.match(text):
        return Sniffed("not-applicable", "text/javascript", "sniffed JavaScript: a script")
    if _CSS_START.match(text):
        return Sniffed("not-applicable", "text/css", "sniffed CSS rules: a stylesheet")
    return None


def sniff(data: bytes, content_type: str | None, url: str | None = None) -> Sniffed:
    """Classify the payload; ``reason`` says why when it is not one we extract from.
    ``url`` lends its file extension when no specific type is declared."""
    declared = _media_type(content_type)
    if not data or data.isspace():  # (not data.strip(): a copy of the whole payload)
        return Sniffed("not-applicable", declared or "application/octet-stream", "empty payload")
    head = data[:1024]
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            if mime == "image/bmp" and not _looks_binary(head):
                continue
            note = f" (declared {declared})" if declared and declared != mime else ""
            return Sniffed("not-applicable", mime, f"sniffed {mime}{note}: not an article document")
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return Sniffed("not-applicable", "application/riff", "sniffed a RIFF media file")
    if head[4:8] == b"ftyp":
        return Sniffed("not-applicable", "video/mp4", "sniffed an ISO media file (mp4/heic)")
    html_start = bool(_HTML_START.match(_ascii_view(head)))
    if _looks_binary(head) and not html_start and \
            not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Sniffed(
            "not-applicable", "application/octet-stream", "binary payload (NUL or control bytes)"
        )
    if _FEED_START.match(head):
        return Sniffed(
            "not-applicable", "application/xml", "an XML feed or sitemap, not an article"
        )
    if html_start:
        return Sniffed("html", declared or "text/html")
    resource = _resource(data, declared, url)
    if resource is not None:
        return resource
    if declared in _HTML_TYPES:
        return Sniffed("html", declared)
    if declared in _TEXT_TYPES or declared.startswith("text/") or not declared:
        return Sniffed("text", declared or "text/plain")
    if declared in ("application/json", "application/ld+json") or declared.endswith(
        ("+json", "/xml", "+xml")
    ):
        return Sniffed(
            "not-applicable", declared, f"declared {declared}: structured data, not an article"
        )
    return Sniffed(
        "not-applicable", declared, f"declared {declared} and the bytes do not look like text"
    )


def _ascii_view(head: bytes) -> bytes:
    """UTF-16 payloads: look at every other byte so HTML sniffing still works."""
    if head.startswith(codecs.BOM_UTF16_LE):
        return head[2::2]
    if head.startswith(codecs.BOM_UTF16_BE):
        return head[3::2]
    return head


_NOT_CONTROL = bytes(b for b in range(256) if not (b < 9 or 13 < b < 32))


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = len(head.translate(None, _NOT_CONTROL))  # (a byte loop in Python before)
    return controls > max(4, len(head) // 50)


def _codec(label: str | bytes | None) -> str | None:
    if not label:
        return None
    name = label.decode("ascii", "replace") if isinstance(label, bytes) else label
    name = name.strip().lower()
    name = _WEB_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(data: bytes, content_type: str | None, *, html: bool) -> tuple[str, Decoding]:
    """Bytes to text: BOM, then declared charset (HTTP, then in-document), then strict
    UTF-8, then detection. A declared charset the bytes violate is not trusted."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            text = data[len(bom) :].decode(name, errors="replace")
            return text, Decoding(name, "byte order mark", "\ufffd" in text)

    declared: list[tuple[str, str]] = []
    match = _CT_CHARSET.search(content_type or "")
    if match:
        declared.append((match.group(1), "content-type header"))
    if html:
        head = data[:4096]
        meta = _META_CHARSET.search(head) or _XML_ENCODING.match(head)
        if meta:
            declared.append((meta.group(1).decode("ascii", "replace"), "in-document declaration"))
    if declared and not data.isascii():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            # multi-byte UTF-8 sequences almost never arise by chance in a legacy
            # single-byte text: a page declaring latin-1 whose bytes are valid UTF-8 is UTF-8
            labels = ", ".join(f"{label} ({basis})" for label, basis in declared)
            if all(_codec(label) != "utf-8" for label, _ in declared):
                return text, Decoding("utf-8", f"valid UTF-8, although {labels} was declared")
            return text, Decoding("utf-8", declared[0][1])
    mistrusted: list[str] = []
    for label, basis in declared:
        codec = _codec(label)
        if codec is None:
            mistrusted.append(f"unknown charset {label!r} ({basis})")
            continue
        if codec.startswith(("utf-16", "utf_16")):
            continue  # a UTF-16 label on bytes without a BOM is almost always wrong
        try:
            return data.decode(codec), Decoding(codec, basis)
        except UnicodeDecodeError:
            if codec == "utf-8" and _mostly_utf8(data):
                # real UTF-8 with a few damaged bytes: keep it, replace only those (FAULTS 12)
                text = data.decode("utf-8", errors="replace")
                return text, Decoding("utf-8", f"{basis}; invalid bytes replaced", True)
            mistrusted.append(f"declared {codec} ({basis}) but the bytes are not valid {codec}")
    suffix = f"; {'; '.join(mistrusted)}" if mistrusted else ""
    try:
        return data.decode("utf-8"), Decoding("utf-8", f"valid UTF-8{suffix}")
    except UnicodeDecodeError:
        pass
    guess = _detect(data)
    if guess is not None:
        text = data.decode(guess, errors="replace")
        return text, Decoding(guess, f"detected by charset-normalizer{suffix}", "\ufffd" in text)
    text = data.decode("cp1252", errors="replace")
    return text, Decoding("cp1252", f"fallback{suffix}", "\ufffd" in text)


def _mostly_utf8(data: bytes) -> bool:
    """Valid multi-byte UTF-8 sequences outnumber the invalid bytes: a legacy single-byte
    text almost never forms them by chance, so the text is UTF-8 with some damage."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return good > bad


def _detect(data: bytes) -> str | None:
    return _codec(guess_charset(data[:65536]))
