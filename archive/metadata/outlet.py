"""The outlet (site name): JSON-LD publisher, ``og:site_name`` and kin, the ``<title>``
suffix, and at last the registrable domain of the URL.

Names that resemble the domain (``Le Monde.fr`` on lemonde.fr, ``FAZ`` on faz.net)
are more likely the outlet than a section name that some sites put in
``og:site_name``; agreement between independent places raises confidence.
The public suffix list is tldextract's bundled snapshot: never fetched.

The host name alone is not an outlet's name (issue 12, item 11): it is offered only
when the page names none, marked ``url-host`` in the evidence and with confidence
``HOST_CONFIDENCE``, so no reader mistakes it for a name the page gave.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from functools import lru_cache
from urllib.parse import urlsplit

from .combine import Candidate, choose
from .jsonld import JsonLd
from .markup import clean_text
from .model import Field

# Confidence of an outlet read from the URL's host alone: a label, not a name.
HOST_CONFIDENCE = 0.3

_GENERIC = frozenset(
    {
        "home",
        "homepage",
        "news",
        "startseite",
        "accueil",
        "inicio",
        "portada",
        "start",
        "index",
        "facebook",
        "twitter",
        "instagram",
        "youtube",
        "wordpress",
        "blogger",
        "article",
        "articles",
        "blog",
        "website",
        "web",
        "site",
        "default",
        "untitled",
        "null",
        "none",
        "undefined",
        "page",
        "nachrichten",
        "noticias",
        "actualités",
        "nyheter",
    }
)
_GENERIC_KEYS = frozenset("".join(ch for ch in g if ch.isalnum()) for g in _GENERIC)
_SEPARATORS = re.compile(r"\s+[|\-–—:·•»«/›‹~]{1,2}\s+|\s*[|•›‹]\s*")
_TLD_TAIL = re.compile(r"(?<=\w)\.(?:[a-z]{2,6})(?:\.[a-z]{2})?$")
_FOLD = str.maketrans(
    {"ð": "d", "þ": "th", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ı": "i", "ł": "l", "đ": "d"}
)


_ARTICLE = re.compile(r"^(?:the|die|der|das|le|la|les|el|il|lo|de)\s+")
_THE = re.compile(r"^the\s+")


@lru_cache(maxsize=4096)
def fold(text: str, *, articles: bool = True) -> str:
    """Lower case, no diacritics, no spaces or punctuation: ``Süddeutsche.de`` ->
    ``suddeutsche``; used to compare names, never shown. ``articles=False`` keeps a
    leading "der"/"el"/"le" ("El Mundo" -> ``elmundo``, as ``ELMUNDO``)."""
    text = text.casefold().strip().translate(_FOLD)
    text = (_ARTICLE if articles else _THE).sub("", text)
    text = _TLD_TAIL.sub("", text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isalnum())


@lru_cache(maxsize=1)
def _extractor() -> object:
    import tldextract

    # cache_dir=None: no disk cache (the extractor is pure); suffix_list_urls=(): never
    # fetch the public suffix list, use the snapshot shipped with tldextract.
    return tldextract.TLDExtract(
        cache_dir=None, suffix_list_urls=(), include_psl_private_domains=False
    )


def registrable_domain(url: str | None) -> tuple[str, str] | None:
    """(registrable domain, its label): ``https://www.bbc.co.uk/x`` -> (``bbc.co.uk``, ``bbc``)."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host or re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?", host):
        return None
    result = _extractor()(host)  # type: ignore[operator]
    domain, suffix = str(result.domain), str(result.suffix)
    if not domain or not suffix:
        return None
    return f"{domain}.{suffix}", domain


