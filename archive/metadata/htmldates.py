"""Publication and modification dates of an HTML page.

Witnesses, each with its raw string and a prior weight: the JSON-LD article
entity, date meta tags (OpenGraph ``article:*``, Dublin Core, Parse.ly, Sailthru,
``itemprop`` ...), ``<time>`` elements, the URL path, the first date written
below the headline, and htmldate (original-date mode) when the markup is silent
or disagrees with itself. UTC timestamps go through ``localdate`` first.

Choices worth knowing (each measured on the development corpus, none keyed to a
site): htmldate's answer is dropped when it is a first-of-month date not written
in the page (it turns a bare year or month into a day); when the markup gives
several dates and the page shows one of them right below the headline, that one
wins; with no markup at all, the later of htmldate's date and the first visible
date wins, because htmldate's original-date mode leans to the earliest date it
finds (a join date, an older teaser). A date and time shown under the headline
without a year ("[06月24日 11時30分]") counts as shown there when the page's other
dates agree on its year (``monthday``).

A field's value is the calendar date in the publisher's time zone, or, when the
winning witness states a time and a zone, that instant with its UTC offset
(``2025-05-14T09:30:00+02:00``); its first ten characters are always the date.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time
from functools import lru_cache

from lxml.html import HtmlElement

from . import ambiguity, datelabels, monthday, timezones
from .combine import Candidate, choose
from .dates import MONTHS, DateMatch, find_dates, parse_timestamp, url_date
from .jsonld import JsonLd
from .localdate import Witness, instant_on, localise
from .markupdates import META_GENERIC_WEIGHT, element_witnesses, ld_witnesses, meta_witnesses
from .model import Field, Rejected

_HUGE = 1_500_000  # characters of HTML


_DAY_ONE = re.compile(
    r"(?<!\d)0?1(?:st|er|\.|º)?\s*(?:de\s+)?(?P<m>[^\W\d_]{3,12})\.?,?\s+(?:de\s+)?(?P<y>\d{4})|"
    r"(?P<m2>[^\W\d_]{3,12})\.?\s+0?1(?:st)?,?\s+(?P<y2>\d{4})"
)


@lru_cache(maxsize=8)  # asked twice of htmldate's answer; the page's hash is cached
def _written_in_page(day: date, html: str) -> bool:
    """Is this full date written somewhere in the page (not only its year or month)?"""
    y, m, d = day.year, day.month, day.day
    numeric = (
        f"{y}-{m:02d}-{d:02d}",
        f"{y}/{m:02d}/{d:02d}",
        f"{d:02d}.{m:02d}.{y}",
        f"{d}.{m}.{y}",
        f"{d:02d}/{m:02d}/{y}",
        f"{m:02d}/{d:02d}/{y}",
        f"{y}年{m}月{d}日",
        f"{y}年{m:02d}月{d:02d}日",
        f"{y}{m:02d}{d:02d}",
        f"{d}/{m}/{y}",
        f"{m}/{d}/{y}",
    )
    if any(n in html for n in numeric):
        return True
    if d != 1:
        return True  # htmldate only invents the first day of a month or year
    for match in _DAY_ONE.finditer(html):
        name = (match["m"] or match["m2"] or "").lower()
        year = match["y"] or match["y2"]
        if year == str(y) and MONTHS.get(name) == m:
            return True
    return False


def _htmldate_version() -> str:
    import htmldate

    return str(getattr(htmldate, "__version__", "unknown"))


def _htmldate(
    tree: HtmlElement, url: str | None, bound: date | None, html: str, *, extensive: bool = True
) -> tuple[DateMatch | None, str]:
    """htmldate in original-date mode: fast (markup and date patterns) first, and
    its extensive text search (slow: dateparser) only when that finds nothing and
    ``extensive`` allows it."""
    import htmldate

    version = getattr(htmldate, "__version__", "unknown")
    max_date = datetime.combine(bound, time()) if bound else None
    parsed = None
    for thorough in (False, True) if extensive else (False,):
        with warnings.catch_warnings():
            # htmldate/dateparser emit DeprecationWarning/UserWarning on some odd pages; they
            # do not change the result, and the test suite turns every warning into an error.
            warnings.simplefilter("ignore")
            try:
                found = htmldate.find_date(
                    tree,
                    extensive_search=thorough,
                    original_date=True,
                    url=url,
                    max_date=max_date,
                    deferred_url_extractor=True,
                )
            except Exception:
                found = None
        parsed = parse_timestamp(found) if found else None
        if parsed is not None and _written_in_page(parsed.date, html):
            return parsed, version
    return parsed, version


def _first_visible(
    visible: str, anchor: int
) -> tuple[DateMatch | None, bool, datelabels.Label | None]:
    """The first full, unambiguous date written after the headline (else in the
    page) that the page does not label as an update, whether it stands right below
    the headline (within 600 characters), and the label the page gives it
    ("Veröffentlicht am 16.08.2019")."""

    def shown(
        base: int, matches: list[DateMatch]
    ) -> list[tuple[DateMatch, datelabels.Label | None]]:
        out: list[tuple[DateMatch, datelabels.Label | None]] = []
        for m in matches:
            if m.ambiguous:
                continue
            said = datelabels.label(visible, base + m.start, base + m.end)
            if said != "updated":
                out.append((m, said))
        return out

    if anchor >= 0:
        # most pages date the article right under the headline: look there first. Every
        # date starting in the first 600 characters ends well inside 800, so it is read
        # exactly as in the wider window below
        near = shown(anchor, find_dates(visible[anchor : anchor + 800]))
        if near and near[0][0].start < 600:
            return near[0][0], True, near[0][1]
        after = shown(anchor, find_dates(visible[anchor : anchor + 3000]))
        if after and after[0][0].start < 600:
            return after[0][0], True, after[0][1]
        start = max(0, anchor - 150)
        before = shown(start, find_dates(visible[start:anchor]))
        if before:
            return before[-1][0], True, before[-1][1]  # a date line just above the headline
        if after:
            return after[0][0], False, after[0][1]
    for match, said in shown(0, find_dates(visible[:8000]))[:1]:
        return match, False, said
    return None, False, None


def _yearless_below(
    visible: str, anchor: int
) -> tuple[monthday.MonthDay, datelabels.Label | None] | None:
    """The first date and time without a year right below the headline (within 600
    characters, as a full date would be) that the page does not label as an update,
    placed in ``visible``, and the label the page gives it."""
    if anchor < 0:
        return None
    for found in monthday.find(visible[anchor : anchor + 600]):
        found = replace(found, start=anchor + found.start, end=anchor + found.end)
        said = datelabels.label(visible, found.start, found.end)
        if said != "updated":
            return found, said
    return None


def _with_year(
    found: monthday.MonthDay, references: list[tuple[date, str]]
) -> tuple[DateMatch, str] | None:
    """``found`` completed by the year the page's other dates agree on, and the
    source naming where the year came from."""
    day = monthday.year_for(found, (ref for ref, _ in references))
    if day is None:
        return None
    match = DateMatch((day,), found.raw, found.start, found.end, "monthday", found.hour)
    sources = ", ".join(dict.fromkeys(source for _, source in references))
    return match, f"text:first-date (year from {sources})"


def _candidates(
    witnesses: list[Witness],
    ctx: ambiguity.Context,
    extractor_of: dict[str, str],
    refine: Callable[[], ambiguity.Context] | None = None,
    instants: dict[tuple[str, str], str] | None = None,
) -> tuple[list[Candidate], list[Rejected]]:
    """Candidates of the witnesses' resolved dates; ``instants`` collects, per (source,
    raw), the full instant a witness states on that date."""
    if refine is not None and any(w.match.ambiguous for w in witnesses):
        ctx = refine()
    out: list[Candidate] = []
    rejected: list[Rejected] = []
    for w in witnesses:
        resolution = ambiguity.resolve(w.match, ctx)
        for day, reason in resolution.rejected:
            rejected.append(Rejected(day.isoformat(), reason, w.source, w.match.raw))
        if resolution.value is None:
            continue
        if ctx.bound is not None and resolution.value > ctx.bound:
            rejected.append(
                Rejected(
                    resolution.value.isoformat(), "after the capture time", w.source, w.match.raw
                )
            )
            continue
        weight = w.weight * (resolution.confidence if w.match.ambiguous else 1.0)
        moment = instant_on(w.instant, resolution.value, ctx.utc_offsets)
        if instants is not None and moment is not None:
            instants.setdefault((w.source, w.match.raw), moment)
        extractor = extractor_of.get(w.source)
        if extractor:
            out.append(
                Candidate(resolution.value.isoformat(), w.source, w.match.raw, weight, extractor)
            )
        else:
            out.append(Candidate(resolution.value.isoformat(), w.source, w.match.raw, weight))
    return out, rejected


def published_and_modified(
    tree: HtmlElement,
    meta: dict[str, list[str]],
    ld: JsonLd,
    *,
    dated: list[HtmlElement],
    url: str | None,
    ctx: ambiguity.Context,
    visible: str,
    anchor: int,
    html: str,
    refine: Callable[[], ambiguity.Context] | None = None,
) -> tuple[Field, Field]:
    """``dated``: the page's ``itemprop`` and ``<time>`` elements (``elements``);
    ``visible``: the page's visible text in document order; ``anchor``: where the
    headline starts in it (-1 if unknown); ``html``: the source, to check that a
    date htmldate returns is written in the page."""
    declared = ld_witnesses(ld, modified=False) + meta_witnesses(meta, modified=False)
    elements = dated  # (first 60, in document order)
    structured = declared + element_witnesses(elements, modified=False)
    found_in_url = url_date(url)
    shown, below_headline, said = _first_visible(visible, anchor)
    # a "publication date" field names the article's date where the markup is an
    # article's; without such markup it may be a reviewed book's
    labelled = said == "published" or (said == "release" and bool(declared))
    hints: list[tuple[DateMatch, str]] = []
    if found_in_url is not None and found_in_url.date is not None:
        hints.append((DateMatch((found_in_url.date,), found_in_url.raw, 0, 0, "ymd"), "url-path"))
    if shown is not None:
        hints.append((shown, "text"))
    if ctx.utc_offsets is None and any(w.match.utc and w.match.hour for w in structured):
        # neither place nor language says where the publisher is: its other timestamps may
        ctx = replace(ctx, utc_offsets=timezones.stated(html))
    witnesses, rejected = localise(structured, hints, ctx.utc_offsets)
    # htmldate reads the same meta tags and JSON-LD first; when they agree among
    # themselves it can add little, and its extensive text search is the slow part
    if declared and len({w.match.date for w in witnesses[: len(declared)]}) == 1:
        hd, version = None, _htmldate_version()
    else:
        # its extensive search re-reads the whole page: on huge pages, fast mode only
        hd, version = _htmldate(tree, url, ctx.bound, html, extensive=len(html) <= _HUGE)
    if hd is not None and not _written_in_page(hd.date, html):
        rejected.append(
            Rejected(
                hd.date.isoformat(),
                "htmldate's answer is not written in the page "
                "(a year or month alone, read as its first day)",
                "htmldate",
                hd.raw,
            )
        )
        hd = None
    shown_source = "text:first-date"
    yearless = None if shown is not None and below_headline else _yearless_below(visible, anchor)
    if yearless is not None:
        # under the headline a date and time without its year ("[06月24日 11時30分]"):
        # the page's date line, in the year the page's other dates give it
        references = [(w.match.date, w.source) for w in witnesses]
        if found_in_url is not None:
            month_day = found_in_url.date or date(found_in_url.year, found_in_url.month, 15)
            references.append((month_day, "url-path"))
        if hd is not None:
            references.append((hd.date, "htmldate"))
        completed = _with_year(yearless[0], references)
        if completed is not None:
            (shown, shown_source), below_headline, said = completed, True, yearless[1]
            labelled = said == "published" or (said == "release" and bool(declared))
    declared_dates = {w.match.date for w in witnesses}
    # the markup disagrees with itself and the page shows one of its dates under the
    # headline: that is the date the publisher presents to readers
    arbiter = (
        shown is not None
        and (below_headline or labelled)
        and len(declared_dates) > 1
        and shown.date in declared_dates
    )
    if found_in_url is not None and found_in_url.date is not None:
        witnesses.append(Witness(hints[0][0], "url-path", 0.7, None))
    # htmldate reads the same meta tags and JSON-LD: beside them it is a weak second voice
    if hd is not None:
        witnesses.append(Witness(hd, "htmldate", 0.3 if declared else 0.55, None))
    if shown is not None:
        weight = 0.9 if arbiter else 0.2 if declared else 0.5 if anchor >= 0 else 0.45
        if not declared and hd is not None and shown.date > hd.date:
            # htmldate in original-date mode leans to the earliest date it can find
            # (a join date, an older teaser); the page's own later date wins the tie
            weight = 0.6
        elif (
            not declared
            and hd is not None
            and below_headline
            and shown.hour is not None
            and abs((shown.date - hd.date).days) == 1
        ):
            # a day off from a date and time the page shows under its headline: htmldate
            # read a UTC timestamp as its UTC date; the reader sees the local one
            weight = 0.6
        if labelled and below_headline and not arbiter:
            # the page's own words, under its headline, say this is when it was
            # published: what the reader is told, over markup that says otherwise
            weight = 0.9 if declared else max(weight, 0.6)
        elif said == "published" and not declared:
            weight = max(weight, 0.6)  # "Veröffentlicht am …" further down, no markup
        elif (
            declared
            and all(w.weight <= META_GENERIC_WEIGHT for w in structured)
            and below_headline
            and shown.hour is not None
        ):
            # the markup names no publication date, only a "date" of some kind (often
            # when the page was built); the date and time shown under the headline is
            # what the reader is told
            weight = max(weight, 0.6)
        if not declared and hd is not None and hd.date == shown.date:
            weight = min(weight, 0.5)  # text alone (htmldate reads it too): not high
        witnesses.append(Witness(shown, shown_source, weight, None))
    instants: dict[tuple[str, str], str] = {}
    candidates, more = _candidates(
        witnesses, ctx, {"htmldate": f"htmldate/{version}"}, refine, instants
    )
    rejected += more
    if found_in_url is not None and found_in_url.date is None:
        # year and month only: a vote against days from other months
        month = f"{found_in_url.year:04d}-{found_in_url.month:02d}"
        candidates = [
            c
            if str(c.value)[:7] == month
            else Candidate(c.value, c.source, c.raw, c.weight * 0.85, c.extractor)
            for c in candidates
        ]
    published = choose(candidates, extra_rejected=rejected)

    mod_witnesses, mod_rejected = localise(
        ld_witnesses(ld, modified=True)
        + meta_witnesses(meta, modified=True)
        + element_witnesses(elements, modified=True),
        [],
        ctx.utc_offsets,
    )
    mod_instants: dict[tuple[str, str], str] = {}
    mod_candidates, more = _candidates(mod_witnesses, ctx, {}, refine, mod_instants)
    mod_rejected += more
    if isinstance(published.value, str):
        kept = []
        for c in mod_candidates:
            if isinstance(c.value, str) and c.value < published.value:
                mod_rejected.append(
                    Rejected(c.value, "earlier than the publication date", c.source, c.raw)
                )
            else:
                kept.append(c)
        mod_candidates = kept
    modified = choose(mod_candidates, extra_rejected=mod_rejected)
    return _with_instant(published, instants), _with_instant(modified, mod_instants)


def _with_instant(field: Field, instants: dict[tuple[str, str], str]) -> Field:
    """The chosen date as the full instant that its strongest witness states, if any."""
    if not isinstance(field.value, str):
        return field
    for evidence in field.evidence:  # strongest first
        moment = instants.get((evidence.source, evidence.raw))
        if moment is not None and moment[:10] == field.value:
            return replace(field, value=moment)
    return field
