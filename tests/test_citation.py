"""Citations: every format names URL, capture time, content hash and capture id; escaping
is right per format; output is deterministic; metadata is used only when stored."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from servers import ARTICLE

from archive.api import Archive
from archive.cite import (
    FORMATS,
    CitationData,
    bibtex_escape,
    csl_item,
    format_bibtex,
    format_csl_json,
    format_ris,
    format_robust_link,
    format_text,
    person_name,
    render,
)
from archive.cli import main
from archive.core.config import Settings
from archive.core.hashing import hex_part
from archive.errors import ConfigError

CID = "sha256:" + "ab" * 32
CONTENT = "sha256:" + "cd" * 32
TRICKY_URL = 'https://news.example/a b?q=1&r=%20{x}#frag"<'

FULL = CitationData(
    capture_id=CID, content_hash=CONTENT,
    url="https://news.example/2026/11/20/storm",
    captured_at="2026-11-21T14:02:03.123456Z", archive="archive.example/custody",
    title="Storm closes the harbour for a second day",
    authors=("Anna Berg", "Jean Dupont"), outlet="Harbour Gazette", published="2026-11-20")

NASTY = CitationData(
    capture_id=CID, content_hash=CONTENT, url=TRICKY_URL,
    captured_at="2026-11-21T14:02:03.123456Z", archive="arch_ive {x} 100%",
    final_url="https://news.example/final?x=1&y=2",
    title='Profits {up} 100% & $5 for #1_fans ^~ \\ "quoted" <b>bold</b>\nsecond line',
    authors=("Smith, John", "Ben and Jerry's", "Zoë Ångström"), outlet="A&B News <Daily>",
    published="2016-05-02")

BARE = CitationData(capture_id=CID, content_hash=None, url="https://x.example/",
                    captured_at="2026-01-02T03:04:05.678000Z", archive="a")


# ---------------------------------------------------------------- helpers (parsers)

def parse_bibtex(text: str) -> dict[str, Any]:
    """A small strict BibTeX entry parser: braces must balance inside every value."""
    m = re.match(r"@(\w+)\{([^,\s{}]+),\n", text)
    assert m, text[:80]
    fields: dict[str, str] = {}
    i = m.end()
    while True:
        fm = re.compile(r"\s*(\w+) = ").match(text, i)
        if fm is None:
            break
        i = fm.end()
        if text[i] == "{":
            depth, j = 0, i
            while True:
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
                assert j < len(text), "unbalanced braces"
            fields[fm.group(1)] = text[i + 1:j]
            i = j + 1
        else:
            mm = re.compile(r"\w+").match(text, i)
            assert mm, "bad macro"
            fields[fm.group(1)] = mm.group()
            i = mm.end()
        if text[i] == ",":
            i += 1
    assert text[i:].strip() == "}", f"trailing text {text[i:]!r}"
    return {"type": m.group(1), "key": m.group(2), "fields": fields}


def unescaped_specials(value: str, *, url: bool = False) -> list[str]:
    """LaTeX specials that are not escaped (``\\&`` is fine; a bare ``&`` is not). In a
    URL (``\\url`` reads it verbatim) only ``%`` and ``#`` must be escaped."""
    stripped = re.sub(r"\\[a-zA-Z]+\{\}|\\[$&%#_{}]", "", value)
    stripped = re.sub(r"\\url\{", "", stripped)
    return re.findall(r"[%#]" if url else r"[$&%#_^~]", stripped)


class _Anchor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


def parse_anchor(markup: str) -> tuple[dict[str, str | None], str]:
    p = _Anchor()
    p.feed(markup)
    p.close()
    assert [t for t, _ in p.tags] == ["a"], markup
    return p.tags[0][1], p.text


# Essential CSL-JSON fields (a subset of citation-style-language/schema csl-data.json).
_DATE = {"type": "object", "required": ["date-parts"], "properties": {"date-parts": {
    "type": "array", "minItems": 1, "maxItems": 2, "items": {
        "type": "array", "minItems": 1, "maxItems": 3,
        "items": {"type": "integer"}}}}}
