"""``page`` capture mode: find a fetched document's requisites and fetch them, within
the page's limits.

The capture engine hands :func:`fetch_requisites` the page's :class:`FetchResult` and a
guarded fetch (robots.txt, the host's politeness slot, netguard's SSRF check at every
hop, the size and time limits of the policy it is given): every requisite goes through
the same fetcher as the page. Levels: the document's requisites, then those of its
style sheets (``url()``, fonts, ``@import``), then those of the imported sheets (two
levels of CSS nesting). :func:`archive.page.requisites.plan` picks what fits the
per-page count; the bytes and time left of the page are the policy of each fetch, so a
requisite that never ends stops at the page's deadline. Nothing here raises for a
requisite: each is either fetched or failed with its reason.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from archive.capture.revalidate import Known, RequisiteCache
from archive.capture.subresources import (
    Failed,
    Fetched,
    GuardedFetch,
    NotModified,
    PageRequisites,
)
from archive.core.config import FetchPolicy, PageLimits
from archive.core.content import decode_body, parse_codings
from archive.errors import FetchError
from archive.http.models import Exchange, FetchResult
from archive.metadata.payload import decode
from archive.page.requisites import Requisite, css_requisites, html_requisites, plan

CSS_LEVELS = 2  # style sheets of the page, then the sheets they @import


def fetch_requisites(page: FetchResult, fetch: GuardedFetch, limits: PageLimits,
                     cache: RequisiteCache | None = None) -> PageRequisites:
    """Fetch what the page at ``page.final_url`` needs to be shown (see the module).
    With ``cache`` (the run's), a requisite an earlier page of the run fetched whole is
    asked for with its validator, and a 304 stands for that response
    (:mod:`archive.capture.revalidate`)."""
    out = PageRequisites(limits={"max_requisites": limits.max_requisites,
                                 "max_bytes": limits.max_bytes,
                                 "deadline_seconds": limits.deadline})
    final = page.exchanges[-1]
    if final.status >= 400 or final.truncated or not _is_html(final):
        return out
    body = _decoded(final, page.policy.max_decoded_bytes)
    if body is None:
        return out
    charset = _charset(final.header("content-type"))
    found = html_requisites(body, page.final_url, charset=charset)
    ends = time.monotonic() + limits.deadline
    seen: set[str] = set()
    budget, spent = limits.max_requisites, 0
    for level in range(CSS_LEVELS + 1):
        chosen = plan(found, page_url=page.final_url, seen=seen, limit=budget)
        for skip in chosen.skipped:
            if skip.reason.startswith("over the limit"):
                out.failed.append(_failed(skip.requisite, skip.reason))
        seen.update(r.url for r in chosen.fetch)
        budget -= len(chosen.fetch)
        next_found: list[Requisite] = []
        for req in chosen.fetch:
            left = ends - time.monotonic()
            if left <= 0:
                out.failed.append(_failed(req, f"over the limit of {limits.deadline:g} s "
                                               "per page"))
                continue
            if spent >= limits.max_bytes:
                out.failed.append(_failed(req, f"over the limit of {limits.max_bytes} bytes "
                                               "per page"))
                continue
            policy = replace(page.policy, deadline=min(page.policy.deadline, left),
                             max_bytes=min(page.policy.max_bytes, limits.max_bytes - spent))
            known = cache.get(req.url) if cache is not None else None
            got = _fetch(fetch, req, policy, known, parse=level < CSS_LEVELS)
            if isinstance(got, FetchError):
                out.failed.append(_failed(req, got.message))
                continue
            last = got.exchanges[-1]
            if known is not None and known.confirmed_by(last) and len(got.exchanges) == 1:
                out.fetched.append(Fetched(req.url, req.kind, req.found_at, got,
                                           not_modified=NotModified(known.original,
                                                                    known.conditions)))
                if req.is_css and level < CSS_LEVELS:
                    next_found += _known_sheet(known.original) or []
                continue
            spent += sum(ex.body_length for ex in got.exchanges)
            problem = _problem(last)
            if last.truncated == "length" and policy.max_bytes < page.policy.max_bytes:
                problem = f"over the limit of {limits.max_bytes} bytes per page ({problem})"
            elif last.truncated == "time" and policy.deadline < page.policy.deadline:
                problem = f"over the limit of {limits.deadline:g} s per page ({problem})"
            out.fetched.append(Fetched(req.url, req.kind, req.found_at, got, problem=problem))
            if req.is_css and level < CSS_LEVELS and last.status < 400 \
                    and not last.truncated:
                next_found += _sheet(last, got.final_url, page.policy.max_decoded_bytes)
        found = next_found
        if not found:
            break
    return out


def _fetch(fetch: GuardedFetch, req: Requisite, policy: FetchPolicy, known: Known | None,
           *, parse: bool) -> FetchResult | FetchError:
    """The requisite, conditionally when the run knows it; a style sheet whose parse is
    no longer kept is fetched whole (a 304 would leave nothing to parse)."""
    if known is None or (req.is_css and parse and _known_sheet(known.original) is None):
        return fetch(req.url, policy)
    return fetch(req.url, policy, True, known.headers())


def _known_sheet(original: Fetched) -> list[Requisite] | None:
    ex = original.result.exchanges[-1]
    key = (original.result.final_url, ex.body_sha256, ex.header("content-type"),
           ex.content_encoding)
    with _SHEETS_LOCK:
        return _SHEETS.get(key)


_SHEETS: dict[tuple[str, str, str | None, str | None], list[Requisite]] = {}
_SHEETS_LOCK = threading.Lock()
_SHEETS_KEPT = 256


def _sheet(ex: Exchange, url: str, cap: int) -> list[Requisite]:
    """The requisites of a fetched style sheet. An outlet's sheet is the same bytes on
    every page: its parse is kept per (URL, body hash, type, coding), the same input
    giving the same answer (a third of a page capture's CPU time without it)."""
    key = (url, ex.body_sha256, ex.header("content-type"), ex.content_encoding)
    with _SHEETS_LOCK:
        known = _SHEETS.get(key)
    if known is not None:
        return known
    css = _decoded(ex, cap)
    found: list[Requisite] = []
    if css is not None:
        text, _ = decode(css, ex.header("content-type") or "text/css", html=False)
        found = css_requisites(text, url)
    with _SHEETS_LOCK:
        if len(_SHEETS) >= _SHEETS_KEPT:
            _SHEETS.pop(next(iter(_SHEETS)))
        _SHEETS[key] = found
    return found


def _failed(req: Requisite, reason: str) -> Failed:
    return Failed(req.url, req.kind, req.found_at, reason)


def _problem(last: Exchange) -> str | None:
    """Why a requisite that got a response still failed, or None."""
    if last.status >= 400:
        return f"HTTP {last.status} {last.reason}".rstrip()
    if last.status >= 300:
        return f"HTTP {last.status} redirect not followed"
    if last.truncated:
        why = f": {last.truncated_reason}" if last.truncated_reason else ""
        return f"truncated ({last.truncated}){why}"
    return None


def _is_html(ex: Exchange) -> bool:
    ctype = (ex.header("content-type") or "").split(";")[0].strip().lower()
    if ctype:
        return ctype in ("text/html", "application/xhtml+xml")
    with ex.open_body() as body:
        head = body.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _charset(ctype: str | None) -> str | None:
    for part in (ctype or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def _decoded(ex: Exchange, cap: int) -> bytes | None:
    """The body with its content coding undone (None if it cannot be)."""
    with ex.open_body() as raw:
        if not parse_codings(ex.content_encoding):
            return raw.read(cap)
        with decode_body(raw, ex.content_encoding, max_output=cap, max_depth=2) as decoded:
            return decoded.read() if decoded.ok else None


__all__ = ["CSS_LEVELS", "fetch_requisites"]
