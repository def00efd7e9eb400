"""Plain-text documents (a saved article, a press release, a seed file).

Reads the header block (the short lines before the first paragraph): the title
on the first line, dated lines (``Publicerad 2016-05-03``, ``02-05-2016``,
``Updated: 3 May 2016``), a ``Tags:`` line, a by-line, and an outlet line (a short
name standing on its own that the text itself uses again). Then the body: the
language, the dateline of the first paragraph, and the outlets credited.
Evidence names lines as ``text:line N`` (1-based).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import ambiguity, credits, dateline
from .combine import Candidate, choose
from .dates import find_dates, past_month_mentions, url_date
from .language import detect
from .model import Evidence, Field, Rejected
from .outlet import (
    _GENERIC_KEYS,
    copyright_holders,
    fold,
    host_candidate,
    host_capped,
    registrable_domain,
    resembles_domain,
)

_PUBLISHED_LABEL = re.compile(
    r"\b(?:published|posted|publicerad|publicerat|publiserad|publisert|udgivet|offentliggjort|"
    r"veröffentlicht|erschienen|publié|publiée|publicado|publicada|pubblicato|gepubliceerd|"
    r"date|datum|fecha|data|den)\b",
    re.IGNORECASE,
)
_MODIFIED_LABEL = re.compile(
    r"\b(?:updated|last updated|modified|uppdaterad|uppdaterat|oppdatert|opdateret|aktualisiert|"
    r"geändert|mis à jour|modifié|actualizado|actualizada|atualizado|aggiornato|bijgewerkt)\b",
    re.IGNORECASE,
)
_TAGS_LINE = re.compile(
    r"^\s*(?:tags?|taggar|ämnen|nyckelord|keywords?|schlagw[öo]rte?r?|stichw[öo]rter|themen|"
    r"mots[- ]cl[ée]s|étiquettes|etiquetas|temas|palabras clave|topics?)\s*[:：]\s*(?P<tags>.+)$",
    re.IGNORECASE,
)
_AUTHOR_LINE = re.compile(
    r"^\s*(?:by|av|von|par|por|di|door|text|texte|author|authors|författare|autor|autorin|auteur)"
    r"\s*[:：]?\s+(?P<names>[^\d@:]{3,120})$",
    re.IGNORECASE,
)
# fmt: off
_SECTION_WORDS = frozenset(fold(w) for w in (
    "world", "politics", "business", "opinion", "culture", "sport", "sports", "economy",
    "science", "health", "technology", "tech", "entertainment", "lifestyle", "local", "national",
    "international", "middle", "east", "europe", "asia", "africa", "americas", "politik",
    "kultur", "wirtschaft", "wissen", "panorama", "inrikes", "utrikes", "ekonomi", "världen",
    "nöje", "debatt", "ledare", "monde", "économie", "société", "culture", "deportes", "economía",
    "internacional", "nacional", "opinión", "cultura", "comments", "share", "print", "email",
    "menu", "search", "login", "subscribe", "advertisement", "related", "more",
))
# fmt: on
_MAX_HEADER = 12


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based
    text: str

    @property
    def source(self) -> str:
        return f"text:line {self.number}"


def _paragraphs(lines: list[Line]) -> list[Line]:
    """Re-join hard-wrapped prose: a long line that does not end a sentence, followed
    by a line that starts in lower case, continues it. Numbered by the first line."""
    out: list[Line] = []
    for line in lines:
        if (
            out
            and len(out[-1].text) >= 60
            and not out[-1].text.endswith((".", "!", "?", ":", ";", '"', "”", "»", ")"))
            and line.text[:1].islower()
        ):
            out[-1] = Line(out[-1].number, f"{out[-1].text} {line.text}")
        else:
            out.append(line)
    return out


def _header_and_body(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    header: list[Line] = []
    for i, line in enumerate(lines):
        if len(header) >= _MAX_HEADER or (header and len(line.text) > 160):
            return header, lines[i:]
        header.append(line)
    return header, []


def _date_share(text: str) -> tuple[float, str | None]:
    matches = find_dates(text)
    if not matches:
        return 0.0, None
    covered = sum(m.end - m.start for m in matches)
    return covered / max(1, len(text.strip())), matches[0].raw


def split_tags(raw: str, body: str, known: set[str]) -> tuple[str, ...]:
    """``Syria, ISIS`` splits on the delimiters; ``Syria ISIS Palmyra Sky News`` (spaces
    only) is segmented keeping together names the text itself uses as one name
    (``Sky News``): a capitalised run it contains at least twice, or a credited outlet."""
    raw = raw.strip()
    if re.search(r"[,;|#/•·]", raw):
        parts = [p.strip(" #.") for p in re.split(r"[,;|#/•·]", raw)]
        return tuple(dict.fromkeys(p for p in parts if p))
    tokens = raw.split()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for n in range(min(4, len(tokens) - i), 1, -1):
            phrase = " ".join(tokens[i : i + n])
            if phrase in known or _is_name_in(phrase, body):
                out.append(phrase)
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return tuple(dict.fromkeys(t.strip(".") for t in out if t.strip(".")))


def _is_name_in(phrase: str, body: str) -> bool:
    pattern = re.compile(r"(?<![\w])" + re.escape(phrase) + r"(?![\w])")
    return len(pattern.findall(body)) >= 2


def _last_label(before: str) -> str | None:
    """Which label ("published"/"modified") stands closest before a date."""
    pub = [m.end() for m in _PUBLISHED_LABEL.finditer(before)]
    mod = [m.end() for m in _MODIFIED_LABEL.finditer(before)]
    if not pub and not mod:
        return None
    return "modified" if max(mod, default=-1) > max(pub, default=-1) else "published"


def _looks_like_outlet_line(text: str, title: str | None) -> bool:
    stripped = text.strip()
    words = stripped.split()
    if not 1 <= len(words) <= 4 or len(stripped) > 40 or stripped == title:
        return False
    if stripped[-1] in ".!?:;,)" or not stripped[0].isupper():
        return False
    if not all(re.fullmatch(r"[\w&.'’-]+", w) and any(ch.isalpha() for ch in w) for w in words):
        return False
    key = fold(stripped)
    return key not in _SECTION_WORDS and key not in _GENERIC_KEYS


_MAX_CHARS = 2_000_000  # metadata sits at the top; a huge text is read this far


def extract(text: str, *, url: str | None, bound_ctx: ambiguity.Context) -> dict[str, Field]:
    """All fields of a plain-text document (``bound_ctx`` carries the capture bound)."""
    text = text[:_MAX_CHARS]
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [Line(n, t.strip()) for n, t in enumerate(raw_lines, 1) if t.strip()]
    if not lines:
        return {}
    header, body = _header_and_body(lines)
    body_text = "\n".join(line.text for line in body) or "\n".join(line.text for line in lines[1:])
    fields: dict[str, Field] = {}

    title_line = header[0]
    share, _ = _date_share(title_line.text)
    title: str | None = None
    if share < 0.5 and 2 <= len(title_line.text) <= 300 and not _TAGS_LINE.match(title_line.text):
        title = title_line.text
        fields["title"] = Field(title, (Evidence(title_line.source, title_line.text),), 0.8)

    detection = detect(body_text or text)
    if detection.code and detection.confidence >= 0.4:
        conf = min(0.95, detection.confidence)
        fields["language"] = Field(
            detection.code, (Evidence("text-detection", detection.detail),), conf
        )

    convention, convention_raw = ambiguity.document_convention(find_dates(text))
    ctx = ambiguity.Context(
        language=detection.code if detection.confidence >= 0.5 else None,
        bound=bound_ctx.bound,
        url_date=url_date(url),
        convention=convention,
        convention_raw=convention_raw,
        mentions=tuple(past_month_mentions(body_text)),
    )
    published: list[Candidate] = []
    modified: list[Candidate] = []
    rejected: dict[str, list[Rejected]] = {"published": [], "modified": []}
    tags: Field | None = None
    authors: Field | None = None
    outlet_candidates: list[Candidate] = []
    domain = registrable_domain(url)
    for line in header[1:] if title else header:
        tag_match = _TAGS_LINE.match(line.text)
        if tag_match:
            known = {m.name for m in credits.mentions(body_text, line.source) if m.media_like}
            values = split_tags(tag_match["tags"], body_text, known)
            spaced = not re.search(r"[,;|#/•·]", tag_match["tags"])
            tags = (
                Field(values, (Evidence(line.source, line.text),), 0.65 if spaced else 0.85)
                if values
                else None
            )
            continue
        author_match = _AUTHOR_LINE.match(line.text)
        if author_match and len(line.text) < 120:
            names = tuple(
                n.strip()
                for n in re.split(r",| and | och | und | et | y ", author_match["names"])
                if n.strip()
            )
            authors = Field(names, (Evidence(line.source, line.text),), 0.7)
            continue
        share, _raw = _date_share(line.text)
        labelled_mod = _MODIFIED_LABEL.search(line.text)
        labelled_pub = _PUBLISHED_LABEL.search(line.text)
        if share >= 0.45 or ((labelled_mod or labelled_pub) and share > 0):
            for match in find_dates(line.text):
                res = ambiguity.resolve(match, ctx)
                is_mod = _last_label(line.text[: match.start]) == "modified"
                for day, reason in res.rejected:
                    rejected["modified" if is_mod else "published"].append(
                        Rejected(day.isoformat(), reason, line.source, match.raw)
                    )
                if res.value is None or (ctx.bound and res.value > ctx.bound):
                    continue
                weight = (0.85 if labelled_pub or labelled_mod else 0.75) * res.confidence
                cand = Candidate(res.value.isoformat(), line.source, line.text, weight)
                (modified if is_mod else published).append(cand)
            continue
        if _looks_like_outlet_line(line.text, title):
            name = line.text.strip()
            weight = 0.55
            if _is_name_in(name, body_text) or re.search(re.escape(name), body_text):
                weight += 0.15
            if domain and resembles_domain(name, domain[1]):
                weight += 0.2
            outlet_candidates.append(Candidate(name, line.source, line.text, weight))
    for name in copyright_holders(text[-2000:]):
        outlet_candidates.append(Candidate(name, "text:copyright", name, 0.5))
    if not outlet_candidates and domain:
        outlet_candidates.append(host_candidate(domain[0], url))

    # the header's first dated line is the publication line (the first "updated" one, the
    # modification); an unresolvable date stays unknown with both readings recorded
    for name, dated in (("published", published), ("modified", modified)):
        if dated:
            fields[name] = choose(dated[:1], extra_rejected=rejected[name])
        elif rejected[name]:
            fields[name] = Field(rejected=tuple(rejected[name]))
    if tags:
        fields["tags"] = tags
    if authors:
        fields["authors"] = authors
    outlet = host_capped(
        choose(outlet_candidates, key=lambda v: fold(v) if isinstance(v, str) else "", cap=0.9)
    )
    if outlet.value is not None:
        fields["outlet"] = outlet

    paragraphs = _paragraphs(lines)
    agency_mentions: list[credits.Mention] = []
    for para in paragraphs[1:15]:
        found = dateline.find(para.text)
        if found:
            fields["dateline"] = Field(found.place, (Evidence(para.source, found.raw),), 0.8)
            if found.agency:
                agency_mentions.append(credits.agency(found.agency, para.source, found.raw))
            break
    outlet_name = outlet.value if isinstance(outlet.value, str) else None
    fields["credited_sources"] = credits.credited(
        [(para.source, para.text) for para in paragraphs],
        title,
        exclude=outlet_name,
        extra=agency_mentions,
        title_source=title_line.source,
    )
    return fields