CSL_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": {"type": ["string", "number"]},
            "type": {"enum": ["article", "article-journal", "article-magazine",
                              "article-newspaper", "post", "post-weblog", "webpage",
                              "document"]},
            "title": {"type": "string"}, "container-title": {"type": "string"},
            "URL": {"type": "string"}, "archive": {"type": "string"},
            "archive_location": {"type": "string"}, "note": {"type": "string"},
            "status": {"type": "string"},
            "author": {"type": "array", "items": {"type": "object", "properties": {
                "literal": {"type": "string"}, "family": {"type": "string"},
                "given": {"type": "string"}}, "additionalProperties": False}},
            "issued": _DATE, "accessed": _DATE,
            "custom": {"type": "object"},
        },
        "additionalProperties": False,
    },
}


# ----------------------------------------------------------------- pure formatting

@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_names_url_time_and_both_hashes(fmt: str) -> None:
    out = render([FULL], fmt)
    for needle in (CID, CONTENT):
        assert needle in out, (fmt, needle)
    assert "news.example/2026/11/20/storm" in out
    assert "2026-11-21" in out or "2026/11/21" in out
    assert render([FULL], fmt) == out  # deterministic


def test_text_citation_reads_as_a_reference() -> None:
    assert format_text(FULL) == (
        "Anna Berg and Jean Dupont. \u201cStorm closes the harbour for a second day.\u201d "
        "Harbour Gazette, 2026-11-20. https://news.example/2026/11/20/storm. Archived "
        "2026-11-21T14:02:03.123456Z by archive.example/custody; content hash " + CONTENT
        + "; capture id " + CID + ".")
    assert "\n" not in format_text(NASTY)
    assert "redirected to https://news.example/final" in format_text(NASTY)


def test_bibtex_parses_with_balanced_braces_and_escaped_specials() -> None:
    for data in (FULL, NASTY, BARE):
        entry = parse_bibtex(format_bibtex(data))
        assert entry["type"] == "misc" and entry["key"] == "capture-" + "ab" * 8
        f = entry["fields"]
        assert f["urldate"] == data.captured_at[:10]
        assert f["howpublished"].startswith("\\url{")
        assert CID in f["note"]
        for name, value in f.items():
            assert not unescaped_specials(value, url=name in ("url", "howpublished")), \
                (name, value)
    f = parse_bibtex(format_bibtex(FULL))["fields"]
    assert f["title"] == "{Storm closes the harbour for a second day}"
    assert f["author"] == "Berg, Anna and Dupont, Jean"
    assert (f["year"], f["month"], f["date"]) == ("2026", "nov", "2026-11-20")
    assert f["organization"] == "Harbour Gazette"
    nasty = parse_bibtex(format_bibtex(NASTY))["fields"]
    assert nasty["author"] == "Smith, John and {Ben and Jerry's} and Ångström, Zoë"
    assert "\\textbraceleft{}up\\textbraceright{}" in nasty["title"]
    assert "100\\% \\& \\$5 for \\#1\\_fans" in nasty["title"]
    assert "\\textless{}b\\textgreater{}bold" in nasty["title"]
    assert "\n" not in nasty["title"]
    # URL: RFC 3986-forbidden characters percent-encoded, % and # backslashed
    assert nasty["url"] == ("https://news.example/a\\%20b?q=1&r=\\%20\\%7Bx\\%7D"
                            "\\#frag\\%22\\%3C")
    assert "title" not in parse_bibtex(format_bibtex(BARE))["fields"]


def test_bibtex_escape_keeps_braces_balanced() -> None:
    s = bibtex_escape("}{ \\ {")
    assert s.count("{") == s.count("}")


def test_csl_json_validates_and_carries_archive_fields() -> None:
    doc = json.loads(format_csl_json([FULL, NASTY, BARE]))
    Draft202012Validator(CSL_SCHEMA).validate(doc)
    item = doc[0]
    assert item["URL"] == FULL.url
    assert item["accessed"] == {"date-parts": [[2026, 11, 21]]}
    assert item["issued"] == {"date-parts": [[2026, 11, 20]]}
    assert item["archive"] == "archive.example/custody"
    assert item["archive_location"] == CONTENT  # the hash a reader re-computes
    assert item["author"] == [{"family": "Berg", "given": "Anna"},
                              {"family": "Dupont", "given": "Jean"}]
    assert item["container-title"] == "Harbour Gazette"
    assert item["custom"] == {"capture_id": CID, "content_hash": CONTENT,
                              "captured_at": FULL.captured_at}
    assert doc[1]["URL"] == TRICKY_URL  # JSON needs no URL mangling
    assert "title" not in doc[2] and "issued" not in doc[2] and "author" not in doc[2]
    assert csl_item(BARE)["custom"]["content_hash"] is None
    assert csl_item(BARE)["archive_location"] == CID  # no content hash: the capture id


