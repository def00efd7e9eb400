"""Citations of a capture in the formats researchers paste into papers.

A citation is only worth something if a reader can get back to the exact bytes cited,
so every format carries the original URL, the capture time, the **content hash** and
the **capture id** (either hash resolves to the capture; PRODUCT.md §2). Title,
authors, outlet and publication date come from the latest stored metadata version of
the capture and are left out when unknown: a citation never guesses.

Formatting is pure (:class:`CitationData` in, text out) and deterministic: the same
capture and metadata always give byte-identical output, with no export-time
timestamps, so a citation can itself be hashed or diffed. Database access is confined
to :func:`load_citation_data` and :func:`load_citation_data_many` (:func:`citation_of`
puts one together from what was read). A withdrawn capture
(a deletion event in the custody log) says so in every format.

Escaping, per format:

* BibTeX: ``\\ { } $ & % # _ ^ ~ < >`` become LaTeX commands whose braces stay balanced
  (BibTeX counts every brace, escaped or not, so ``\\{`` would unbalance a field);
  titles are double-braced so styles keep their capitalisation; URLs get the
  characters RFC 3986 forbids in a URL percent-encoded and ``%``/``#`` backslashed,
  which ``\\url`` and biblatex both read back as the literal character.
* RIS: one tag per line, so newlines and other control characters in values become
  spaces; lines end with CR LF as the RIS specification asks.
* HTML (Robust Link): attribute values and link text escaped with
  :func:`html.escape` (``& < > " '``).
* CSL-JSON: JSON string escaping by the serialiser.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, func, select

from archive.core.hashing import PREFIX, hex_part
from archive.errors import ConfigError, NotFoundError
from archive.ledger.custody import Withdrawal, withdrawals
from archive.ledger.db import in_chunks
from archive.ledger.queries import ListedCapture
from archive.ledger.tables import captures, metadata_versions
from archive.metadata.store import MetadataVersion

Format = Literal["text", "bibtex", "csl-json", "ris", "robust-link"]
FORMATS: tuple[Format, ...] = ("text", "bibtex", "csl-json", "ris", "robust-link")

_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True)
class CitationData:
    """What a citation of one capture says. Optional fields are ``None``/empty when
    unknown (no metadata stored, or the extractor found no value)."""

    capture_id: str  # sha256:<hex> of the canonical manifest
    content_hash: str | None  # sha256:<hex> of the body as a reader gets it
    url: str  # the URL that was requested (or the document's original URL / urn)
    captured_at: str  # ISO 8601 UTC, as stored (microseconds, Z)
    archive: str  # the archive's name (setting ARCHIVE_NAME; never the host name)
    final_url: str | None = None
    title: str | None = None
    authors: tuple[str, ...] = ()
    outlet: str | None = None
    published: str | None = None  # YYYY-MM-DD
    version_url: str | None = None  # the archived copy's public URL (ARCHIVE_PUBLIC_URL)
    withdrawn: str | None = None  # "<time>: <reason>" of the capture's deletion event

    def __post_init__(self) -> None:
        if not self.capture_id.startswith(PREFIX):
            raise ValueError(f"capture id {self.capture_id!r} must be written sha256:<hex>")
        if self.published is not None and not _DATE_RE.match(self.published):
            raise ValueError(f"publication date {self.published!r} is not YYYY-MM-DD")
        if not _DATE_RE.match(self.captured_at):
            raise ValueError(f"capture time {self.captured_at!r} is not ISO 8601")

    @property
    def key(self) -> str:
        """A stable citation key (BibTeX key, CSL id): derived from the capture id only."""
        return "capture-" + hex_part(self.capture_id)[:16]

    @property
    def capture_date(self) -> str:
        """``YYYY-MM-DD`` of the capture (the access date in citation styles)."""
        return self.captured_at[:10]

    @property
    def version_datetime(self) -> str:
        """Capture time to the second, ``YYYY-MM-DDThh:mm:ssZ`` (W3C-DTF, as Memento tools
        parse it); the exact time is in the manifest the capture id commits to."""
        return self.captured_at[:19] + "Z"

    @property
    def redirected(self) -> bool:
        return bool(self.final_url) and self.final_url != self.url

    @property
    def archived_hash(self) -> str:
        """The hash that names the archived copy in a style's archive fields: the content
        hash (what a reader re-hashes), else the capture id."""
        return self.content_hash or self.capture_id


# ------------------------------------------------------------------------- helpers

def _clean(text: str) -> str:
    """One line: control characters and runs of whitespace become single spaces."""
    return _WS_RE.sub(" ", _CONTROL_RE.sub(" ", text)).strip()


def _date_parts(date: str) -> list[int]:
    m = _DATE_RE.match(date)
    if m is None:
        raise ValueError(f"not a date: {date!r}")
    return [int(m.group(1)), int(m.group(2)), int(m.group(3))]


def _join_names(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _archive_note(d: CitationData) -> str:
    parts = [f"Archived {d.captured_at} by {_clean(d.archive)}"]
    if d.redirected and d.final_url:
        parts.append(f"redirected to {_clean(d.final_url)}")
    parts.append(f"content hash {d.content_hash or 'unknown'}")
    parts.append(f"capture id {d.capture_id}")
    if d.withdrawn:
        parts.append(f"withdrawn from the archive {_clean(d.withdrawn)}")
    return "; ".join(parts)


# ----------------------------------------------------------------------- names

# Lower-case words that belong to the family name ("Ludwig van Beethoven").
_PARTICLES = frozenset({"af", "al", "av", "bin", "da", "das", "de", "del", "della", "den",
                        "der", "di", "dos", "du", "el", "la", "le", "ten", "ter", "van",
                        "von", "zu"})
# Words that make a byline a group, desk or organisation, not a person.
_ORG_WORDS = frozenset({
    "agence", "agency", "ap", "associated", "bureau", "co", "company", "correspondent",
    "correspondents", "council", "daily", "department", "desk", "digital", "editorial",
    "editors", "foundation", "gazette", "gmbh", "group", "herald", "inc", "institute",
    "journal", "llc", "ltd", "media", "ministry", "network", "news", "newsroom", "nyheter",
    "office", "online", "post", "press", "radio", "redaktion", "redacción", "rédaction",
    "reporters", "service", "society", "staff", "team", "television", "times", "tribune",
    "tv", "university", "wire", "writers", "zeitung"})
_NAME_WORD = re.compile(r"^[^\W\d_](?:[^\W\d_]|[-'\u2019.])*$")


def person_name(name: str, outlet: str | None = None) -> tuple[str, str] | None:
    """``(family, given)`` when ``name`` is plainly a person's name written "Given
    Family" (2 to 4 capitalised words, lower-case particles such as "van" going with
    the family name) or "Family, Given"; ``None`` for anything else (an organisation, a
    desk, a one-word or all-capitals byline, a script without capitals, the outlet
    itself), which citations keep whole as a literal name. Splitting is a reading of
    the string, so when it is not plain the name is left as written."""
    text = _clean(name)
    if outlet and text.casefold() == _clean(outlet).casefold():
        return None
    family_part, comma, given_part = text.partition(",")
    if comma:
        family_words, given_words = family_part.split(), given_part.split()
        if "," in given_part or not (1 <= len(family_words) <= 3 and
                                     1 <= len(given_words) <= 3):
            return None
        words = family_words + given_words
    else:
        words = text.split()
        if not 2 <= len(words) <= 4:
            return None
    for w in words:
        folded = w.casefold().rstrip(".")
        if not _NAME_WORD.match(w) or folded in _ORG_WORDS:
            return None
        if w.casefold() not in _PARTICLES and not w[0].isupper():
            return None  # "and", "of", a lower-case word: not a plain name
        if len(w) > 1 and w.isupper() and not w.endswith("."):
            return None  # an acronym ("BBC"), or a name we cannot case
    if comma:
        return " ".join(family_words), " ".join(given_words)
    i = len(words) - 1
    while i > 1 and words[i - 1].casefold() in _PARTICLES:
        i -= 1
    if words[0].casefold() in _PARTICLES:
        return None
    return " ".join(words[i:]), " ".join(words[:i])


# ---------------------------------------------------------------------- plain text

def format_text(d: CitationData) -> str:
    """A one-line human citation: who, what, where, when, then the archival facts."""
    parts: list[str] = []
    if d.authors:
        parts.append(_join_names([_clean(a) for a in d.authors]) + ".")
    if d.title:
        parts.append(f"\u201c{_clean(d.title)}.\u201d")
    venue = ", ".join(x for x in (_clean(d.outlet) if d.outlet else None, d.published) if x)
    if venue:
        parts.append(venue + ".")
    parts.append(_clean(d.url) + ".")
    parts.append(_archive_note(d) + ".")
    return " ".join(parts)


# -------------------------------------------------------------------------- BibTeX

_BIBTEX_SPECIALS = {
    "\\": r"\textbackslash{}", "{": r"\textbraceleft{}", "}": r"\textbraceright{}",
    "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_",
    "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}",  # OT1 fonts print these as ¡ and ¿
}
_BIBTEX_RE = re.compile(r"[\\{}$&%#_^~<>]")
# Characters RFC 3986 never allows raw in a URL: percent-encoding them changes nothing
# a browser sees and keeps LaTeX and BibTeX brace counting safe.
_URL_UNSAFE = {c: f"%{ord(c):02X}" for c in ' "<>\\^`{|}'}


def bibtex_escape(text: str) -> str:
    """Escape ``text`` for a brace-delimited BibTeX field, keeping braces balanced."""
    return _BIBTEX_RE.sub(lambda m: _BIBTEX_SPECIALS[m.group()], _clean(text))


def bibtex_url(url: str) -> str:
    """A URL for ``url = {..}`` and ``\\url{..}``: unsafe characters percent-encoded,
    ``%`` and ``#`` backslash-escaped (both read back as the literal character)."""
    out = "".join(_URL_UNSAFE.get(c, c) for c in _clean(url))
    return out.replace("%", r"\%").replace("#", r"\#")


