"""Parse HTML once and read the raw material every field uses: ``<meta>`` values,
paragraphs, the visible text in document order, copyright lines, URLs.

The parser never touches the network and never expands entities (FAULTS 14):
lxml's HTML parser loads no DTD, and ``no_network`` is set regardless.
"""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])

def _parser(encoding: str | None) -> lxml.html.HTMLParser:
    parser = lxml.html.HTMLParser(
        no_network=True,
        remove_blank_text=False,
        collect_ids=False,
        default_doctype=False,
        huge_tree=False,
        encoding=encoding,
    )
    # lxml.html picks each element's Python class in Python (forms, inputs and labels
    # get their own); every element proxy we touch paid for that call, about 4 % of a
    # page. We use no form API: one C-level default lookup gives every element
    # HtmlElement.
    parser.set_element_class_lookup(
        lxml.etree.ElementDefaultClassLookup(
            element=lxml.html.HtmlElement,
            comment=lxml.html.HtmlComment,
            pi=lxml.html.HtmlProcessingInstruction,
            entity=lxml.html.HtmlEntity,
        )
    )
    return parser


_PARSER = _parser(None)
# the decoded text handed to lxml as UTF-8 bytes with the encoding stated: a quarter
# faster than a str (which lxml reads in its in-memory form); a charset the page
# declares cannot override it
_UTF8_PARSER = _parser("utf-8")
QUOTES = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "\u00a0": " ",
        "–": "-",
        "—": "-",
    }
)


