"""Outlets an article credits as its source: "according to X", "X reports",
"..., says X" in a headline, "enligt X", "som X tagit del av", "laut X",
"selon X", "según X" and the like (English, Swedish, German, French, Spanish).

A capitalised name after (or before) a cue is only taken as an outlet when at
least one of its mentions looks like one: a media word in it (News, Times,
Zeitung, Tidningen ...), a well-known agency or broadcaster, or a media
descriptor before it ("the broadcaster X", "tidningen X"). Being credited again
never makes a name an outlet: persons quoted ("according to John Smith"), however
often, are left out. Repetition only raises the confidence (0.65 for a name
credited once, 0.75 twice, 0.85 three times or more), and the list is as
confident as its least credited name.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .model import EXTRACTOR_ID, Evidence, Field
from .outlet import fold

# fmt: off
_AFTER_CUES = [
    "according to", "as reported by", "(?:first )?reported by", "obtained by", "seen by",
    "cited by", "quoted by", "citing", "told", "reports", "in an interview with", "enligt",
    "uppger för", "uppgav för", "säger till", "sade till", "sa till", "berättar för",
    "rapporterar", "skriver", "avslöjar", "uppger", "meddelar", "intervju med", "laut",
    "berichtet(?:e)?", "meldet(?:e)?", "schreibt",
    "nach (?:Angaben|Informationen|Recherchen) (?:des|der|von|vom)", "gegenüber",
    "sagte (?:dem|der|den)", "selon", "d['’]après", "rapporte", "a rapporté", "révèle",
    "a révélé", "cité par", "(?:a )?(?:déclaré|indiqué|confié|affirmé) à", "auprès de", "según",
    "de acuerdo con", "informa", "informó", "publica", "publicó", "reveló", "citado por",
    "(?:dijo|declaró|afirmó|aseguró) a",
]
# fmt: on
# fmt: off
_BEFORE_CUES = [
    "reports?", "reported", "has learned", "is reporting", "has reported", "said", "says",
    "revealed", "reveals", "obtained", "wrote", "writes", "tagit del av", "har tagit del av",
    "rapporterar", "avslöjar", "skriver", "berichtet(?:e)?", "meldet(?:e)?", "schreibt",
    "zufolge", "rapporte", "révèle", "a révélé", "a appris", "informó", "informa", "publicó",
    "reveló",
]
# fmt: on
_HEADLINE = re.compile(
    r"[,:–—-]\s*(?:says|say|reports|report|according to|enligt|laut|selon|según)\s+(.+?)\s*$",
    re.IGNORECASE,
)


def _phrases(cue: str) -> list[str]:
    """The literal phrases, lower-cased, that one cue of the lists above stands for: its
    ``(?:a|b)`` groups, ``[ab]`` classes and ``?`` (after a group or a letter) expanded.
    That is all the pattern syntax the lists use; anything else is a literal."""

    def sequence(i: int) -> tuple[list[str], int]:
        out = [""]
        while i < len(cue) and cue[i] not in "|)":
            if cue.startswith("(?:", i):
                choices, i = alternatives(i + 3)
                i += 1  # its ")"
            elif cue[i] == "[":
                end = cue.index("]", i)
                choices, i = list(cue[i + 1:end]), end + 1
            else:
                choices, i = [cue[i]], i + 1
            if cue.startswith("?", i):
                choices, i = [*choices, ""], i + 1
            out = [head + tail for head in out for tail in choices]
        return out, i

    def alternatives(i: int) -> tuple[list[str], int]:
        found: list[str] = []
        while True:
            part, i = sequence(i)
            found += part
            if not cue.startswith("|", i):
                return found, i
            i += 1

    phrases, end = alternatives(0)
    if end != len(cue):
        raise ValueError(f"unbalanced parenthesis in the credit cue {cue!r}")
    return [p.lower() for p in phrases]


def _trie(phrases: Iterable[str]) -> str:
    """One pattern matching exactly ``phrases``, as a trie: ``report(?:ed|s)?``. Python's
    regex engine tries the branches of an alternation one by one, so 76 cues cost 76
    attempts at every word; the trie costs one per distinct first letter, then follows
    the one that fits (2.4x faster on a 100 KB page). A phrase that extends another is
    tried first, as the lists order them ("uppger för" before "uppger")."""
    root: dict[str, Any] = {}
    for phrase in phrases:
        node = root
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}  # a phrase ends here

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        if "" not in node:
            return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + "|".join(branches) + ")?"  # greedy: the longer phrase first

    return pattern(root)


def _cue_pattern(cues: list[str]) -> str:
    """The pattern of a cue list: a lookahead for the letters its phrases start with
    (it skips the trie wherever a word starts with another letter: a third off the scan
    of a 100 KB page), then the trie of its phrases."""
    phrases = [phrase for cue in cues for phrase in _phrases(cue)]
    firsts = "".join(sorted({re.escape(phrase[0]) for phrase in phrases}))
    return f"(?=[{firsts}])" + _trie(phrases)


_AFTER = re.compile(r"(?<![\w])" + _cue_pattern(_AFTER_CUES) + r"\s+", re.IGNORECASE)
# Starts with "\s" so that the regex engine skips to the next space; "(?<!\s\s)" starts a
# match only at the first space of a run and "\s*+" never gives spaces back, so a long
# run of spaces is crossed once (with "\s\s*" it was crossed again from each of its
# spaces: 26 ms a page of whitespace-heavy text, 1 ms now)
_BEFORE = re.compile(r"\s(?<!\s\s)\s*+" + _cue_pattern(_BEFORE_CUES) + r"(?![\w])",
                     re.IGNORECASE)
_TOKEN = re.compile(r"[\w][\w'’&.+-]*|[«»„“”\"']")
# fmt: off
_ARTICLES = frozenset({
    "die", "los", "der", "the", "dem", "den", "la", "des", "l'", "das", "las", "an", "el", "det",
    "a", "il", "les", "lo", "le",
})
# fmt: on
# fmt: off
_CONNECTORS = frozenset({
    "for", "&", "am", "des", "di", "du", "für", "de", "the", "y", "of", "im", "and", "del",
})
# fmt: on
_QUOTES = frozenset("«»„“”\"'")
_MEDIA_WORDS = frozenset(
    [
        "news",
        "times",
        "post",
        "journal",
        "herald",
        "tribune",
        "telegraph",
        "guardian",
        "gazette",
        "daily",
        "mail",
        "express",
        "press",
        "agency",
        "agence",
        "agencia",
        "agenzia",
        "radio",
        "tv",
        "television",
        "televisión",
        "télévision",
        "broadcasting",
        "broadcast",
        "channel",
        "network",
        "magazine",
        "review",
        "chronicle",
        "observer",
        "independent",
        "standard",
        "insider",
        "wire",
        "media",
        "zeitung",
        "rundschau",
        "allgemeine",
        "spiegel",
        "stern",
        "kurier",
        "nachrichten",
        "anzeiger",
        "blatt",
        "tagblatt",
        "rundfunk",
        "fernsehen",
        "presse",
        "monde",
        "figaro",
        "libération",
        "parisien",
        "echos",
        "matin",
        "país",
        "mundo",
        "vanguardia",
        "diario",
        "periódico",
        "gaceta",
        "noticias",
        "nación",
        "clarín",
        "expressen",
        "aftonbladet",
        "dagens",
        "nyheter",
        "svenska",
        "dagbladet",
        "posten",
        "tidning",
        "tidningen",
        "kuriren",
        "bladet",
        "economist",
        "bild",
        "welt",
        "focus",
        "tagesschau",
        "tagesspiegel",
        "handelsblatt",
        "correspondent",
        "sun",
        "mirror",
        "star",
        "globe",
    ]
)
_KNOWN = frozenset(
    fold(n)
    for n in """