def _bibtex_name(name: str, outlet: str | None) -> str:
    """One author for ``author = {A and B}``: a person as ``Family, Given`` (BibTeX's
    unambiguous form), anything else braced so BibTeX takes it whole (``{Org Name}``)
    instead of splitting it into given and family names."""
    person = person_name(name, outlet)
    if person is None:
        return "{" + bibtex_escape(name) + "}"
    return f"{bibtex_escape(person[0])}, {bibtex_escape(person[1])}"


def format_bibtex(d: CitationData) -> str:
    """A ``@misc`` entry (classic BibTeX and biblatex both read it): ``howpublished``
    with ``\\url``, ``url``/``urldate`` (capture date), and a ``note`` with the capture
    time, content hash and capture id (and the withdrawal, with ``pubstate``, when the
    capture was withdrawn)."""
    fields: list[tuple[str, str]] = []
    if d.title:
        fields.append(("title", "{" + bibtex_escape(d.title) + "}"))
    if d.authors:
        fields.append(("author", " and ".join(_bibtex_name(a, d.outlet) for a in d.authors)))
    if d.outlet:
        fields.append(("organization", bibtex_escape(d.outlet)))
    if d.published:
        y, m, _ = _date_parts(d.published)
        fields += [("year", str(y)), ("month", _MONTHS[m - 1]), ("date", d.published)]
    url = bibtex_url(d.url)
    fields += [("howpublished", r"\url{" + url + "}"), ("url", url),
               ("urldate", d.capture_date), ("note", bibtex_escape(_archive_note(d)))]
    if d.withdrawn:
        fields.append(("pubstate", "withdrawn"))  # biblatex prints it after the entry
    lines = [f"@misc{{{d.key},"]
    for i, (name, value) in enumerate(fields):
        # month takes the standard three-letter macro, unbraced
        rendered = value if name == "month" else "{" + value + "}"
        lines.append(f"  {name} = {rendered}" + ("," if i < len(fields) - 1 else ""))
    lines.append("}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ CSL-JSON

def _csl_name(name: str, outlet: str | None) -> dict[str, str]:
    person = person_name(name, outlet)
    if person is None:
        return {"literal": _clean(name)}
    return {"family": person[0], "given": person[1]}


def csl_item(d: CitationData) -> dict[str, Any]:
    """One CSL-JSON item (citeproc-js, citeproc-py, pandoc, Zotero). Persons get
    ``family``/``given`` names (see :func:`person_name`), anything else a ``literal``.
    ``archive`` and ``archive_location`` (the archive's name and the content hash) are
    the variables standard styles print for an archived copy; a withdrawn capture has
    ``status`` "withdrawn", which styles print with the date."""
    item: dict[str, Any] = {"id": d.key, "type": "webpage"}
    if d.title:
        item["title"] = _clean(d.title)
    if d.authors:
        item["author"] = [_csl_name(a, d.outlet) for a in d.authors]
    if d.outlet:
        item["container-title"] = _clean(d.outlet)
    if d.published:
        item["issued"] = {"date-parts": [_date_parts(d.published)]}
    item.update({
        "URL": d.url,
        "accessed": {"date-parts": [_date_parts(d.capture_date)]},
        "archive": _clean(d.archive),
        "archive_location": d.archived_hash,
        "note": _archive_note(d),
        "custom": {"capture_id": d.capture_id, "content_hash": d.content_hash,
                   "captured_at": d.captured_at},
    })
    if d.version_url:
        item["custom"]["archived_url"] = d.version_url
    if d.withdrawn:
        item["status"] = "withdrawn"
        item["custom"]["withdrawn"] = d.withdrawn
    return item


def format_csl_json(items: Sequence[CitationData]) -> str:
    """CSL-JSON is an array of items, so several captures make one valid document."""
    return json.dumps([csl_item(d) for d in items], ensure_ascii=False, indent=2)


# ----------------------------------------------------------------------------- RIS

def format_ris(d: CitationData) -> str:
    """An RIS record (``TY  - ELEC``): ``AU`` a person as ``Family, Given`` (anything
    else whole), ``Y2`` access date, ``DB`` the archive, ``AN`` the capture id, ``N1``
    the archival note (which says when a capture was withdrawn). CR LF line ends, per
    the RIS specification."""
    lines = [("TY", "ELEC")]
    if d.title:
        lines.append(("TI", _clean(d.title)))
    lines += [("AU", ", ".join(p) if (p := person_name(a, d.outlet)) else _clean(a))
              for a in d.authors]
    if d.outlet:
        lines.append(("T2", _clean(d.outlet)))
    if d.published:
        y, m, day = _date_parts(d.published)
        lines += [("PY", str(y)), ("DA", f"{y:04d}/{m:02d}/{day:02d}")]
    y, m, day = _date_parts(d.capture_date)
    lines += [("UR", _clean(d.url)), ("Y2", f"{y:04d}/{m:02d}/{day:02d}"),
              ("DB", _clean(d.archive)), ("AN", d.capture_id), ("N1", _archive_note(d)),
              ("ER", "")]
    return "".join(f"{tag}  - {value}\r\n" for tag, value in lines)


# --------------------------------------------------------------------- Robust Link

def format_robust_link(d: CitationData) -> str:
    """An HTML anchor per the Robust Links convention: ``href`` and
    ``data-originalurl`` the original URL, ``data-versiondate`` the capture time,
    ``data-versionurl`` the archived copy's public URL when the archive has one
    (``ARCHIVE_PUBLIC_URL``), plus ``data-versionhash`` (the content hash, or the
    capture id when the body could not be decoded) and ``data-captureid``. A withdrawn
    capture gets ``data-withdrawn`` (time and reason) and says so in the link text."""
    attrs = [("href", d.url), ("data-originalurl", d.url),
             ("data-versiondate", d.version_datetime)]
    if d.version_url:
        attrs.append(("data-versionurl", d.version_url))
    attrs += [("data-versionhash", d.archived_hash), ("data-captureid", d.capture_id)]
    if d.withdrawn:
        attrs.append(("data-withdrawn", _clean(d.withdrawn)))
    rendered = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs)
    text = _clean(d.title) if d.title else _clean(d.url)
    if d.withdrawn:
        text += " (withdrawn from the archive)"
    return f"<a {rendered}>{html.escape(text, quote=True)}</a>"