def parse(text: str) -> HtmlElement | None:
    text = _XML_DECL.sub("", text, count=1)
    try:
        try:
            # control characters dropped from the UTF-8 bytes, where each is its own byte
            # (every byte of a longer sequence is >= 0x80): a third of the time of the
            # same regex over the str
            data = text.encode("utf-8").translate(None, _CONTROL_BYTES)
        except UnicodeEncodeError:  # a lone surrogate: lxml reads the str as it is
            return lxml.html.document_fromstring(_CONTROL.sub("", text), parser=_PARSER)
        return lxml.html.document_fromstring(data, parser=_UTF8_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return None


def collect_meta(tree: HtmlElement) -> dict[str, list[str]]:
    """``<meta>`` values by lower-cased name/property/itemprop/http-equiv, in document order.

    The value is ``content``; some publishing systems write it as ``value`` instead
    (``<meta name="article:published_time" value="…">``), which readers of the tag
    still mean as its content: missing it lost the page's own publication date to a
    later "last update" shown on the page."""
    out: dict[str, list[str]] = {}
    for element in tree.iter("meta"):
        content = element.get("content")
        if content is None:
            content = element.get("value")
        if content is None or not content.strip():
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = element.get(attr)
            if key:
                out.setdefault(key.strip().lower(), []).append(clean(content))
                break
    return out


_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")


def clean(value: str) -> str:
    """Collapse white space and undo HTML escaping left in an attribute or JSON
    string (``&#039;`` inside ``og:title`` is common double escaping)."""
    if "&" in value and _ENTITY.search(value):
        value = html_lib.unescape(value)
    return " ".join(value.split())


# Characters a reader never sees that break comparison and citation: the soft hyphen,
# zero-width space, word joiner, byte-order mark, and bidirectional marks and
# embeddings. (ZWJ and ZWNJ stay: they shape Persian, Indic scripts and emoji.)
INVISIBLE = str.maketrans(
    dict.fromkeys(
        [0x00AD, 0x200B, 0x2060, 0xFEFF, 0x200E, 0x200F, *range(0x202A, 0x202F),
         *range(0x2066, 0x206A)]
    )
)


def clean_text(text: str) -> str:
    """One line of visible text: invisible characters removed, white space collapsed."""
    return " ".join(text.translate(INVISIBLE).split())


def text_of(element: HtmlElement) -> str:
    return " ".join(element.text_content().split())


def paragraphs(tree: HtmlElement) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for index, p in enumerate(tree.iter("p")):
        text = text_of(p)
        if len(text) >= 20:
            out.append((f"html:p[{index + 1}]", text))
        if len(out) >= 250:
            break
    return out


def body_text(tree: HtmlElement, paras: list[tuple[str, str]]) -> str:
    joined = "\n".join(t for _, t in paras)
    if len(joined) >= 400:
        return joined
    body = tree.find("body")
    if body is None:
        return joined
    parts = body.xpath(
        ".//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)]"
    )
    return " ".join(" ".join(str(p).split()) for p in parts if str(p).strip())


_INVISIBLE = frozenset({"script", "style", "noscript", "template"})
_WALK = ("start", "end", "comment", "pi")


def visible_text(tree: HtmlElement, limit: int = 30000) -> tuple[str, int]:
    """The page's text in document order (no scripts or styles), and where the first
    ``<h1>`` starts in it (-1 if there is none).

    One walk over the elements reading ``text`` and ``tail`` (an XPath for text
    nodes built a Python object and looked up the parent of each)."""
    body = tree.find("body")
    root = body if body is not None else tree
    pieces: list[str] = []
    size = 0
    for event, element in lxml.etree.iterwalk(root, events=_WALK):
        if event == "start":
            # text inside an element belongs to it
            text = element.text if element.tag not in _INVISIBLE else None
        else:
            # after an element, or a comment (whose own text is not shown), its tail
            text = element.tail if element is not root else None
        if text:
            pieces.append(text)
            size += len(text)
            if size > 2 * limit:
                break
    text = " ".join(" ".join(pieces).split())[:limit]
    h1 = root.find(".//h1")
    heading = text_of(h1) if h1 is not None else ""
    return text, (text.find(heading) if heading else -1)


def heading_start(tree: HtmlElement, limit: int = 30000) -> int:
    """Where the first ``<h1>`` with text starts in :func:`visible_text`'s text, by
    walking to it (-1 if there is none): for a headline whose text is not found
    there as one string, because inline elements split it (ruby readings, styled
    spans) and the visible text puts spaces between them, or because the first
    ``<h1>`` is an empty one around a logo."""
    body = tree.find("body")
    root = body if body is not None else tree
    pieces: list[str] = []  # the same pieces as visible_text's, up to the <h1>
    for event, element in lxml.etree.iterwalk(root, events=_WALK):
        if event == "start":
            if element.tag == "h1" and text_of(element):
                before = " ".join(" ".join(pieces).split())
                at = len(before) + 1 if before else 0
                return at if at < limit else -1
            text = element.text if element.tag not in _INVISIBLE else None
        else:
            text = element.tail if element is not root else None
        if text:
            pieces.append(text)
    return -1


_COPY_MARKS = ("©", "&copy;", "&#169;", "opyright", "OPYRIGHT")
_TAG = re.compile(r"<[^>]*>")
_PARTIAL_TAG = re.compile(r"^[^<>]*>")


def copyright_snippets(source: str) -> str:
    """The text right after the last copyright marks in the page source (tags
    removed), where an outlet usually names itself."""
    starts: list[int] = []
    for mark in _COPY_MARKS:
        end = len(source)
        for _ in range(3):
            at = source.rfind(mark, 0, end)
            if at < 0:
                break
            starts.append(at - 1 if mark[0] == "o" or mark[0] == "O" else at)
            end = at
    pieces = []
    for at in sorted(starts)[-6:]:
        chunk = source[at : at + 300]
        # a mark inside an attribute (class="copyright_text"): not a copyright line
        chunk = _TAG.sub(" ", _PARTIAL_TAG.sub(" ", chunk, count=1))
        pieces.append(" ".join(html_lib.unescape(chunk).split())[:160])
    return "\n".join(pieces)


_WAYBACK = re.compile(
    r"^https?://(?:web\.)?archive\.org/web/\d{4,14}[a-z_]*/(?P<url>https?://.+)$", re.IGNORECASE
)


def original_url(url: str | None) -> str | None:
    """A Wayback Machine address (``web.archive.org/web/<timestamp>/<url>``) stands for
    the page it archived: its domain and date are the original's."""
    if url:
        m = _WAYBACK.match(url)
        if m:
            return m["url"]
    return url


def absolute(href: str | None, base: str | None) -> str | None:
    if not href or not href.strip():
        return None
    full = urljoin(base or "", href.strip())
    parts = urlsplit(full)
    return full if parts.scheme in ("http", "https") and parts.netloc else None
