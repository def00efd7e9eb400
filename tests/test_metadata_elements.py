"""The one-pass element finder and text walk (issue 18) find exactly what the XPath
expressions they replaced found, in the same order, on generated pages."""

from __future__ import annotations

import lxml.etree
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.metadata import elements
from archive.metadata.markup import parse, visible_text

_TAGS = [
    "div",
    "span",
    "a",
    "p",
    "li",
    "time",
    "meta",
    "link",
    "section",
    "strong",
    "script",
    "style",
    "noscript",
    "h1",
    "address",
    "em",
]
_ATTRS = {
    "itemprop": ["author", "datePublished", "dateModified", "name", ""],
    "rel": ["author", "tag", "nofollow tag", "canonical", "alternate", " canonical "],
    "href": ["/a", "https://example.com/x"],
    "datetime": ["2020-01-02T03:04:05Z"],
    "pubdate": [""],
    "class": [
        "author",
        "byline",
        "post-Author",
        "autor",
        "auteur",
        "comment-list",
        "x",
        "comments",
    ],
    "id": ["author-box", "comments", "main"],
}
_WORDS = st.sampled_from(["", "Anna", "Berlin 2020", "  ", "Text mit Umlaut ü", "x<y"])


@st.composite
def _node(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(_TAGS))
    attrs = draw(st.dictionaries(st.sampled_from(sorted(_ATTRS)), st.none(), max_size=3))
    rendered = "".join(f' {k}="{draw(st.sampled_from(_ATTRS[k]))}"' for k in attrs)
    text = draw(_WORDS).replace("<", "&lt;")
    children = draw(st.lists(_node(depth + 1), max_size=3)) if depth < 3 and tag != "meta" else []
    comment = draw(st.sampled_from(["", "<!-- hidden -->"]))
    tail = draw(_WORDS).replace("<", "&lt;")
    return f"<{tag}{rendered}>{text}{comment}{''.join(children)}</{tag}>{tail}"


_pages = st.lists(_node(), min_size=1, max_size=6).map(
    lambda nodes: "<html><head><title>t</title></head><body>" + "".join(nodes) + "</body></html>"
)

_BYLINE_XPATH = (
    "//*[self::a or self::span or self::div or self::p or self::address or self::li or "
    "self::strong]"
    "[contains(@class, 'author') or contains(@class, 'Author') or contains(@class, 'byline') or "
    "contains(@class, 'Byline') or contains(@id, 'author') or contains(@class, 'autor') or "
    "contains(@class, 'auteur')]"
    "[not(ancestor::*[contains(@class, 'comment') or contains(@id, 'comment')])]"
)


@settings(max_examples=25, deadline=None)
@given(_pages)
def test_one_pass_finds_what_each_xpath_found(page: str) -> None:
    tree = parse(page)
    assert tree is not None
    found = elements.collect(tree)
    dated = tree.xpath("//*[@itemprop][not(self::meta)] | //time[@datetime] | //time[@pubdate]")
    assert found.dated == dated[:60]
    assert found.itemprop_author == tree.xpath("//*[@itemprop='author'][not(self::meta)]")[:5]
    assert found.rel_author == tree.xpath("//a[@rel='author']")[:5]
    assert (
        found.rel_tag
        == tree.xpath("//a[contains(concat(' ', normalize-space(@rel), ' '), ' tag ')]")[:30]
    )
    canonical = tree.xpath(
        "//link[@href][contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]"
    )[:1]
    assert ([found.canonical] if found.canonical is not None else []) == canonical
    assert elements.bylines(found) == tree.xpath(_BYLINE_XPATH)[:12]


def _visible_by_xpath(tree: lxml.etree._Element, limit: int = 30000) -> str:
    """The text walk it replaced: every text node not directly inside an invisible
    element, in document order."""
    body = tree.find("body")
    root = body if body is not None else tree
    pieces = []
    for node in root.xpath(".//text()"):
        if not node.is_tail and node.getparent().tag in ("script", "style", "noscript", "template"):
            continue
        pieces.append(node)
    return " ".join(" ".join(pieces).split())[:limit]


@settings(max_examples=25, deadline=None)
@given(_pages)
def test_the_text_walk_reads_what_the_text_nodes_held(page: str) -> None:
    tree = parse(page)
    assert tree is not None
    text, _ = visible_text(tree)
    assert text == _visible_by_xpath(tree)