# ---------------------------------------------------------------------- dispatcher

_SINGLE: dict[str, Callable[[CitationData], str]] = {
    "text": format_text, "bibtex": format_bibtex, "ris": format_ris,
    "robust-link": format_robust_link,
}
_SEPARATOR = {"text": "\n", "bibtex": "\n\n", "ris": "", "robust-link": "\n"}


def render(items: Sequence[CitationData], fmt: str) -> str:
    """Citations of ``items`` in ``fmt`` (one of :data:`FORMATS`), as one document."""
    if fmt == "csl-json":
        return format_csl_json(items)
    if fmt not in _SINGLE:
        raise ConfigError(f"unknown citation format {fmt!r}; use one of {', '.join(FORMATS)}")
    return _SEPARATOR[fmt].join(_SINGLE[fmt](d) for d in items)


# ------------------------------------------------------------------- database side

CITED_FIELDS = ("title", "authors", "outlet", "published")
"""The fields of a metadata record a citation reads (their values only)."""


def _value(record: dict[str, Any], name: str) -> Any:
    """A field's value in a stored metadata record (``{"value": ..., "evidence": ...}``)."""
    field = record.get(name)
    return field.get("value") if isinstance(field, dict) else None


def load_citation_data(conn: Connection, capture_id: str, *, archive: str,
                       public_url: str | None = None) -> CitationData:
    """Gather what a citation of ``capture_id`` says from the capture row, the latest
    stored metadata version and the custody log (a deletion event withdraws it). A
    revisit without metadata of its own borrows its original's: the payload is
    byte-identical, so the same article was read. ``public_url`` is the archive's
    public base URL: the archived copy is ``<public_url>/c/<capture id>``."""
    found = load_citation_data_many(conn, [capture_id], archive=archive,
                                    public_url=public_url)
    if not found:
        raise NotFoundError(f"no capture {capture_id}")
    return next(iter(found.values()))