Reuters|AFP|AP|Associated Press|dpa|EFE|ANSA|TT|NTB|Ritzau|Xinhua|TASS|RIA Novosti|Interfax|Kyodo|
Yonhap|Bloomberg|CNN|BBC|NBC|CBS|ABC|Fox|NPR|PBS|MSNBC|CNBC|ARD|ZDF|ORF|SRF|RTL|SVT|NRK|DR|YLE|RTVE|
RAI|France 24|Al Jazeera|Al Arabiya|Politico|Axios|Bellingcat|ProPublica|Vice|Wired|Forbes|Fortune|
Haaretz|Ynet|Rudaw|Anadolu|IRNA|Sputnik|RT|Deutsche Welle|DW|Euronews|Le Monde|El País|Der Spiegel|
Spiegel|Süddeutsche|FAZ|Die Zeit|Zeit Online|Bild|Le Figaro|Libération|Mediapart|BFMTV|TF1|
El Mundo|ABC|La Vanguardia|Clarín|Aftonbladet|Expressen|Sveriges Radio|Ekot|Dagens Nyheter|DN|
Svenska Dagbladet|SvD|Göteborgs-Posten|Sky|Sky News|ITV|Channel 4|The Guardian|The Times|
New York Times|Washington Post|Wall Street Journal|Financial Times|The Economist|Axel Springer|
Tagesschau|Heise|Golem|Nikkei|Asahi|NHK|Yomiuri|Mainichi|Xinhua|CCTV|Global Times|Kommersant|
Vedomosti|Meduza|Novaya Gazeta|Ukrinform|Kyiv Independent|Times of India|Hindustan Times|NDTV|
Dawn|Gulf News|Arab News|The National|Middle East Eye|Al-Monitor|Kurdistan 24|Asharq Al-Awsat
""".replace("\n", "").split("|")
)
_DESCRIPTOR_WORDS = (
    r"(?:newspaper|daily|broadcaster|channel|news agency|agency|outlet|magazine|website|"
    r"tabloid|network|"
    r"tidningen|tv-kanalen|kanalen|nyhetsbyrån|radiokanalen|sajten|"
    r"zeitung|magazin|sender|nachrichtenagentur|portal|"
    r"journal|quotidien|l['’]agence|chaîne|hebdomadaire|"
    r"diario|periódico|agencia|cadena|revista)"
)
# Descriptors are common nouns, matched in lower case: "Journal" in "the Press and
# Journal" is part of a name, "journal" in "le journal Le Monde" describes one.
_DESCRIPTORS = re.compile(_DESCRIPTOR_WORDS + r"\s*$")
# "according to [files obtained by] British media outlet X": words, then a descriptor, then the name
_DESCRIPTOR_PREFIX = re.compile(r"(?:[\w'’-]+\s+){0,3}?" + _DESCRIPTOR_WORDS + r"\s+")


@dataclass(frozen=True, slots=True)
class Mention:
    name: str
    where: str  # evidence source, e.g. "text:line 3"
    raw: str
    media_like: bool
    at: int = -1  # offset in the text it was found in, for document order


def _clean_name(tokens: list[str]) -> str | None:
    while tokens and (tokens[-1] in _CONNECTORS or tokens[-1] in _QUOTES):
        tokens = tokens[:-1]
    while tokens and tokens[0] in _QUOTES:
        tokens = tokens[1:]
    if not tokens:
        return None
    name = " ".join(tokens).strip(".,:;'’\"")
    name = re.sub(r"(?:['’]s|['’])$", "", name)
    return name if len(name) >= 2 else None


def _name_after(text: str, pos: int) -> str | None:
    window = text[pos : pos + 120].split("\n", 1)[0]
    tokens = [m.group(0) for m in _TOKEN.finditer(window)]
    out: list[str] = []
    i = 0
    if tokens and tokens[0].lower() in _ARTICLES and len(tokens) > 1:
        if tokens[0][0].isupper() and tokens[0].lower() not in ("a", "an"):
            out.append(tokens[0])  # "Le Monde", "The Times": the article belongs to the name
        i = 1
    while i < len(tokens) and tokens[i] in _QUOTES:
        i += 1
    while i < len(tokens) and len(out) < 6:
        tok = tokens[i]
        if (
            tok[0].isupper()
            or (tok[0].isdigit() and out)
            or (tok in _CONNECTORS and out and i + 1 < len(tokens) and tokens[i + 1][:1].isupper())
        ):
            out.append(tok)
        else:
            break
        if tok.endswith((".", ",", ":")) and not re.fullmatch(r"(?:[A-Z]\.)+", tok):
            break
        i += 1
    if not any(t[0].isupper() for t in out):
        return None
    return _clean_name(out)


def _name_before(text: str, pos: int) -> str | None:
    window = text[max(0, pos - 120) : pos].rsplit("\n", 1)[-1]
    tokens = [m.group(0) for m in _TOKEN.finditer(window)]
    out: list[str] = []
    while tokens and len(out) < 6:
        tok = tokens.pop()
        if tok in _QUOTES and not out:
            continue
        if (
            out
            and tok.endswith((".", "!", "?", ":", ";", ","))
            and not re.fullmatch(r"(?:[A-Z]\.)+", tok)
        ):
            break  # the previous sentence ends here
        if tok[0].isupper() or (tok in _CONNECTORS and out and tokens and tokens[-1][:1].isupper()):
            out.insert(0, tok)
        else:
            break
    return _clean_name(out)


def _media_like(name: str, preceding: str) -> bool:
    words = {w.casefold() for w in re.findall(r"[\w]+", name)}
    if words & _MEDIA_WORDS or fold(name) in _KNOWN:
        return True
    return bool(_DESCRIPTORS.search(preceding[-40:]))


def _context(text: str, start: int, end: int) -> str:
    left = max(0, start - 40)
    right = min(len(text), end + 60)
    line_start = text.rfind("\n", left, start) + 1 or left
    line_end = text.find("\n", end, right)
    return " ".join(text[max(left, line_start) : right if line_end < 0 else line_end].split())


def mentions(text: str, where: str | Callable[[int], tuple[str, int, int]]) -> list[Mention]:
    """Credit cues in ``text``. ``where`` names the place, or maps an offset to
    (place, start, end) of the segment it falls in when several are joined."""

    def place(at: int) -> tuple[str, str]:
        if isinstance(where, str):
            return where, text
        name, start, end = where(at)
        return name, text[start:end]

    found: list[Mention] = []
    for m in _AFTER.finditer(text):
        pos, described = m.end(), False
        prefix = _DESCRIPTOR_PREFIX.match(text, pos)
        if prefix and not any(ch in prefix.group(0) for ch in ".,;:!?\n"):
            pos, described = prefix.end(), True
        name = _name_after(text, pos)
        if name:
            source, _ = place(m.start())
            found.append(
                Mention(
                    name,
                    source,
                    _context(text, m.start(), pos + len(name)),
                    described or _media_like(name, ""),
                    m.start(),
                )
            )
    for m in _BEFORE.finditer(text):
        name = _name_before(text, m.start())
        if name and name.casefold() not in _ARTICLES:
            at = text.rfind(name, max(0, m.start() - 130), m.start() + 1)
            source, _ = place(m.start())
            found.append(
                Mention(
                    name,
                    source,
                    _context(text, at if at >= 0 else m.start(), m.end()),
                    _media_like(name, text[max(0, at - 40) : max(at, 0)]),
                    m.start(),
                )
            )
    found.sort(key=lambda mention: mention.at)
    return found


def headline_mentions(title: str | None, where: str = "title") -> list[Mention]:
    if not title:
        return []
    m = _HEADLINE.search(title)
    if not m:
        return []
    name = _name_after(m.group(1), 0)
    if not name:
        return []
    return [Mention(name, where, title, _media_like(name, ""))]


def credited(
    segments: list[tuple[str, str]],
    title: str | None,
    *,
    exclude: str | None = None,
    extra: list[Mention] | None = None,
    title_source: str = "title",
) -> Field:
    """``segments``: (evidence source, text) pairs in document order; ``title`` is
    checked for a headline credit ("..., says Sky News"), cited as ``title_source``."""
    all_mentions = headline_mentions(title, title_source) + list(extra or [])
    starts: list[int] = []
    places: list[str] = []
    parts: list[str] = []
    offset = 0
    for where, text in segments:
        starts.append(offset)
        places.append(where)
        parts.append(text)
        offset += len(text) + 1
    joined = "\n".join(parts)

    def locate(at: int) -> tuple[str, int, int]:
        i = max(0, bisect_right(starts, at) - 1)
        return places[i], starts[i], starts[i] + len(parts[i])

    if joined:
        all_mentions.extend(mentions(joined, locate))
    by_key: dict[str, list[Mention]] = {}
    for mention in all_mentions:
        key = fold(mention.name)
        if not key or (exclude and key == fold(exclude)):
            continue
        by_key.setdefault(key, []).append(mention)
    names: list[tuple[str, list[Mention]]] = []
    for group in by_key.values():
        if not any(m.media_like for m in group):
            continue  # a person or an organisation quoted, not an outlet
        display = max(
            (m.name for m in group), key=lambda n: (sum(x.name == n for x in group), len(n))
        )
        names.append((display, group))
    # a name credited once as "Sky" and elsewhere as "Sky News": keep the longer
    keys = {fold(n) for n, _ in names}
    names = [
        (n, g) for n, g in names if not any(k != fold(n) and k.startswith(fold(n)) for k in keys)
    ]
    if not names:
        return Field()
    names.sort(key=lambda item: -len(item[1]))
    evidence = tuple(
        Evidence(m.where, m.raw, EXTRACTOR_ID) for _, group in names for m in group[:3]
    )
    # the list is only as right as its least supported name
    confidence = min(min(0.9, 0.55 + 0.1 * min(len(group), 3)) for _, group in names)
    return Field(tuple(n for n, _ in names), evidence, round(confidence, 3))


def agency(name: str, where: str, raw: str) -> Mention:
    """A wire agency named in a dateline ("BERLIN (dpa) -"): credited as a source."""
    return Mention(name, where, raw, True)