def test_ris_is_one_tag_per_crlf_line() -> None:
    for data in (FULL, NASTY, BARE):
        text = format_ris(data)
        assert text.endswith("ER  - \r\n")
        lines = text.split("\r\n")[:-1]
        assert all(re.fullmatch(r"[A-Z][A-Z0-9]  - [^\r\n]*", line) for line in lines), lines
        assert lines[0] == "TY  - ELEC"
        assert f"AN  - {CID}" in lines
        assert data.content_hash is None or any(CONTENT in ln for ln in lines)
    lines = format_ris(FULL).split("\r\n")
    assert "DA  - 2026/11/20" in lines and "Y2  - 2026/11/21" in lines
    assert "AU  - Berg, Anna" in lines and "AU  - Dupont, Jean" in lines
    assert "T2  - Harbour Gazette" in lines and f"UR  - {FULL.url}" in lines


def test_robust_link_attributes_present_and_escaped() -> None:
    attrs, text = parse_anchor(format_robust_link(FULL))
    assert attrs == {"href": FULL.url, "data-originalurl": FULL.url,
                     "data-versiondate": "2026-11-21T14:02:03Z",
                     "data-versionhash": CONTENT, "data-captureid": CID}
    assert text == FULL.title
    markup = format_robust_link(NASTY)
    attrs, text = parse_anchor(markup)
    assert attrs["href"] == TRICKY_URL and attrs["data-originalurl"] == TRICKY_URL
    assert text == NASTY.title.replace("\n", " ")
    assert "<b>" not in markup and '"quoted"' not in markup
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?", attrs["data-versiondate"] or "")
    attrs, text = parse_anchor(format_robust_link(BARE))
    assert attrs["data-versionhash"] == CID and text == BARE.url


def test_unknown_format_and_bad_data_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown citation format"):
        render([FULL], "mla")
    with pytest.raises(ValueError):
        CitationData(capture_id="abc", content_hash=None, url="u", captured_at="2026-01-01",
                     archive="a")
    with pytest.raises(ValueError):
        CitationData(capture_id=CID, content_hash=None, url="u", captured_at="2026-01-01",
                     archive="a", published="May 2016")


# --------------------------------------------------------------------- with a database

def _ingest_article(arc: Any, tmp_path: Path) -> Any:
    p = tmp_path / "storm.html"
    p.write_bytes(ARTICLE)
    (res,) = arc.ingest([p], url="https://news.example/2026/11/20/storm",
                        content_type="text/html; charset=utf-8")
    return res


def test_cite_from_the_archive_uses_stored_metadata_only(arc: Any, tmp_path: Path) -> None:
    res = _ingest_article(arc, tmp_path)
    before = arc.cite(res.capture_id, "csl-json")
    item = json.loads(before)[0]
    assert "title" not in item and "container-title" not in item  # nothing stored yet
    assert item["archive_location"] == res.content_hash and item["URL"].endswith("/storm")
    arc.extract_metadata(res.capture_id)
    for fmt in FORMATS:
        first = arc.cite(res.capture_id, fmt)
        assert arc.cite(res.capture_id, fmt) == first  # byte-identical on repeat
        assert arc.cite(res.content_hash, fmt) == first  # either hash resolves
        assert "Storm closes the harbour" in first and res.capture_id in first
    item = json.loads(arc.cite(res.capture_id, "csl-json"))[0]
    assert item["container-title"] == "Harbour Gazette"
    assert item["issued"] == {"date-parts": [[2026, 11, 20]]}
    assert item["author"] == [{"family": "Berg", "given": "Anna"}]
    assert item["custom"]["captured_at"] == res.started_at