def load_citation_data_many(conn: Connection, capture_ids: Sequence[str], *, archive: str,
                            public_url: str | None = None) -> dict[str, CitationData]:
    """:func:`load_citation_data` of many exact capture ids (``sha256:<hex>``), keyed by
    capture id; ids not stored are left out. Four queries per 500 ids."""
    out: dict[str, CitationData] = {}
    for chunk in in_chunks(capture_ids):
        gone = withdrawals(conn, chunk)
        rows = conn.execute(select(captures).where(captures.c.capture_id.in_(chunk))).all()
        originals = {r.revisit_of for r in rows if r.revisit_of}
        pk_of = {r.capture_id: r.id for r in conn.execute(
            select(captures.c.id, captures.c.capture_id)
            .where(captures.c.capture_id.in_(originals)))} if originals else {}
        newest = (select(func.max(metadata_versions.c.id))
                  .where(metadata_versions.c.capture_pk.in_(
                      {r.id for r in rows} | set(pk_of.values())))
                  .group_by(metadata_versions.c.capture_pk))
        records = {m.capture_pk: json.loads(m.record) for m in conn.execute(
            select(metadata_versions.c.capture_pk, metadata_versions.c.record)
            .where(metadata_versions.c.id.in_(newest)))}
        for r in rows:
            original = pk_of.get(r.revisit_of) if r.revisit_of else None
            out[r.capture_id] = citation_of(
                capture_id=r.capture_id, content_hash=r.content_hash, url=r.url,
                final_url=r.final_url, captured_at=r.started_at, own=records.get(r.id),
                original=None if original is None else records.get(original),
                withdrawal=gone.get(r.capture_id), archive=archive, public_url=public_url)
    return out


