"""The two web applications of ``archive serve`` over one read-only archive.

The *resolver* (the application origin) serves search, capture pages, proof bundles,
WARC downloads, history and the framing page of a memento. The *replay* origin (its
own port) serves only archived responses (``/web/``), timegates and timemaps, with a
Content-Security-Policy that lets a page load nothing but the replay origin itself:
an archived page's script runs in a sandboxed frame of another origin, so it can
neither reach the live web nor read or act on the resolver.

Every value a page shows comes from the façade (:class:`archive.api.Archive`): the
stored manifest, provenance and metadata records, the custody log, ``verify``.
Unknown hashes and URLs get a 404 page, malformed ``Accept-Datetime`` a 400; nothing
here ever opens a path a request names (records are located by the database).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from archive.api import Archive
from archive.browser import screenshot_uri
from archive.cite import FORMATS
from archive.core.hashing import hex_part
from archive.core.timeutil import iso_utc
from archive.errors import ArchiveError, NotFoundError
from archive.ledger.queries import CaptureSummary, ListedCapture, ShownCapture
from archive.ledger.replayed import ReplayRecord
from archive.proof.logtree import InclusionProofs
from archive.serve import memento
from archive.serve.rendering import STATIC, page
from archive.serve.replayed import replayed

PAGE_SIZE = 20
VERIFY_TTL = 600.0
"""Seconds a capture's verification result is shown before it is computed again."""

APP_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "frame-src {replay}; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
REPLAY_CSP = ("default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
              "form-action 'self'; base-uri 'self'; frame-ancestors {app}")


@dataclass
class Checked:
    ok: bool
    problems: list[str]
    checked_at: str
    monotonic: float


@dataclass
class State:
    """What both applications share: the archive and the verification cache."""

    arc: Archive
    app_origin: str
    replay_origin: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    verified: dict[str, Checked] = field(default_factory=dict)


def _target(request: Request) -> str:
    """The URL named after a route prefix (``/web/<ts>/<url>``), its query kept."""
    url = str(request.path_params["url"])
    query = request.url.query
    return url + ("?" + query if query else "")


