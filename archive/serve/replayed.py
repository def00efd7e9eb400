"""An archived response made servable by the replay origin (see :func:`replayed`)."""

from __future__ import annotations

from archive.core.config import FetchPolicy
from archive.serve import memento
from archive.serve.rewrite import replay_url, rewrite_css, rewrite_html
from archive.warc.reader import StoredRecord, decode_payload


def replayed(rec: StoredRecord, url: str, ts: str, policy: FetchPolicy
             ) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, headers and body to send for ``rec``, the record of ``url`` at
    memento timestamp ``ts``. A resource record (a document we stored ourselves) is
    its payload with its type. A response is sent as captured, less what must not
    travel: hop-by-hop and framing headers, cookies, CSP, HSTS, and the links that
    would lead out of the archive (``Location`` is rewritten into it). The
    transfer-coding is undone; HTML and CSS are decoded, rewritten
    (:mod:`archive.serve.rewrite`) and sent without their content-coding; anything
    else keeps its content-coding. ``policy``'s limits bound the decoding."""
    if rec.http_headers is None:  # a resource record: the document itself
        ctype = rec.header("Content-Type") or "application/octet-stream"
        return 200, [("Content-Type", ctype)], rec.payload
    try:
        status = int(rec.http_headers.get_statuscode())
    except (TypeError, ValueError):
        status = 200
    raw = list(rec.http_headers.headers)
    te = rec.http_header("Transfer-Encoding")
    ce = rec.http_header("Content-Encoding")
    ctype = (rec.http_header("Content-Type") or "").lower()
    rewrite = ctype.startswith(("text/html", "application/xhtml", "text/css"))
    if rewrite:
        with decode_payload(rec.payload, te, ce, policy) as decoded:
            body = decoded.read() if decoded.ok else b""
        charset = _charset(ctype)
        text = body.decode(charset, "replace")
        text = rewrite_css(text, url, ts) if ctype.startswith("text/css") else \
            rewrite_html(text, url, ts)
        body = text.encode(charset, "replace")
    else:
        with decode_payload(rec.payload, te, None, policy) as decoded:
            body = decoded.read() if decoded.ok else b""
    drop = memento.HOP_BY_HOP | {"content-length", "content-security-policy",
                                 "content-security-policy-report-only", "set-cookie",
                                 "strict-transport-security", "alt-svc", "location",
                                 "link", "refresh"}
    if rewrite:
        drop |= {"content-encoding"}
    headers = [(k, v) for k, v in raw if k.lower() not in drop]
    loc = rec.http_header("Location")
    if loc:
        headers.append(("Location", replay_url(loc, url, ts)))
    return status, headers, body


def _charset(ctype: str) -> str:
    """The charset a Content-Type names, if Python knows it; else UTF-8."""
    for part in ctype.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            name = v.strip("'\" ")
            try:
                "".encode(name)
            except LookupError:
                break
            return name
    return "utf-8"
