"""Rewrite an archived page so that everything it loads comes from the archive (pure).

Every URL in an HTML attribute that loads or links something (``href``, ``src``,
``srcset``, ``action``, ``poster``, ``style`` …), in ``<style>`` blocks and in CSS
``url()``/``@import`` becomes ``/web/<timestamp>/<absolute URL>`` on the replay origin,
resolved against the page's URL (or its ``<base href>``). Only ``http(s)`` URLs are
rewritten; fragments, ``data:``, ``blob:`` and ``about:`` stay as they are (they load
nothing from elsewhere) and any other scheme (``file:``, ``ftp:``, ``javascript:`` …)
becomes ``about:blank``. Scripts are not rewritten: the Content-Security-Policy the
replay origin sends keeps whatever they compute inside the archive.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|"
                  r"[^\s>\"']+))?)*)\s*(/?)>", re.S)
_ATTR = re.compile(r"(\s+)([^\s=>/]+)(?:(\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?", re.S)
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.S | re.I)
_CSS_URL = re.compile(r"(url\(\s*)(\"[^\"]*\"|'[^']*'|[^)\s]*)(\s*\))", re.I)
_CSS_IMPORT = re.compile(r"(@import\s+)(\"[^\"]*\"|'[^']*')", re.I)
_BASE = re.compile(r"<base\s[^>]*?href\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+)", re.I)
_REFRESH_URL = re.compile(r"(url\s*=\s*)(\S+)", re.I)

URL_ATTRS = frozenset({"href", "src", "action", "formaction", "poster", "background",
                       "data", "cite", "longdesc", "manifest", "icon", "codebase",
                       "archive", "profile", "usemap", "xlink:href", "ping"})
SRCSET_ATTRS = frozenset({"srcset", "imagesrcset"})
_KEEP = ("#", "data:", "blob:", "about:")


def replay_url(url: str, base: str, ts: str) -> str:
    """``url`` (relative to ``base``) as the replay path ``/web/<ts>/<absolute>``."""
    url = url.strip()
    if not url or url.startswith(_KEEP) or url.lower().startswith(_KEEP):
        return url
    try:
        absolute = urljoin(base, url)
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return "about:blank"
    if scheme not in ("http", "https"):
        return "about:blank"
    return f"/web/{ts}/{absolute}"


def rewrite_css(css: str, base: str, ts: str) -> str:
    """CSS with every ``url()`` and ``@import`` string pointing into the archive."""
    def url_fn(m: re.Match[str]) -> str:
        raw = m.group(2)
        quote = raw[0] if raw[:1] in ("'", '"') else ""
        inner = raw[1:-1] if quote else raw
        new = replay_url(inner, base, ts).replace(quote or ")", "%" + format(
            ord(quote or ")"), "02X"))
        return f"{m.group(1)}{quote}{new}{quote}{m.group(3)}"

    def import_fn(m: re.Match[str]) -> str:
        raw = m.group(2)
        return f"{m.group(1)}{raw[0]}{replay_url(raw[1:-1], base, ts)}{raw[0]}"

    return _CSS_IMPORT.sub(import_fn, _CSS_URL.sub(url_fn, css))


def _srcset(value: str, base: str, ts: str) -> str:
    out = []
    for part in value.split(","):
        bits = part.strip().split(None, 1)
        if bits:
            out.append(" ".join([replay_url(bits[0], base, ts), *bits[1:]]))
    return ", ".join(out)


def rewrite_html(text: str, page_url: str, ts: str) -> str:
    """The page with every loading or linking attribute, ``<style>`` block and inline
    ``style`` pointing into the archive at ``ts`` (see the module docstring)."""
    found = _BASE.search(text)
    base = page_url
    if found:
        href = html.unescape(found.group(1).strip("'\""))
        if urlsplit(urljoin(page_url, href)).scheme in ("http", "https"):
            base = urljoin(page_url, href)

    def tag_fn(m: re.Match[str]) -> str:
        name = m.group(1).lower()
        attrs = m.group(2)
        if not attrs:
            return m.group(0)
        is_refresh = name == "meta" and re.search(
            r"http-equiv\s*=\s*[\"']?refresh", attrs, re.I) is not None

        def one(a: re.Match[str]) -> str:
            key = a.group(2).lower()
            raw = a.group(4)
            if raw is None:
                return a.group(0)
            value = html.unescape(raw[1:-1] if raw[:1] in ("'", '"') else raw)
            if key in URL_ATTRS:
                new = replay_url(value, base, ts)
            elif key in SRCSET_ATTRS:
                new = _srcset(value, base, ts)
            elif key == "style":
                new = rewrite_css(value, base, ts)
            elif key == "content" and is_refresh:
                new = _REFRESH_URL.sub(lambda r: r.group(1) + replay_url(
                    r.group(2).strip("'\""), base, ts), value)
            else:
                return a.group(0)
            return f'{a.group(1)}{a.group(2)}="{html.escape(new, quote=True)}"'

        return f"<{m.group(1)}{_ATTR.sub(one, attrs)}{m.group(3)}>"

    def style_fn(m: re.Match[str]) -> str:
        return m.group(1) + rewrite_css(m.group(2), base, ts) + m.group(3)

    return _STYLE_BLOCK.sub(style_fn, _TAG.sub(tag_fn, text))
