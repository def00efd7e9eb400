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
URL is the caller's job (:mod:`archive.requisites`). A bad url token (a quote or a
parenthesis inside an unquoted ``url(``) is dropped, as a browser drops it. Strings in
other functions (``format("woff2")``, ``local("Font")``) are not URLs and are ignored.
"""

from __future__ import annotations

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


def _is_name_start(ch: str) -> bool:
    return (ch.isascii() and (ch.isalpha() or ch == "_")) or not ch.isascii()


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

    def starts_ident(self) -> bool:
        first = self.peek()
        if first == "-":
            second = self.peek(1)
            return _is_name_start(second) or second == "-" or self.valid_escape(1)
        return _is_name_start(first) or self.valid_escape()

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


def css_urls(text: str) -> list[CssUrl]:
    """Every URL reference in a style sheet, a ``<style>`` block or a ``style``
    attribute, in document order, duplicates kept (the caller deduplicates after
    resolving). Never raises; runs in time linear in ``len(text)``."""
    scan = _Scanner(_preprocess(text))
    found: list[CssUrl] = []
    blocks: list[bool] = []          # open {} blocks: True for an @font-face body
    font_blocks = 0                  # how many of them are @font-face bodies
    functions: list[str] = []        # open ( ) groups: the function's name, "" for a plain (
    pending_font_face = False        # saw @font-face, its block not opened yet
    importing = False                # saw @import, waiting for its string or url(
    while scan.pos < scan.end:
        ch = scan.text[scan.pos]
        if ch == "/" and scan.peek(1) == "*":
            scan.skip_comment()
            continue
        if ch in _WS:
            scan.skip_whitespace()
            continue
        if ch in ("'", '"'):
            scan.pos += 1
            value = scan.string(ch)
            if value is not None and importing:
                found.append(CssUrl(value, "stylesheet", "@import"))
            elif value is not None and functions and functions[-1] in _IMAGE_SETS:
                found.append(CssUrl(value, "image", "image-set()"))
            importing = False
            continue
        if ch == "@" and (scan.pos + 1 < scan.end):
            scan.pos += 1
            if scan.starts_ident():
                keyword = scan.name().lower()
                importing = keyword == "import" and not blocks
                pending_font_face = keyword == "font-face"
            continue
        if scan.starts_ident():
            name = scan.name()
            if scan.peek() == "(":
                scan.pos += 1
                lower = name.lower()
                if lower == "url":
                    value = scan.url_body()
                    if value is not None:
                        if importing:
                            found.append(CssUrl(value, "stylesheet", "@import"))
                        else:
                            found.append(CssUrl(value, "font" if font_blocks else "image",
                                                "url()"))
                    importing = False
                else:
                    functions.append(lower)
            else:
                importing = False
            continue
        if ch == "#" or ch.isdigit():
            # a hash or a number with its unit: "#url(" and "1url(" are no url( token
            scan.pos += 1
            while scan.pos < scan.end and (scan.text[scan.pos].isdigit()
                                           or scan.text[scan.pos] == "."):
                scan.pos += 1
            if scan.starts_ident() or (ch == "#" and _is_name_char(scan.peek())):
                scan.name()
            importing = False
            continue
        scan.pos += 1
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
        elif ch == ";":
            pending_font_face = importing = False
        else:
            importing = False  # anything else ends an @import's prelude
    return found
