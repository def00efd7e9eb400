"""Citations of a capture in the formats researchers paste into papers.

A citation is only worth something if a reader can get back to the exact bytes cited,
so every format carries the original URL, the capture time, the **content hash** and
the **capture id** (either hash resolves to the capture; PRODUCT.md §2). Title,
authors, outlet and publication date come from the latest stored metadata version of
the capture and are left out when unknown: a citation never guesses.

Formatting is pure (:class:`CitationData` in, text out) and deterministic: the same
capture and metadata always give byte-identical output, with no export-time
timestamps, so a citation can itself be hashed or diffed. Database access is confined
to :func:`load_citation_data`.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, func, select

from archive.db import in_chunks
from archive.errors import ConfigError, NotFoundError
from archive.hashing import PREFIX, hex_part
from archive.tables import captures, metadata_versions

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
    archive: str  # the archive's name (its custody log origin)
    final_url: str | None = None
    title: str | None = None
    authors: tuple[str, ...] = ()
    outlet: str | None = None
    published: str | None = None  # YYYY-MM-DD

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
    return "; ".join(parts)


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


def _bibtex_name(name: str) -> str:
    """One author for ``author = {A and B}``. A name containing a comma or the word
    "and" is braced so BibTeX takes it whole instead of splitting it wrongly."""
    text = bibtex_escape(name)
    if "," in text or re.search(r"\band\b", text, re.IGNORECASE):
        return "{" + text + "}"
    return text


def format_bibtex(d: CitationData) -> str:
    """A ``@misc`` entry (classic BibTeX and biblatex both read it): ``howpublished``
    with ``\\url``, ``url``/``urldate`` (capture date), and a ``note`` with the capture
    time, content hash and capture id."""
    fields: list[tuple[str, str]] = []
    if d.title:
        fields.append(("title", "{" + bibtex_escape(d.title) + "}"))
    if d.authors:
        fields.append(("author", " and ".join(_bibtex_name(a) for a in d.authors)))
    if d.outlet:
        fields.append(("organization", bibtex_escape(d.outlet)))
    if d.published:
        y, m, _ = _date_parts(d.published)
        fields += [("year", str(y)), ("month", _MONTHS[m - 1]), ("date", d.published)]
    url = bibtex_url(d.url)
    fields += [("howpublished", r"\url{" + url + "}"), ("url", url),
               ("urldate", d.capture_date), ("note", bibtex_escape(_archive_note(d)))]
    lines = [f"@misc{{{d.key},"]
    for i, (name, value) in enumerate(fields):
        # month takes the standard three-letter macro, unbraced
        rendered = value if name == "month" else "{" + value + "}"
        lines.append(f"  {name} = {rendered}" + ("," if i < len(fields) - 1 else ""))
    lines.append("}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ CSL-JSON

def csl_item(d: CitationData) -> dict[str, Any]:
    """One CSL-JSON item (citeproc-js, pandoc, Zotero). Authors are ``literal`` names:
    splitting a byline into family and given names would be a guess."""
    item: dict[str, Any] = {"id": d.key, "type": "webpage"}
    if d.title:
        item["title"] = _clean(d.title)
    if d.authors:
        item["author"] = [{"literal": _clean(a)} for a in d.authors]
    if d.outlet:
        item["container-title"] = _clean(d.outlet)
    if d.published:
        item["issued"] = {"date-parts": [_date_parts(d.published)]}
    item.update({
        "URL": d.url,
        "accessed": {"date-parts": [_date_parts(d.capture_date)]},
        "archive": _clean(d.archive),
        "archive_location": d.capture_id,
        "note": _archive_note(d),
        "custom": {"capture_id": d.capture_id, "content_hash": d.content_hash,
                   "captured_at": d.captured_at},
    })
    return item


def format_csl_json(items: Sequence[CitationData]) -> str:
    """CSL-JSON is an array of items, so several captures make one valid document."""
    return json.dumps([csl_item(d) for d in items], ensure_ascii=False, indent=2)


# ----------------------------------------------------------------------------- RIS

def format_ris(d: CitationData) -> str:
    """An RIS record (``TY  - ELEC``): ``Y2`` access date, ``DB`` the archive, ``AN`` the
    capture id, ``N1`` the archival note. CR LF line ends, per the RIS specification."""
    lines = [("TY", "ELEC")]
    if d.title:
        lines.append(("TI", _clean(d.title)))
    lines += [("AU", _clean(a)) for a in d.authors]
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
    ``data-originalurl`` the original URL, ``data-versiondate`` the capture time, plus
    ``data-versionhash`` (the content hash, or the capture id when the body could not
    be decoded) and ``data-captureid``. No ``data-versionurl``: a capture is addressed
    by its hashes until a public resolver URL exists."""
    attrs = [("href", d.url), ("data-originalurl", d.url),
             ("data-versiondate", d.version_datetime),
             ("data-versionhash", d.content_hash or d.capture_id),
             ("data-captureid", d.capture_id)]
    rendered = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs)
    text = _clean(d.title) if d.title else _clean(d.url)
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

