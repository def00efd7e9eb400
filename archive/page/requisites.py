"""What a page needs to be shown as a reader saw it: its requisites, found by parsing.

Pure (no network, no disk, no clock): ``page`` capture mode calls these and fetches.

* :func:`html_requisites` reads an HTML document: stylesheets, scripts, icons,
  ``<link rel=preload|modulepreload>``, images (``src``, ``srcset``, ``<picture><source>``,
  ``poster``, ``<input type=image>``, lazy-loading ``data-src``/``data-srcset``, SVG
  ``<image>``/``<use>``, the legacy ``background`` attribute) and the ``url()``s of
  ``<style>`` blocks and ``style`` attributes, resolved against ``<base href>``.
* :func:`css_requisites` reads a style sheet (``url()``, ``@import``, ``@font-face``,
  ``image-set()``), resolved against the sheet's own URL.
* :func:`plan` applies the per-page limit and says what it left out and why.

Never followed: ``<a href>`` and other navigation, ``<iframe>`` documents (a page of
their own: browser mode records them), ``<audio>``/``<video>`` media (a poster is
kept), ``rel=manifest|prefetch|preconnect|dns-prefetch`` (not used to show this page).
Only ``http``/``https`` URLs are returned: ``data:`` is inline, ``javascript:``,
``blob:``, ``about:``, ``mailto:`` and the rest fetch nothing. URLs are absolute,
without fragment, normalised by :func:`archive.urls.normalize_url` and made fetchable
(non-ASCII and spaces percent-encoded, IDNA host), deduplicated in first-seen order.

Safety (FAULTS 14): the HTML parser is :func:`archive.metadata.markup.parse` (no
network, no entity expansion, libxml2's default limits: elements nested past 256
levels are dropped, and a text or attribute over 10 MB is dropped or ends the parse
there); the CSS tokenizer is linear; a URL over :data:`MAX_URL_LENGTH` is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, quote, urljoin, urlsplit, urlunsplit

from lxml.html import HtmlElement

from archive.core.urls import normalize_url
from archive.metadata.markup import parse
from archive.metadata.payload import decode
from archive.page.cssurls import css_urls

Kind = Literal["stylesheet", "image", "script", "font", "icon", "other"]

DEFAULT_MAX_REQUISITES = 300
# Longer URLs are dropped: most servers refuse a request line past 8 KB (Apache's and
# nginx's defaults), and a megabyte "URL" is an inline payload or an attack, not a file.
MAX_URL_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class Requisite:
    """One URL a page needs.

    ``found_at`` says where it was found, for the capture's provenance: an element and
    attribute (``img@src``, ``source@srcset``, ``link[rel=stylesheet]``,
    ``link[rel=preload as=font]``) or a CSS construct, prefixed by where the CSS was
    (``css:url()``, ``css:@import``, ``style@style:url()``, ``style:@import``).
    ``is_css`` says the response should itself be parsed with :func:`css_requisites`
    (a stylesheet or an ``@import``): the caller recurses, with a depth limit.
    """

    url: str
    kind: Kind
    found_at: str

    @property
    def is_css(self) -> bool:
        return self.kind == "stylesheet"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A requisite :func:`plan` left out, and why (for the capture's provenance)."""

    requisite: Requisite
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What to fetch (document order) and what was left out (with the reason)."""

    fetch: tuple[Requisite, ...]
    skipped: tuple[Skipped, ...]


# --------------------------------------------------------------------------- URLs

_FETCHABLE = frozenset({"http", "https"})
_STRIP = " \t\n\r\f"  # ASCII whitespace, stripped from attribute URLs (HTML "valid URL")
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# WHATWG URL: characters percent-encoded in a path (and, but for ' which we also keep
# for a query, the query), on top of controls and non-ASCII. "%" stays: it already
# encodes; "#" cannot occur (the fragment is cut first).
_SAFE = "!$&'()*+,-./:;=?@_~%[]|^\\"


def _base_of(url: str) -> str:
    """``url`` if it is an absolute http(s) URL, else ValueError (a caller's mistake)."""
    if urlsplit(url).scheme.lower() not in _FETCHABLE or not urlsplit(url).hostname:
        raise ValueError(f"requisites: base URL {url!r} is not an absolute http(s) URL")
    return url


def resolve(reference: str, base: str) -> str | None:
    """The absolute, normalised, fetchable URL ``reference`` means on a page at ``base``,
    or None when it fetches nothing (empty, fragment-only, not http(s), malformed,
    longer than :data:`MAX_URL_LENGTH`)."""
    ref = _TAB_NEWLINE.sub("", reference.strip(_STRIP))
    if not ref or ref.startswith("#"):
        return None  # the document itself (or an element in it), never a requisite
    head, sep, tail = ref.partition("?")
    ref = head.replace("\\", "/") + sep + tail  # browsers read "\" as "/" before a query
    try:
        parts = urlsplit(urljoin(base, ref))
        if parts.scheme.lower() not in _FETCHABLE or not parts.hostname:
            return None
        host = parts.netloc
        if not host.isascii():
            host = _idna_netloc(parts)
        path = quote(parts.path, safe=_SAFE)
        query = quote(parts.query, safe=_SAFE)
        url = normalize_url(urlunsplit((parts.scheme, host, path, query, "")))
    except (ValueError, UnicodeError):
        return None  # an invalid port, an unencodable host, a broken IPv6 literal
    return url if len(url) <= MAX_URL_LENGTH else None


def _idna_netloc(parts: SplitResult) -> str:
    """An internationalised host in its ASCII (IDNA) form, as a browser sends it."""
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    encoded = host.encode("idna").decode("ascii")
    return f"{userinfo}{at}{encoded}{colon}{port}"


# --------------------------------------------------------------------------- srcset

_DESCRIPTOR = re.compile(r"^(?:(\d+)w|(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)x|(\d+)h)$")


def parse_srcset(value: str) -> list[tuple[str, tuple[str, ...]]]:
    """The candidates of a ``srcset`` as (URL, descriptors), per the HTML standard's
    algorithm: a URL runs to the next white space (so it may hold commas), trailing
    commas end it; descriptors are split at commas outside parentheses. A candidate
    with invalid descriptors (two widths, a width and a density, ``0w``, a negative or
    unknown descriptor) is dropped, as browsers drop it."""
    out: list[tuple[str, tuple[str, ...]]] = []
    pos, end = 0, len(value)
    while True:
        while pos < end and (value[pos] in _STRIP or value[pos] == ","):
            pos += 1
        if pos >= end:
            return out
        start = pos
        while pos < end and value[pos] not in _STRIP:
            pos += 1
        url = value[start:pos]
        descriptors: list[str] = []
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            pos, descriptors = _descriptors(value, pos)
        if url and _valid_descriptors(descriptors):
            out.append((url, tuple(descriptors)))


def _descriptors(value: str, pos: int) -> tuple[int, list[str]]:
    """The descriptor tokenizer: from after a URL up to the candidate's ending comma."""
    end = len(value)
    out: list[str] = []
    current: list[str] = []
    in_parens = False
    while pos < end:
        ch = value[pos]
        pos += 1
        if in_parens:
            current.append(ch)
            in_parens = ch != ")"
        elif ch in _STRIP:
            if current:
                out.append("".join(current))
                current = []
        elif ch == ",":
            break
        else:
            current.append(ch)
            in_parens = ch == "("
    if current:
        out.append("".join(current))
    return pos, out


def _valid_descriptors(descriptors: list[str]) -> bool:
    width = density = height = 0
    for token in descriptors:
        match = _DESCRIPTOR.match(token)
        if match is None:
            return False
        w, x, h = match.groups()
        if w is not None:
            width += 1
            if int(w) <= 0:
                return False
        elif x is not None:
            density += 1
        else:
            height += 1
            if int(h) <= 0:
                return False
    if width > 1 or density > 1 or height > 1:
        return False
    if density and (width or height):
        return False
    return not (height and not width)


# --------------------------------------------------------------------------- HTML

_ICON_RELS = frozenset({"icon", "apple-touch-icon", "apple-touch-icon-precomposed",
                        "mask-icon", "fluid-icon"})
_PRELOAD_AS: dict[str, Kind] = {"style": "stylesheet", "font": "font", "image": "image",
                                "script": "script"}


def html_requisites(body: bytes | str, base_url: str, *,
                    charset: str | None = None) -> list[Requisite]:
    """Every requisite of an HTML document at ``base_url`` (its final URL after
    redirects), deduplicated in first-seen order.

    ``body`` as bytes is decoded as the metadata extractor decodes it (BOM, ``charset``
    from the Content-Type header, in-document declaration, UTF-8, detection); URLs are
    read from the decoded text, so a non-ASCII path becomes its UTF-8 percent-encoding.
    Raises ValueError only if ``base_url`` is not an absolute http(s) URL.
    """
    base = _base_of(base_url)
    if isinstance(body, bytes):
        content_type = f"text/html; charset={charset}" if charset else "text/html"
        body, _ = decode(body, content_type, html=True)
    tree = parse(body) if body.strip() else None
    if tree is None:
        return []
    base = _document_base(tree, base)
    return _dedupe(_resolved(_html_references(tree), base))


def css_requisites(text: str, base_url: str, *, where: str = "css") -> list[Requisite]:
    """Every requisite of a style sheet at ``base_url``, deduplicated in first-seen
    order: ``@import``s (``is_css``), ``url()``s (fonts inside ``@font-face``, images
    elsewhere) and ``image-set()`` strings. ``where`` prefixes ``found_at``
    (``css:url()``); the HTML reader uses it for ``<style>`` blocks and attributes."""
    base = _base_of(base_url)
    return _dedupe(_resolved(_css_references(text, where), base))


def _document_base(tree: HtmlElement, url: str) -> str:
    """The first ``<base href>`` (resolved against the document URL), if it is http(s)."""
    for element in tree.iter("base"):
        href = element.get("href")
        if href is not None:
            resolved = resolve(href, url)
            return resolved if resolved is not None else url
    return url


def _css_references(text: str, where: str) -> Iterator[tuple[str, Kind, str]]:
    for ref in css_urls(text):
        yield ref.url, ref.kind, f"{where}:{ref.found_at}"


def _html_references(tree: HtmlElement) -> Iterator[tuple[str, Kind, str]]:
    """(raw URL, kind, found_at) in document order."""
    for element in tree.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions
        tag = tag.lower()
        if tag == "link":
            yield from _link(element)
        elif tag == "img":
            yield from _image(element, "img")
        elif tag == "source":
            if _in_picture(element):
                yield from _image(element, "source")
        elif tag == "script":
            yield from _attr(element, "script", "src", "script")
        elif tag == "video":
            yield from _attr(element, "video", "poster", "image")
        elif tag == "input":
            if (element.get("type") or "").strip().lower() == "image":
                yield from _attr(element, "input[type=image]", "src", "image")
        elif tag == "style":
            yield from _css_references(element.text or "", "style")
        elif tag in ("image", "use"):  # inline SVG
            for name in ("href", "xlink:href"):
                yield from _attr(element, f"svg:{tag}", name, "image")
        if tag in ("body", "table", "td", "th"):
            yield from _attr(element, tag, "background", "image")
        style = element.get("style")
        if style and "(" in style:
            yield from _css_references(style, f"{tag}@style")


def _in_picture(source: HtmlElement) -> bool:
    """A ``<source>`` of a ``<picture>`` (an image), not of a ``<video>``/``<audio>``.
    libxml2's HTML 4 parser does not know ``<source>`` is void and nests each in the
    one before, so the nearest ancestor that is not a ``<source>`` decides."""
    for ancestor in source.iterancestors():
        tag = str(ancestor.tag).lower()
        if tag != "source":
            return tag == "picture"
    return False


def _attr(element: HtmlElement, label: str, name: str, kind: Kind) -> Iterator[tuple[str, Kind,
                                                                                      str]]:
    value = element.get(name)
    if value is not None:
        yield value, kind, f"{label}@{name}"


def _srcset(element: HtmlElement, label: str, name: str) -> Iterator[tuple[str, Kind, str]]:
    value = element.get(name)
    if value:
        for url, _ in parse_srcset(value):
            yield url, "image", f"{label}@{name}"


def _image(element: HtmlElement, label: str) -> Iterator[tuple[str, Kind, str]]:
    yield from _attr(element, label, "src", "image")
    yield from _srcset(element, label, "srcset")
    # lazy loading by script: the URL a reader's browser would be given after load
    yield from _attr(element, label, "data-src", "image")
    yield from _srcset(element, label, "data-srcset")


def _link(element: HtmlElement) -> Iterator[tuple[str, Kind, str]]:
    rels = set((element.get("rel") or "").lower().split())
    href = element.get("href")
    if "stylesheet" in rels:
        if href is not None:
            yield href, "stylesheet", "link[rel=stylesheet]"
    elif rels & _ICON_RELS:
        if href is not None:
            yield href, "icon", f"link[rel={' '.join(sorted(rels & _ICON_RELS))}]"
    elif "modulepreload" in rels:
        if href is not None:
            yield href, "script", "link[rel=modulepreload]"
    elif "preload" in rels:
        dest = (element.get("as") or "").strip().lower()
        kind = _PRELOAD_AS.get(dest)
        if kind is None:
            return  # fetch, document, audio, video, track...: not needed to show the page
        label = f"link[rel=preload as={dest}]"
        if href is not None:
            yield href, kind, label
        if kind == "image":
            yield from ((url, "image", label)
                        for url, _ in parse_srcset(element.get("imagesrcset") or ""))


def _resolved(refs: Iterable[tuple[str, Kind, str]], base: str) -> Iterator[Requisite]:
    for raw, kind, found_at in refs:
        url = resolve(raw, base)
        if url is not None:
            yield Requisite(url, kind, found_at)


def _dedupe(found: Iterable[Requisite]) -> list[Requisite]:
    """First occurrence of each URL wins, except that a later sighting as a stylesheet
    upgrades it (a sheet preloaded as an image would otherwise never be parsed)."""
    seen: dict[str, Requisite] = {}
    for req in found:
        first = seen.get(req.url)
        if first is None or (req.is_css and not first.is_css):
            seen[req.url] = req
    return list(seen.values())


# --------------------------------------------------------------------------- planning

_LOW_PRIORITY = ("@srcset", "@data-srcset", "@imagesrcset", "link[rel=preload as=image]")


def _priority(req: Requisite) -> int:
    """Which requisites go first when a page has more than the limit: style sheets
    (the layout), then the page's own images, fonts and scripts, then icons, then the
    alternative image sizes of a ``srcset``."""
    if req.is_css:
        return 0
    if req.found_at.endswith(_LOW_PRIORITY):
        return 3
    if req.kind == "icon":
        return 2
    return 1


def plan(found: Sequence[Requisite], *, page_url: str, seen: Collection[str] = (),
         limit: int = DEFAULT_MAX_REQUISITES) -> Plan:
    """Which of ``found`` to fetch for a page: not the page itself, not a URL in
    ``seen`` (already fetched for this page, e.g. by an earlier level of CSS), no
    duplicate, and at most ``limit``, taken by :func:`_priority` and then document
    order; the rest are listed with the reason. ``fetch`` keeps document order.

    Call it once per level with ``limit`` the budget still left: the page's own
    requisites, then those of its style sheets with ``seen`` grown.
    """
    if limit < 0:
        raise ValueError(f"requisites: limit must be >= 0, not {limit}")
    page = resolve(page_url, _base_of(page_url))
    done = set(seen)
    skipped: list[Skipped] = []
    candidates: list[tuple[int, Requisite]] = []
    for req in found:
        if req.url == page:
            skipped.append(Skipped(req, "the page itself"))
        elif req.url in done:
            skipped.append(Skipped(req, "already captured for this page"))
        else:
            done.add(req.url)
            candidates.append((len(candidates), req))
    ranked = sorted(candidates, key=lambda item: (_priority(item[1]), item[0]))
    kept = sorted(ranked[:limit], key=lambda item: item[0])
    skipped += [Skipped(req, f"over the limit of {limit} requisites per page")
                for _, req in sorted(ranked[limit:], key=lambda item: item[0])]
    return Plan(tuple(req for _, req in kept), tuple(skipped))