def _http_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL; else a 404 (``file:`` and friends)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise HTTPException(404, "not an http(s) URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise HTTPException(404, "only http(s) URLs are archived")
    return url


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Database and file reads off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


# --------------------------------------------------------------------------- shared

class Views:
    """The request handlers; one instance per ``archive serve``."""

    def __init__(self, state: State) -> None:
        self.s = state
        self.arc = state.arc

    # ----- lookups

    def mementos(self, url: str) -> tuple[str, list[ReplayRecord]]:
        for candidate in memento.uri_variants(_http_url(url)):
            found = self.arc.records_for_uri(candidate)
            if found:
                return candidate, found
        raise HTTPException(404, f"nothing archived for {url}")

    def links(self, origin: str, url: str) -> tuple[str, str]:
        return f"{origin}/timegate/{url}", f"{origin}/timemap/link/{url}"

    # ----- resolver pages

    async def search(self, request: Request) -> Response:
        q = request.query_params.get("q", "").strip()[:500]
        try:
            pageno = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            pageno = 1
        start = (pageno - 1) * PAGE_SIZE
        rows, more, total = await _run(self.find, q, start, PAGE_SIZE)
        return page("search.html", q=q, rows=rows, total=total, page=pageno, more=more,
                    headers=self.app_headers())

    def find(self, q: str, start: int, count: int
             ) -> tuple[list[dict[str, Any]], bool, int | None]:
        """(``count`` captures matching ``q`` from the ``start``-th on, newest first,
        whether more follow, how many match when that is known without reading them
        all): a hash (prefix) resolves; otherwise every word must appear in the URL,
        final URL, title or outlet; ``from:YYYY-MM-DD`` / ``to:YYYY-MM-DD`` bound the
        publication date. Candidates come from an indexed query in batches
        (:meth:`Archive.search_captures`) and reading stops once the page is full."""
        words, since, until = [], "", ""
        for w in q.split():
            if w.startswith("from:"):
                since = w[5:]
            elif w.startswith("to:"):
                until = w[3:]
            else:
                words.append(w.lower())
        if len(words) == 1 and not since and not until:
            try:
                resolved = self.arc.resolve(words[0])  # oldest first
            except ArchiveError:
                resolved = []
            if resolved:
                gone = self.arc.withdrawn(c.capture_id for c in resolved)
                found = self.described(resolved[::-1], withdrawn=gone)
                return found[start:start + count], start + count < len(found), len(found)
        out: list[dict[str, Any]] = []
        for batch in self.arc.search_captures(words):
            for r in self.described(batch):
                hay = " ".join(filter(None, [r["url"], r["final_url"], r["title"],
                                             r["outlet"]]))
                pub = (r["published"] or "")[:10]
                if all(w in hay.lower() for w in words) and \
                        (not since or (pub and pub >= since)) and \
                        (not until or (pub and pub <= until)):
                    out.append(r)
            if len(out) > start + count:
                break
        total = self.arc.count_captures() if not words and not since and not until else None
        return out[start:start + count], len(out) > start + count, total

    def described(self, caps: Sequence[CaptureSummary],
                  withdrawn: Container[str] | None = None) -> list[dict[str, Any]]:
        """The rows a page lists: each capture's JSON form with its title, outlet and
        publication date from its newest metadata version, its timestamp, and (given
        ``withdrawn``, the ids withdrawn) whether it is withdrawn."""
        meta = self.arc.latest_metadata([c.capture_id for c in caps])
        out = []
        for c in caps:
            version = meta.get(c.capture_id)
            rec = version.record if version else {}
            row = c.to_json()
            if withdrawn is not None:
                row["withdrawn"] = c.capture_id in withdrawn
            out.append({**row, "title": _value(rec, "title"), "outlet": _value(rec, "outlet"),
                        "published": _value(rec, "published"),
                        "ts": memento.timestamp(c.captured_at)})
        return out

    async def capture(self, request: Request) -> Response:
        ref = str(request.path_params["ref"])
        shown = await _run(self.lookup, ref)
        if len(shown) > 1:
            return page("choose.html", ref=ref, rows=self.described(shown),
                        headers=self.app_headers())
        ctx = await _run(self.capture_context, shown[0].capture_id)
        return page("capture.html", c=ctx["shown"], **ctx, headers=self.app_headers())

    def lookup(self, ref: str) -> list[CaptureSummary]:
        try:
            return self.arc.resolve(ref)
        except ArchiveError as exc:
            raise HTTPException(404, str(exc)) from None

    def capture_context(self, cid: str) -> dict[str, Any]:
        shown = next(c for c in self.arc.show(cid) if c.capture_id == cid)
        versions = self.arc.metadata(cid)[0].versions
        meta = versions[-1] if versions else None
        citations = {fmt: self.arc.cite(cid, fmt) for fmt in FORMATS}
        try:
            proofs: Any = self.arc.prove(cid)
            proof_error = None
        except ArchiveError as exc:
            proofs, proof_error = None, str(exc)
        # the rendered DOM and the screenshot of a browser capture are urn: records of
        # the capture itself, not requisites of the page
        requisites = [r for r in shown.records
                      if r.type in ("response", "resource", "revisit")
                      and r.target_uri not in (shown.url, shown.final_url)
                      and not (r.target_uri or "").startswith("urn:")]
        screenshot = next((r for r in shown.records if r.type == "resource" and
                           (r.target_uri or "").startswith(screenshot_uri(""))), None)
        page_uri = shown.final_url or shown.url
        # the template reads the capture in its JSON form (what `archive show --json` gives)
        return {"shown": shown.to_json(), "meta": meta,
                "record": meta.record if meta else {},
                "citations": citations, "proofs": proofs, "proof_error": proof_error,
                "checked": self.verified(cid), "requisites": requisites,
                "screenshot": screenshot,
                "ts": memento.timestamp(shown.captured_at), "page_uri": page_uri,
                "replay": self.s.replay_origin,
                "bundle_note": self.bundle_note(shown, proofs)}

    def bundle_note(self, shown: ShownCapture, proofs: InclusionProofs | None) -> str | None:
        if proofs is None:
            return "no signed checkpoint holds this capture's events yet, so no bundle " \
                   "can be served (the server never signs; run `archive checkpoint`)"
        gone = shown.withdrawal
        if gone and gone.seq >= proofs.checkpoint.size:
            return (f"withdrawn after the latest signed checkpoint (size "
                    f"{proofs.checkpoint.size}): no bundle is served until a checkpoint holds "
                    f"the withdrawal (event #{gone.seq}), so that a bundle always says so")
        newest = max((e.seq for e in shown.own_events), default=-1)
        if newest >= proofs.checkpoint.size:
            return (f"the latest signed checkpoint (size {proofs.checkpoint.size}) does not "
                    f"hold this capture's newest custody event (#{newest}) yet; the bundle "
                    "proves the events it does hold")
        return None

    def verified(self, cid: str) -> Checked:
        with self.s.lock:
            hit = self.s.verified.get(cid)
        if hit is not None and time.monotonic() - hit.monotonic < VERIFY_TTL:
            return hit
        try:
            report = self.arc.verify_captures([cid])
            ok, problems = report.ok, [f"{p.kind}: {p.message}" for p in report.problems]
        except ArchiveError as exc:
            ok, problems = False, [str(exc)]
        hit = Checked(ok, problems, iso_utc(datetime.now(UTC)), time.monotonic())
        with self.s.lock:
            self.s.verified[cid] = hit
        return hit

    async def bundle(self, request: Request) -> Response:
        ref = str(request.path_params["ref"])
        shown = await _run(self.lookup, ref)
        if len({c.capture_id for c in shown}) > 1:
            raise HTTPException(404, f"{ref} names several captures; give a capture id")
        cid = shown[0].capture_id
        try:
            data = await _run(self.arc.bundle, cid, sign=False)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except ArchiveError as exc:
            raise HTTPException(409, str(exc)) from None
        name = f"{hex_part(cid)[:16]}.bundle.json"
        return Response(data, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def screenshot(self, request: Request) -> Response:
        """A browser capture's full-page PNG, read from its WARC record and checked
        against the digest its manifest commits to (404 when it has none)."""
        ref = str(request.path_params["ref"])
        shown = await _run(self.lookup, ref)
        _digest, png = await _run(self.arc.screenshot, shown[-1].capture_id)
        return Response(png, media_type="image/png")

    async def warc(self, request: Request) -> Response:
        """The capture's WARC records, exactly as stored (gzip members, in file order)."""
        ref = str(request.path_params["ref"])
        shown = await _run(self.lookup, ref)
        cid = shown[0].capture_id
        full = (await _run(self.arc.show, cid))
        cap = next(c for c in full if c.capture_id == cid)
        data = await _run(self.arc.record_members, cap)
        name = f"{hex_part(cid)[:16]}.warc.gz"
        return Response(data, media_type="application/warc",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def history(self, request: Request) -> Response:
        url = _http_url(_target(request))
        caps: list[ListedCapture] = []
        for candidate in memento.uri_variants(url):
            caps = await _run(self.arc.captures_of_url, candidate)
            if caps:
                break
        if not caps:
            raise HTTPException(404, f"nothing archived for {url}")
        timeline = await _run(self.timeline, caps)
        return page("history.html", url=url, timeline=timeline, headers=self.app_headers())

    def timeline(self, caps: list[ListedCapture]) -> list[dict[str, Any]]:
        """Each capture, oldest first: new (the first), unchanged (same content hash or
        the same article sentences) or changed, with the diff against the one before,
        and the comparison its custody log recorded (``recorded``, or ``None``)."""
        from archive.metadata.textdiff import changed, diff_sentences

        out: list[dict[str, Any]] = []
        prev: dict[str, Any] | None = None
        prev_sentences: list[str] | None = None
        recorded = self.arc.comparisons([c.capture_id for c in caps])
        for c in self.described(caps):
            try:
                sentences: list[str] | None = self.arc.sentences(c["capture_id"])
            except ArchiveError:
                sentences = None
            entry = {**c, "changes": None, "previous": prev["capture_id"] if prev else None,
                     "recorded": recorded.get(c["capture_id"])}
            if prev is None:
                entry["verdict"] = "new"
            elif c["content_hash"] and c["content_hash"] == prev["content_hash"]:
                entry["verdict"] = "unchanged"
            elif sentences is not None and prev_sentences is not None:
                changes = diff_sentences(prev_sentences, sentences)
                entry["verdict"] = "changed" if changed(changes) else "unchanged"
                entry["changes"] = [x for x in changes if x.op != "same"] or None
            else:
                entry["verdict"] = "changed"
            out.append(entry)
            prev, prev_sentences = c, sentences
        return list(reversed(out))

    # ----- Memento

    async def frame(self, request: Request) -> Response:
        """The resolver's view of a memento: a banner naming the capture and its proof,
        the archived page in a sandboxed frame from the replay origin."""
        when, url = self.when(request)
        found_uri, found = await _run(self.mementos, url)
        m = memento.closest(found, when)
        ts = memento.timestamp(m.date)
        tg, tm = self.links(self.s.app_origin, found_uri)
        headers = {"Memento-Datetime": memento.http_date(m.date),
                   "Link": memento.link_header(found_uri, f"{self.s.app_origin}/web/{ts}/"
                                               f"{found_uri}", m.date, tg, tm),
                   **self.app_headers()}
        return page("frame.html", m=m, url=found_uri, ts=ts, replay=self.s.replay_origin,
                    headers=headers)

    def when(self, request: Request) -> tuple[datetime, str]:
        ts = str(request.path_params["ts"])
        when = memento.parse_timestamp(ts)
        if when is None:
            raise HTTPException(404, f"{ts!r} is not a 14-digit timestamp")
        return when, _target(request)

    async def replay(self, request: Request) -> Response:
        """An archived response as captured: status, headers (hop-by-hop ones and
        framing left out), the body with its transfer-coding undone; HTML and CSS with
        their links pointing into the archive, under the containment CSP."""
        when, url = self.when(request)
        found_uri, found = await _run(self.mementos, url)
        m = memento.closest(found, when)
        ts = memento.timestamp(m.date)
        want = str(request.path_params["ts"])
        if want != ts:  # the closest memento has its own URL: go there
            return Response(status_code=302, headers={
                "Location": f"/web/{ts}/{found_uri}", "Vary": "accept-datetime"})
        rec = await _run(self.arc.read_stored_record, m)
        status, headers, body = replayed(rec, found_uri, ts, self.arc.settings.fetch)
        tg, tm = self.links(self.s.replay_origin, found_uri)
        headers += [("Memento-Datetime", memento.http_date(m.date)),
                    ("Link", memento.link_header(found_uri, f"{self.s.replay_origin}/web/"
                                                 f"{ts}/{found_uri}", m.date, tg, tm)),
                    ("Content-Security-Policy", REPLAY_CSP.format(app=self.s.app_origin)),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "no-referrer")]
        resp = Response(body, status_code=status)
        resp.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1", "replace"))
                            for k, v in headers] + [
            (b"content-length", str(len(body)).encode())]
        return resp

    async def timegate(self, request: Request) -> Response:
        url = _target(request)
        value = request.headers.get("accept-datetime")
        if value is None:
            when = datetime.now(UTC)
        else:
            try:
                when = memento.parse_accept_datetime(value)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        found_uri, found = await _run(self.mementos, url)
        m = memento.closest(found, when)
        ts = memento.timestamp(m.date)
        origin = self.origin_of(request)
        tg, tm = self.links(origin, found_uri)
        return Response(status_code=302, headers={
            "Location": f"{origin}/web/{ts}/{found_uri}", "Vary": "accept-datetime",
            "Link": memento.link_header(found_uri, f"{origin}/web/{ts}/{found_uri}",
                                        m.date, tg, tm)})

    async def timemap(self, request: Request) -> Response:
        url = _target(request)
        found_uri, found = await _run(self.mementos, url)
        origin = self.origin_of(request)
        tg, tm = self.links(origin, found_uri)
        seen: dict[str, str] = {}
        for m in found:
            seen.setdefault(memento.timestamp(m.date), m.date)
        body = memento.timemap(found_uri, tg, tm, [
            (f"{origin}/web/{ts}/{found_uri}", date) for ts, date in seen.items()])
        return PlainTextResponse(body, media_type="application/link-format")

    def origin_of(self, request: Request) -> str:
        port = request.url.port
        return self.s.replay_origin if port == urlsplit(self.s.replay_origin).port \
            else self.s.app_origin

    def app_headers(self) -> dict[str, str]:
        return {"Content-Security-Policy": APP_CSP.format(replay=self.s.replay_origin),
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def _value(rec: dict[str, Any], name: str) -> Any:
    f = rec.get(name)
    return f.get("value") if isinstance(f, dict) else None


async def _error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    titles = {400: "Bad request", 404: "Not found", 405: "Method not allowed",
              409: "Cannot serve this"}
    return page("error.html", status=status, title=titles.get(status, "Error"),
                detail=detail)


def _guard(fn: Callable[[Request], Awaitable[Response]]
           ) -> Callable[[Request], Awaitable[Response]]:
    """An archive error that escaped a handler is a 404 page (no such capture, a
    record gone) or a 500 page with its one-line message, never a traceback."""
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except ArchiveError as exc:
            raise HTTPException(500, str(exc)) from None
    return wrapped


def create_apps(arc: Archive, *, app_origin: str, replay_origin: str
                ) -> tuple[Starlette, Starlette]:
    """(resolver, replay) applications over ``arc``, which should be opened with
    :meth:`Archive.open_read_only`. The origins are the URLs each is reached at."""
    v = Views(State(arc, app_origin.rstrip("/"), replay_origin.rstrip("/")))
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: _error, Exception: _error}
    app = Starlette(routes=[
        Route("/", _guard(v.search)),
        Route("/search", _guard(v.search)),
        Route("/c/{ref}", _guard(v.capture)),
        Route("/c/{ref}/bundle", _guard(v.bundle)),
        Route("/c/{ref}/warc", _guard(v.warc)),
        Route("/c/{ref}/screenshot.png", _guard(v.screenshot)),
        Route("/web/{ts}/{url:path}", _guard(v.frame)),
        Route("/timegate/{url:path}", _guard(v.timegate)),
        Route("/timemap/link/{url:path}", _guard(v.timemap)),
        Route("/history/{url:path}", _guard(v.history)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], exception_handlers=handlers)
    replay = Starlette(routes=[
        Route("/web/{ts}/{url:path}", _guard(v.replay)),
        Route("/timegate/{url:path}", _guard(v.timegate)),
        Route("/timemap/link/{url:path}", _guard(v.timemap)),
    ], exception_handlers=handlers)
    return app, replay

