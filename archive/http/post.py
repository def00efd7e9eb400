"""One small POST under the fetcher's guards, for services we call (an RFC 3161 TSA).

Not a second HTTP client: the request runs on the fetcher's own :class:`Wire` and
:class:`WireConnection`, so the SSRF guard (:mod:`archive.http.netguard`, resolve then
check every address), the connect timeout, the total deadline (the watchdog closes a
socket that outlives it) and the raw size limit hold exactly as for a capture. Nothing
is spooled to disk (the answers are small) and nothing is archived.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from archive.core.config import FetchPolicy
from archive.errors import FetchError, FetchTimeoutError
from archive.http.failures import pre_response_error
from archive.http.fetch import tls_context
from archive.http.netguard import check_url
from archive.http.spool import Spool
from archive.http.wire import Wire, WireConnection


@dataclass(frozen=True)
class PostResponse:
    """What came back: status, Content-Type (lowercase, without parameters), body."""

    status: int
    content_type: str
    body: bytes


def post(url: str, body: bytes, content_type: str, policy: FetchPolicy, *,
         ca_bundle: str | None = None) -> PostResponse:
    """POST ``body`` to ``url`` and read the whole answer, within ``policy.deadline``
    seconds in all and ``policy.max_bytes`` of body.

    Raises a :class:`FetchError` subclass (refused address, DNS, connect, timeout) or
    :class:`FetchError` for an answer cut short or over the size limit.
    """
    checked = check_url(url)
    parts = urlsplit(url)
    https = checked.scheme == "https"
    tls: ssl.SSLContext | None = tls_context(policy.verify_tls, ca_bundle) if https else None
    raw_file, _ = Spool(None, memory_limit=policy.max_bytes * 2 + (1 << 20)).pair()
    wire = Wire(url, policy, time.monotonic() + policy.deadline, raw_file)
    conn = WireConnection(checked.host, checked.port, wire, tls, policy.read_timeout, None,
                          (checked.scheme, checked.host, checked.port))
    try:
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", target, body=body, headers={"Content-Type": content_type,
                                             "User-Agent": policy.user_agent,
                                             "Connection": "close"})
            response = conn.getresponse()
        except Exception as exc:
            raise pre_response_error(exc, wire, url) from exc
        try:
            data = response.read(policy.max_bytes + 1)
        except Exception as exc:
            if wire.deadline_hit:
                raise FetchTimeoutError(f"{url}: the answer took longer than the "
                                        f"{policy.deadline:g} s deadline", url=url) from None
            raise FetchError(f"{url}: the answer was cut short ({exc})", url=url) from None
        if wire.deadline_hit:
            raise FetchTimeoutError(f"{url}: the answer took longer than the "
                                    f"{policy.deadline:g} s deadline", url=url)
        if wire.read_error is not None and not wire.raw_overflow:
            raise FetchError(f"{url}: the answer was cut short ({wire.read_error})", url=url)
        if len(data) > policy.max_bytes or wire.raw_overflow:
            raise FetchError(f"{url}: the answer is over {policy.max_bytes} bytes", url=url)
        kind = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        return PostResponse(response.status, kind, data)
    finally:
        conn.close()
        wire.finish()