def public_suffix(url: str | None) -> str | None:
    """The public suffix of the URL's host (``com.br``), from the bundled list."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    suffix = str(_extractor()(host).suffix)  # type: ignore[operator]
    return suffix or None


def resembles_domain(name: str, label: str) -> bool:
    key, dom = fold(name), fold(label)
    if not key or not dom:
        return False
    if key == dom or (len(dom) >= 4 and dom in key) or (len(key) >= 4 and key in dom):
        return True
    initials = "".join(
        w[0] for w in re.findall(r"[^\W\d_]+", name.casefold().translate(_FOLD)) if len(w) > 2
    )
    return len(initials) >= 2 and (
        initials == dom or (dom.startswith(initials) and len(dom) <= len(initials) + 1)
    )


def plausible(name: str, title: str | None = None) -> bool:
    stripped = name.strip()
    if not 2 <= len(stripped) <= 80 or stripped.startswith(("http://", "https://", "//")):
        return False
    if fold(stripped) in _GENERIC_KEYS or not fold(stripped):
        return False
    return not (title and fold(stripped) == fold(title) and len(stripped) > 30)


def title_parts(title: str) -> list[str]:
    return [p.strip() for p in _SEPARATORS.split(title) if p.strip()]


_HOSTLIKE = re.compile(r"^[\w-]+(?:\.[\w-]+)+$")
_URL_NOTE = re.compile(r"\s*\((?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+/?\)\s*$")
_COMPANY = re.compile(
    r"[\s,]+(?:company|co\.|corporation|corp\.?|inc\.?|ltd\.?|limited|llc|plc|gmbh|ag|s\.a\.|s\.l\.|"
    r"sa|sas|srl|s\.p\.a\.|spa|ab|as|asa|oy|kk|k\.k\.|group|media group|verlag)\b.*$",
    re.IGNORECASE,
)
_COPYRIGHT = re.compile(
    r"(?:©|&copy;|\(c\)|copyright)\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?)?\s*(?:by\s+)?"
    r"(?P<name>[^\W\d][^.|\n©]{1,60}?)(?=\s*(?:[.|,]|all rights|alle rechte|tous droits|"
    r"todos los derechos|版权所有|版權所有|著作権|저작권|$))",
    re.IGNORECASE,
)


def copyright_holders(text: str) -> list[str]:
    """Names after a copyright sign ("© 2020 Deutsche Welle", "Copyright The Asahi
    Shimbun Company. All rights reserved"), without the company form."""
    out: list[str] = []
    for m in _COPYRIGHT.finditer(text):
        name = _COMPANY.sub("", m["name"]).strip(" .-,")
        name = re.sub(r"\s*\([^)]*$", "", _URL_NOTE.sub("", name)).strip()
        if name and not re.match(r"(?i)(?:all rights|alle rechte|\d)", name):
            out.append(name)
    return out[:3]


def _display(group: list[Candidate]) -> Candidate:
    """Of the spellings of one name, show a proper name ("WDR") over a host name
    ("wdr.de"), then the strongest source."""
    return max(group, key=lambda c: (not _HOSTLIKE.match(str(c.value)), c.weight))


def from_html(
    meta: dict[str, list[str]],
    ld: JsonLd,
    title_element: str | None,
    url: str | None,
    footer: str = "",
) -> Field:
    domain = registrable_domain(url)
    label = domain[1] if domain else None
    raw: list[tuple[str, str, float]] = []
    for fact in ld.names("publisher"):
        raw.append((fact.value, fact.source, 0.75))  # often the company ("...社", "... GmbH")
    for key, weight in (
        ("og:site_name", 0.8),
        ("application-name", 0.5),
        ("apple-mobile-web-app-title", 0.45),
        ("dc.publisher", 0.6),
        ("publisher", 0.55),
        ("cxenseparse:site", 0.5),
        ("al:android:app_name", 0.4),
        ("al:iphone:app_name", 0.4),
        ("twitter:app:name:iphone", 0.4),
    ):
        for value in meta.get(key, [])[:1]:
            raw.append((value, f"meta:{key}", weight))
    for value in meta.get("twitter:site", [])[:1]:
        if value.startswith("@") and len(value) > 2:
            raw.append((value[1:], "meta:twitter:site", 0.35))
    for fact in ld.organisations():
        raw.append((fact.value, fact.source, 0.55))
    declared_copyright = [f"© {value}" for value in meta.get("copyright", [])[:1]]
    for name in copyright_holders("\n".join([*declared_copyright, footer]))[:3]:
        raw.append((name, "text:copyright", 0.45))
    if title_element:
        parts = title_parts(title_element)
        if len(parts) > 1:
            for part in (parts[-1], parts[0]):
                if label and resembles_domain(part, label):
                    raw.append((part, "html:title", 0.6))
                    break
    candidates: list[Candidate] = []
    for value, source, weight in raw:
        value = _URL_NOTE.sub("", clean_text(value)).strip()
        if not plausible(value, title_element):
            continue
        if label and resembles_domain(value, label):
            weight = min(0.95, weight + 0.15)
        elif label and weight >= 0.5:
            weight -= 0.1
        candidates.append(Candidate(value, source, value, weight))
    candidates = _prefer_named_publisher(candidates, label, ld.persons("publisher"))
    candidates = _prefer_latin_name(candidates, label)
    if domain and max((c.weight for c in candidates), default=0.0) < 0.5:
        candidates.append(host_candidate(domain[0], url))
    return _web_address_capped(
        host_capped(choose(candidates, key=_outlet_key, cap=0.97, display=_display))
    )


# Confidence of a name the page gives only as a web address ("mbl.is", "lrt.lt"):
# the site's brand, which may not be the publication's name.
WEB_ADDRESS_CONFIDENCE = 0.6


def _web_address_capped(field: Field) -> Field:
    """Every witness names the outlet by a host name: a web brand, not a confirmed
    publication name, so not high confidence."""
    if field.value is None or not all(_HOSTLIKE.match(e.raw) for e in field.evidence):
        return field
    return replace(field, confidence=min(field.confidence, WEB_ADDRESS_CONFIDENCE))


def host_candidate(host: str, url: str | None) -> Candidate:
    """The registrable domain, offered when the page names no outlet. It competes
    with the weight of a weak name; ``host_capped`` then marks its confidence."""
    return Candidate(host, "url-host", url or host, 0.5)


def host_capped(field: Field) -> Field:
    """A value only the URL's host supports is reported with ``HOST_CONFIDENCE`` at most."""
    if field.value is None or any(e.source != "url-host" for e in field.evidence):
        return field
    return replace(field, confidence=min(field.confidence, HOST_CONFIDENCE))


_PUBLISHER_SOURCES = frozenset({"json-ld:publisher", "meta:publisher", "meta:dc.publisher"})


def _prefer_named_publisher(
    candidates: list[Candidate], label: str | None, persons: set[str]
) -> list[Candidate]:
    """``og:site_name`` "dw.com" or "thestar.com" beside a publisher the page's own
    structured data names for the same domain ("Deutsche Welle", "Toronto Star"): the
    web address is the site's brand, the declared publisher is the publication. It
    wins; the addresses are kept as rejected, with this reason. A publisher unrelated
    to the domain (a news agency on a syndicated story) or a person is not the outlet."""
    if not candidates or not label:
        return candidates
    top = max(candidates, key=lambda c: c.weight)
    if not _HOSTLIKE.match(str(top.value)):
        return candidates
    named = [
        c
        for c in candidates
        if c.source in _PUBLISHER_SOURCES
        and not _HOSTLIKE.match(str(c.value))
        and c.raw not in persons
        and _names_domain(str(c.value), label)
    ]
    if not named:
        return candidates
    best = max(named, key=lambda c: c.weight)
    note = "a web address; the page's structured data names the publisher"
    out = []
    for c in candidates:
        if c is best:
            out.append(Candidate(c.value, c.source, c.raw, max(c.weight, top.weight + 0.02)))
        elif _HOSTLIKE.match(str(c.value)):
            out.append(Candidate(c.value, c.source, c.raw, c.weight, note=note))
        else:
            out.append(c)
    return out


def _names_domain(name: str, label: str) -> bool:
    """The domain is this name, an initialism of it (tdg: Tribune de Genève) or holds
    one of its longer words (thestar: Toronto Star)."""
    if resembles_domain(name, label):
        return True
    dom = fold(label)
    words = [fold(w) for w in re.findall(r"[^\W\d_]+", name)]
    return "".join(w[:1] for w in words) == dom or any(len(w) >= 4 and w in dom for w in words)


def _prefer_latin_name(candidates: list[Candidate], label: str | None) -> list[Candidate]:
    """A site that names itself only in another script (朝日新聞デジタル) on a Latin
    domain (asahi.com), and whose page also gives a Latin-script name matching that
    domain ("The Asahi Shimbun" in its copyright line): the Latin name is the one the
    URL corroborates, and the one citations in Latin script use. The native name is
    kept as rejected, with this reason."""
    if not label or not label.isascii() or not candidates:
        return candidates
    top = max(candidates, key=lambda c: c.weight)
    if _LATIN.search(_WEB_LABEL.sub("", str(top.value))):  # 日刊ゲンダイDIGITAL is not Latin
        return candidates
    latin = [
        c
        for c in candidates
        # a handle ("@Yomiuri_Online") is not a name
        if c.source != "meta:twitter:site"
        and _LATIN.search(str(c.value))
        and resembles_domain(str(c.value), label)
    ]
    if not latin:
        return candidates
    note = (
        "the outlet's name in another script; the page also names it in Latin script, "
        "matching the domain"
    )
    out = []
    for c in candidates:
        if c in latin:
            out.append(Candidate(c.value, c.source, c.raw, max(c.weight, top.weight + 0.02)))
        elif not _LATIN.search(str(c.value)):
            out.append(Candidate(c.value, c.source, c.raw, c.weight, note=note))
        else:
            out.append(c)
    return out


_LATIN = re.compile(r"[A-Za-z]")
# a web edition's label after the name: "日刊ゲンダイDIGITAL", "朝日新聞デジタル"
_WEB_LABEL = re.compile(r"\s*(?:digital|online|web|デジタル)\s*$", re.IGNORECASE)


def _outlet_key(value: str | tuple[str, ...]) -> str:
    return fold(value if isinstance(value, str) else " ".join(value), articles=False)