def text_citations(captures: Sequence[ListedCapture], versions: Mapping[str, MetadataVersion],
                   *, archive: str, public_url: str | None = None) -> dict[str, str]:
    """Each capture's text citation, exactly what ``archive cite`` prints, from its
    listing (with its withdrawal) and the newest stored metadata versions already read
    (``versions``, keyed by capture id: each capture's own and its original's). The
    catalogue's citations, with each record read and parsed once."""
    out = {}
    for c in captures:
        own, original = versions.get(c.capture_id), versions.get(c.revisit_of or "")
        out[c.capture_id] = format_text(citation_of(
            capture_id=c.capture_id, content_hash=c.content_hash, url=c.url,
            final_url=c.final_url, captured_at=c.captured_at,
            own=own.record if own else None, original=original.record if original else None,
            withdrawal=c.withdrawal, archive=archive, public_url=public_url))
    return out


def citation_of(*, capture_id: str, content_hash: str | None, url: str, final_url: str | None,
                captured_at: str, own: Any, original: Any, withdrawal: Withdrawal | None,
                archive: str, public_url: str | None = None) -> CitationData:
    """What a citation of one capture says, from its row's facts, the newest stored
    metadata record of the capture (``own``) or, when it has none, of the capture it
    revisits (``original``: the payload is byte-identical, so the same article was
    read), and its deletion event. The one place a citation is put together, for
    :func:`load_citation_data_many` and for the catalogue, which has read the same
    records already."""
    record = own if isinstance(own, dict) else original if isinstance(original, dict) else {}
    title, authors, outlet, published = (_value(record, n) for n in CITED_FIELDS)
    return CitationData(
        capture_id=capture_id, content_hash=content_hash,
        url=url, final_url=final_url, captured_at=captured_at, archive=archive,
        title=title if isinstance(title, str) and title.strip() else None,
        authors=tuple(a for a in authors if isinstance(a, str) and a.strip())
        if isinstance(authors, list) else (),
        outlet=outlet if isinstance(outlet, str) and outlet.strip() else None,
        published=published if isinstance(published, str) and _DATE_RE.match(published)
        else None,
        version_url=f"{public_url.rstrip('/')}/c/{capture_id}" if public_url else None,
        withdrawn=f"{withdrawal.time}: {withdrawal.reason}" if withdrawal else None,
    )


__all__ = ["CITED_FIELDS", "FORMATS", "CitationData", "Format", "bibtex_escape", "bibtex_url",
           "citation_of", "csl_item", "format_bibtex", "format_csl_json", "format_ris",
           "format_robust_link", "format_text", "load_citation_data", "load_citation_data_many",
           "person_name", "render", "text_citations"]