def _value(record: dict[str, Any], name: str) -> Any:
    """A field's value in a stored metadata record (``{"value": ..., "evidence": ...}``)."""
    field = record.get(name)
    return field.get("value") if isinstance(field, dict) else None


def _latest_metadata(conn: Connection, capture_pk: int) -> dict[str, Any] | None:
    row = conn.execute(select(metadata_versions.c.record)
                       .where(metadata_versions.c.capture_pk == capture_pk)
                       .order_by(metadata_versions.c.id.desc()).limit(1)).first()
    return None if row is None else _as_record(row.record)


def load_citation_data(conn: Connection, capture_id: str, *, archive: str) -> CitationData:
    """Gather what a citation of ``capture_id`` says from the capture row and the latest
    stored metadata version. A revisit without metadata of its own borrows its
    original's: the payload is byte-identical, so the same article was read."""
    row = conn.execute(select(captures).where(
        captures.c.capture_id == hex_part(capture_id))).first()
    if row is None:
        raise NotFoundError(f"no capture {capture_id}")
    record = _latest_metadata(conn, row.id)
    if record is None and row.revisit_of:
        orig = conn.execute(select(captures.c.id).where(
            captures.c.capture_id == row.revisit_of)).first()
        record = _latest_metadata(conn, orig.id) if orig is not None else None
    return _citation_data(row, record or {}, archive)


def load_citation_data_many(conn: Connection, capture_ids: Sequence[str], *, archive: str,
                            ) -> dict[str, CitationData]:
    """:func:`load_citation_data` of many exact capture ids (``sha256:<hex>``), keyed by
    capture id; ids not stored are left out. Three queries per 500 ids (a catalogue of
    every capture)."""
    out: dict[str, CitationData] = {}
    for chunk in in_chunks(hex_part(c) for c in capture_ids):
        rows = conn.execute(select(captures).where(captures.c.capture_id.in_(chunk))).all()
        originals = {r.revisit_of for r in rows if r.revisit_of}
        pk_of = {r.capture_id: r.id for r in conn.execute(
            select(captures.c.id, captures.c.capture_id)
            .where(captures.c.capture_id.in_(originals)))} if originals else {}
        newest = (select(func.max(metadata_versions.c.id))
                  .where(metadata_versions.c.capture_pk.in_(
                      {r.id for r in rows} | set(pk_of.values())))
                  .group_by(metadata_versions.c.capture_pk))
        records = {m.capture_pk: _as_record(m.record) for m in conn.execute(
            select(metadata_versions.c.capture_pk, metadata_versions.c.record)
            .where(metadata_versions.c.id.in_(newest)))}
        for r in rows:
            record = records.get(r.id)
            if record is None and r.revisit_of and r.revisit_of in pk_of:
                record = records.get(pk_of[r.revisit_of])
            out[PREFIX + r.capture_id] = _citation_data(r, record or {}, archive)
    return out


def _as_record(text: str) -> dict[str, Any] | None:
    record = json.loads(text)
    return record if isinstance(record, dict) else None


def _citation_data(row: Any, record: dict[str, Any], archive: str) -> CitationData:
    title, outlet, published = (_value(record, n) for n in ("title", "outlet", "published"))
    authors = _value(record, "authors")
    return CitationData(
        capture_id=PREFIX + row.capture_id,
        content_hash=PREFIX + row.content_hash if row.content_hash else None,
        url=row.url, final_url=row.final_url, captured_at=row.started_at, archive=archive,
        title=title if isinstance(title, str) and title.strip() else None,
        authors=tuple(a for a in authors if isinstance(a, str) and a.strip())
        if isinstance(authors, list) else (),
        outlet=outlet if isinstance(outlet, str) and outlet.strip() else None,
        published=published if isinstance(published, str) and _DATE_RE.match(published)
        else None,
    )


__all__ = ["FORMATS", "CitationData", "Format", "bibtex_escape", "bibtex_url", "csl_item",
           "format_bibtex", "format_csl_json", "format_ris", "format_robust_link",
           "format_text", "load_citation_data", "load_citation_data_many", "render"]
