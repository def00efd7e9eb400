"""The URLs a CSS text references, found the way a browser's tokenizer finds them.

Pure and linear in the length of the text: one pass of a small tokenizer that follows
CSS Syntax Level 3 (https://www.w3.org/TR/css-syntax-3/) where it matters for URLs:
comments, strings with escapes and line continuations, ``url(`` tokens in their
unquoted and quoted forms (``url(a.png)``, ``url( "a.png" )``, ``URL(a\\ b.png)``),
identifiers with escapes (``u\\72 l(x)`` is a ``url(`` too), and block nesting. It
reports, in document order:

* ``url(...)`` anywhere (kind ``image``; ``font`` inside an ``@font-face`` block);
* ``@import "x.css"`` and ``@import url(x.css)`` (kind ``stylesheet``: CSS to parse);
* strings inside ``image-set()`` / ``-webkit-image-set()`` (which are URLs there).

URLs are returned raw (escapes undone, not resolved): resolution against the sheet's
URL is the caller's job (:mod:`archive.page.requisites`). A bad url token (a quote or a
parenthesis inside an unquoted ``url(``) is dropped, as a browser drops it. Strings in
other functions (``format("woff2")``, ``local("Font")``) are not URLs and are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CssKind = Literal["image", "font", "stylesheet"]


@dataclass(frozen=True, slots=True)
class CssUrl:
    """One reference: the raw URL (escapes undone), what it is, and where it was found
    (``url()``, ``@import`` or ``image-set()``)."""

    url: str
    kind: CssKind
    found_at: Literal["url()", "@import", "image-set()"]


_WS = " \t\n"
_HEX = "0123456789abcdefABCDEF"
_MAX_CODEPOINT = 0x10FFFF
_IMAGE_SETS = frozenset({"image-set", "-webkit-image-set"})


def _preprocess(text: str) -> str:
    """CSS Syntax 3.3: newlines normalised, NUL replaced."""
    if "\r" in text or "\f" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    return text.replace("\0", "\ufffd") if "\0" in text else text


def _is_name_char(ch: str) -> bool:
    return (ch.isascii() and (ch.isalnum() or ch in "-_")) or not ch.isascii()



class _Scanner:
    """The tokenizer's cursor over preprocessed text; every method advances ``pos``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.end = len(text)

    def peek(self, offset: int = 0) -> str:
        at = self.pos + offset
        return self.text[at] if at < self.end else ""

    def valid_escape(self, offset: int = 0) -> bool:
        return self.peek(offset) == "\\" and self.peek(offset + 1) not in ("\n", "")

    def skip_comment(self) -> None:
        close = self.text.find("*/", self.pos + 2)
        self.pos = self.end if close < 0 else close + 2

    def skip_whitespace(self) -> None:
        while self.pos < self.end and self.text[self.pos] in _WS:
            self.pos += 1

    def escape(self) -> str:
        """Consume an escape; ``pos`` is just after the backslash."""
        ch = self.peek()
        if not ch:
            return "\ufffd"
        if ch in _HEX:
            start = self.pos
            while self.pos < self.end and self.pos - start < 6 and self.text[self.pos] in _HEX:
                self.pos += 1
            value = int(self.text[start:self.pos], 16)
            if self.peek() in _WS and self.peek():
                self.pos += 1
            if value == 0 or 0xD800 <= value <= 0xDFFF or value > _MAX_CODEPOINT:
                return "\ufffd"
            return chr(value)
        self.pos += 1
        return ch

    def name(self) -> str:
        out: list[str] = []
        while self.pos < self.end:
            ch = self.text[self.pos]
            if _is_name_char(ch):
                # a run of plain name characters at once: linear, not char by char appends
                start = self.pos
                while self.pos < self.end and _is_name_char(self.text[self.pos]):
                    self.pos += 1
                out.append(self.text[start:self.pos])
            elif self.valid_escape():
                self.pos += 1
                out.append(self.escape())
            else:
                break
        return "".join(out)

    def string(self, quote: str) -> str | None:
        """Consume a string; ``pos`` is just after the opening quote. None if bad (an
        unescaped newline), as a browser drops it."""
        out: list[str] = []
        while self.pos < self.end:
            ch = self.text[self.pos]
            if ch == quote:
                self.pos += 1
                return "".join(out)
            if ch == "\n":
                return None  # bad string: the newline is left for the next token
            if ch == "\\":
                self.pos += 1
                nxt = self.peek()
                if nxt == "\n":
                    self.pos += 1  # line continuation
                elif nxt:
                    out.append(self.escape())
                continue
            start = self.pos
            while self.pos < self.end and self.text[self.pos] not in (quote, "\n", "\\"):
                self.pos += 1
            out.append(self.text[start:self.pos])
        return "".join(out)  # EOF ends a string (a parse error, but the value stands)

    def url_body(self) -> str | None:
        """After ``url(``: a quoted or unquoted URL and the closing parenthesis.
        None for a bad url token (which is consumed up to its closing parenthesis)."""
        self.skip_whitespace()
        quote = self.peek()
        if quote in ("'", '"'):
            self.pos += 1
            value = self.string(quote)
            self.skip_whitespace()
            if value is None or self.peek() not in (")", ""):
                self._skip_bad_url()
                return None
            self.pos += 1
            return value
        out: list[str] = []
        while self.pos < self.end:
            ch = self.text[self.pos]
            if ch == ")":
                self.pos += 1
                return "".join(out)
            if ch in _WS:
                self.skip_whitespace()
                if self.peek() in (")", ""):
                    self.pos += 1
                    return "".join(out)
                self._skip_bad_url()
                return None
            if ch in "\"'(" or (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
                self._skip_bad_url()
                return None
            if ch == "\\":
                if self.valid_escape():
                    self.pos += 1
                    out.append(self.escape())
                    continue
                self._skip_bad_url()
                return None
            start = self.pos
            while (self.pos < self.end and self.text[self.pos] not in ")\\\"'( \t\n"
                   and ord(self.text[self.pos]) >= 0x20 and self.text[self.pos] != "\x7f"):
                self.pos += 1
            out.append(self.text[start:self.pos])
        return "".join(out)  # EOF inside url(: a parse error, the value stands

    def _skip_bad_url(self) -> None:
        while self.pos < self.end:
            ch = self.text[self.pos]
            self.pos += 1
            if ch == ")":
                return
            if ch == "\\" and self.peek() not in ("\n", ""):
                self.pos += 1


# Disjoint alternatives and atomic groups: an identifier matches in exactly one way, so
# a long run of name characters with no "(" after it costs linear time, never the
# exponential backtracking of overlapping classes (\w also matches non-ASCII letters).
_ESC = r"(?>\\(?:[0-9a-fA-F]{1,6}[ \t\n]?|[^\n0-9a-fA-F]))"
_NAME_START = r"(?:[A-Za-z_]|[^\x00-\x7f]|" + _ESC + ")"
_NAME_CHAR = r"(?:[-0-9A-Za-z_]|[^\x00-\x7f]|" + _ESC + ")"
# The next token that matters, found by the regex engine rather than a Python loop over
# every character: a comment, a string, an at-keyword, a function name (an identifier
# right before "(", not the tail of a longer identifier, hash or number), a bracket or
# semicolon, or an escape (so "\{" is not taken for a brace).
_NEXT = re.compile(
    r"(?P<comment>/\*)"
    r"|(?P<quote>[\"'])"
    r"|@(?P<at>-?-?" + _NAME_START + _NAME_CHAR + "*+)"
    r"|(?<![-0-9A-Za-z_#\\@]|[^\x00-\x7f])(?P<function>(?:--|-?" + _NAME_START + ")"
    + _NAME_CHAR + r"*+)\("
    r"|(?P<punct>[{}();])"
    r"|\\.",
    re.DOTALL,
)


# What every URL reference starts with, lower-cased and unescaped: a ``url(`` token, an
# ``@import`` keyword, or an ``image-set(`` (or ``-webkit-image-set(``) function.
_MARKERS = ("url(", "@import", "image-set(")


def may_reference(text: str) -> bool:
    """False only when ``text`` cannot hold a URL reference: it has none of
    :data:`_MARKERS` in any letter case, and no backslash (an escape could spell one,
    ``u\\72 l(``). Most inline styles (``style="color:red"``, a page's critical CSS)
    are answered here, without tokenizing."""
    if "\\" in text:
        return True
    lowered = text.lower()
    return any(marker in lowered for marker in _MARKERS)


def css_urls(text: str) -> list[CssUrl]:
    """Every URL reference in a style sheet, a ``<style>`` block or a ``style``
    attribute, in document order, duplicates kept (the caller deduplicates after
    resolving). Never raises; runs in time linear in ``len(text)``."""
    return scan_urls(text) if may_reference(text) else []


def scan_urls(text: str) -> list[CssUrl]:
    """:func:`css_urls` without its first look (:func:`may_reference`): the tokenizer
    always runs."""
    scan = _Scanner(_preprocess(text))
    found: list[CssUrl] = []
    blocks: list[bool] = []          # open {} blocks: True for an @font-face body
    font_blocks = 0                  # how many of them are @font-face bodies
    functions: list[str] = []        # open ( ) groups: the function's name, "" for a plain (
    pending_font_face = False        # saw @font-face, its block not opened yet
    importing = False                # saw @import, waiting for its string or url(
    while True:
        match = _NEXT.search(scan.text, scan.pos)
        if match is None:
            return found
        if importing and scan.text[scan.pos:match.start()].strip(_WS):
            importing = False  # something else came first: not an @import's URL
        scan.pos = match.end()
        kind = match.lastgroup
        if kind == "comment":
            scan.pos = match.start()
            scan.skip_comment()
        elif kind == "quote":
            value = scan.string(match.group())
            if value is not None and importing:
                found.append(CssUrl(value, "stylesheet", "@import"))
            elif value is not None and functions and functions[-1] in _IMAGE_SETS:
                found.append(CssUrl(value, "image", "image-set()"))
            importing = False
        elif kind == "at":
            keyword = _unescape(match.group("at")).lower()
            importing = keyword == "import" and not blocks
            pending_font_face = keyword == "font-face"
        elif kind == "function":
            name = _unescape(match.group("function")).lower()
            if name == "url":
                value = scan.url_body()
                if value is not None:
                    if importing:
                        found.append(CssUrl(value, "stylesheet", "@import"))
                    else:
                        found.append(CssUrl(value, "font" if font_blocks else "image", "url()"))
                importing = False
            else:
                functions.append(name)
        elif kind == "punct":
            ch = match.group()
            if ch == "(":
                functions.append("")
            elif ch == ")":
                if functions:
                    functions.pop()
            elif ch == "{":
                blocks.append(pending_font_face)
                font_blocks += pending_font_face
                pending_font_face = importing = False
                functions.clear()
            elif ch == "}":
                if blocks:
                    font_blocks -= blocks.pop()
                pending_font_face = importing = False
                functions.clear()
            else:
                pending_font_face = importing = False


def _unescape(name: str) -> str:
    """An identifier with its escapes undone (``u\\72 l`` is ``url``)."""
    return _Scanner(name).name() if "\\" in name else name