def test_cli_cite(arc: Any, tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    res = _ingest_article(arc, tmp_path)
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    monkeypatch.setenv("ARCHIVE_LOG_ORIGIN", arc.origin)
    capsys.readouterr()
    assert main(["cite", res.capture_id[:20], "--format", "bibtex"]) == 0
    out = capsys.readouterr().out
    assert parse_bibtex(out.rstrip("\n"))["fields"]["urldate"] == res.started_at[:10]
    assert out.rstrip("\n") == arc.cite(res.capture_id, "bibtex")
    assert main(["cite", res.capture_id, "--format", "ris", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["citation"].startswith("TY  - ELEC\r\n")
    assert main(["cite", "sha256:" + "0" * 64]) == 6


# ------------------------------------------------------------- names, archive, links

@pytest.mark.parametrize(("name", "split"), [
    ("Anna Berg", ("Berg", "Anna")),
    ("Jean-Luc Picard", ("Picard", "Jean-Luc")),
    ("Mary Anne O'Neil", ("O'Neil", "Mary Anne")),
    ("J. R. Hartley", ("Hartley", "J. R.")),
    ("Ludwig van Beethoven", ("van Beethoven", "Ludwig")),
    ("Smith, John", ("Smith", "John")),
    ("Zoë Ångström", ("Ångström", "Zoë")),
    ("Reuters", None),                      # one word: an agency, or a name we cannot split
    ("BBC News", None),                     # an acronym
    ("Harbour Gazette Staff", None),        # a desk
    ("The Associated Press", None),
    ("Ben and Jerry's", None),              # a lower-case word that is no particle
    ("محمد عبد الله", None),                 # no capitals to read the name by
    ("Agent 007 Smith", None),
    ("Smith, John, Jr.", None),
])
def test_person_names_are_split_only_when_plain(name: str, split: tuple[str, str] | None
                                                ) -> None:
    assert person_name(name) == split
    assert person_name("Harbour Gazette", outlet="Harbour Gazette") is None  # the outlet


ORG = CitationData(capture_id=CID, content_hash=CONTENT, url="https://news.example/a",
                   captured_at="2026-11-21T14:02:03.123456Z", archive="provenance-archive",
                   authors=("Anna Berg", "Harbour Gazette Staff"), outlet="Harbour Gazette")


def test_persons_get_family_and_given_names_organisations_stay_literal() -> None:
    assert csl_item(ORG)["author"] == [{"family": "Berg", "given": "Anna"},
                                       {"literal": "Harbour Gazette Staff"}]
    assert parse_bibtex(format_bibtex(ORG))["fields"]["author"] == \
        "Berg, Anna and {Harbour Gazette Staff}"
    lines = format_ris(ORG).split("\r\n")
    assert [ln for ln in lines if ln.startswith("AU")] == ["AU  - Berg, Anna",
                                                          "AU  - Harbour Gazette Staff"]


WITHDRAWN = replace(FULL, withdrawn="2026-12-01T09:00:00.000000Z: court order")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_withdrawn_capture_says_so_in_every_format(fmt: str) -> None:
    assert "withdrawn" not in render([FULL], fmt).lower()
    out = render([WITHDRAWN], fmt)
    assert "withdrawn" in out.lower() and "court order" in out


def test_withdrawn_fields_per_format() -> None:
    item = csl_item(WITHDRAWN)
    assert item["status"] == "withdrawn" and "court order" in item["note"]
    assert parse_bibtex(format_bibtex(WITHDRAWN))["fields"]["pubstate"] == "withdrawn"
    attrs, text = parse_anchor(format_robust_link(WITHDRAWN))
    assert attrs["data-withdrawn"] == "2026-12-01T09:00:00.000000Z: court order"
    assert text.endswith("(withdrawn from the archive)")


def test_robust_link_carries_versionurl_when_the_archive_is_public() -> None:
    url = "https://archive.example.org/c/" + CID
    attrs, _ = parse_anchor(format_robust_link(replace(FULL, version_url=url)))
    assert attrs["data-versionurl"] == url
    assert "data-versionurl" not in parse_anchor(format_robust_link(FULL))[0]


CSL_STYLES = Path(__file__).parent / "data" / "csl"


def _render_style(style_file: str, item: dict[str, Any]) -> str:
    from citeproc import (
        Citation,
        CitationItem,
        CitationStylesBibliography,
        CitationStylesStyle,
        formatter,
    )
    from citeproc.source.json import CiteProcJSON

    style = CitationStylesStyle(str(CSL_STYLES / style_file), validate=False)
    bib = CitationStylesBibliography(style, CiteProcJSON([item]), formatter.plain)
    bib.register(Citation([CitationItem(item["id"])]))
    (entry,) = bib.bibliography()
    return str(entry)


# citeproc-py does not know CSL-JSON's "custom" object (CSL 1.0.2); it ignores it.
@pytest.mark.filterwarnings(
    "ignore:The following arguments for Reference are unsupported. custom$:UserWarning")
def test_chicago_and_apa_print_the_archive_name_and_the_content_hash() -> None:
    """What a reference manager makes of our CSL-JSON (citeproc-py with the CSL
    project's own Chicago and APA styles): the archive's name and the content hash are
    printed, persons by family name; the README quotes the APA form."""
    item = json.loads(format_csl_json([replace(ORG, title="Storm closes the harbour",
                                               published="2026-11-20")]))[0]
    chicago = _render_style("chicago-author-date.csl", item)
    assert "provenance-archive" in chicago
    assert hex_part(CONTENT) in chicago  # the style capitalises the "sha256:" prefix
    assert chicago.startswith("Berg, A") and "Harbour Gazette Staff" in chicago
    apa = _render_style("apa.csl", item)
    assert f"provenance-archive ({CONTENT})" in apa
    assert apa.startswith("Berg, A.") and "https://news.example/a" in apa
    chicago_gone = _render_style("chicago-author-date.csl",
                                 csl_item(replace(ORG, withdrawn="2026-12-01: court order")))
    assert "withdrawn" in chicago_gone.lower()


def test_archive_name_is_the_setting_never_the_host(archive_factory: Any, db_url: str,
                                                    tmp_path: Path) -> None:
    arc = archive_factory(db_url=db_url, hostname="secret-host.internal")
    res = _ingest_article(arc, tmp_path)
    assert "secret-host" in arc.origin  # the log origin names the host; citations must not
    for fmt in FORMATS:
        out = arc.cite(res.capture_id, fmt)
        assert "secret-host" not in out, fmt
        assert fmt == "robust-link" or "provenance-archive" in out, fmt
    named = Settings.from_env({"ARCHIVE_HOME": str(arc.settings.home),
                               "ARCHIVE_DATABASE_URL": arc.settings.database_url,
                               "ARCHIVE_NAME": "Harbour Town Web Archive",
                               "ARCHIVE_PUBLIC_URL": "https://archive.example.org/"})
    with Archive.open(named) as again:
        item = json.loads(again.cite(res.capture_id, "csl-json"))[0]
        assert item["archive"] == "Harbour Town Web Archive"
        attrs, _ = parse_anchor(again.cite(res.capture_id, "robust-link"))
        assert attrs["data-versionurl"] == f"https://archive.example.org/c/{res.capture_id}"
    with pytest.raises(ConfigError, match="ARCHIVE_PUBLIC_URL"):
        Settings.from_env({"ARCHIVE_PUBLIC_URL": "archive.example.org"})


def test_cite_of_a_withdrawn_capture_says_so_and_warns(arc: Any, tmp_path: Path, capsys: Any,
                                                       monkeypatch: Any) -> None:
    res = _ingest_article(arc, tmp_path)
    arc.delete(res.capture_id, reason="court order 2026-12-01", person="editor@example.org")
    for fmt in FORMATS:
        out = arc.cite(res.capture_id, fmt)
        assert "withdrawn" in out.lower() and "court order 2026-12-01" in out, fmt
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    capsys.readouterr()
    assert main(["cite", res.capture_id, "--format", "ris"]) == 0
    captured = capsys.readouterr()
    assert "withdrawn" in captured.out
    assert captured.err.startswith(f"archive: warning: {res.capture_id} was withdrawn ")
    assert "by editor@example.org: court order 2026-12-01" in captured.err
