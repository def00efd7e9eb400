"""Ask time-stamping authorities for tokens over a checkpoint note (the network half of
:mod:`archive.proof.timestamps`).

Each TSA gets one POST of ``application/timestamp-query`` through
:func:`archive.http.post.post`: the SSRF guard applies (loopback and private addresses
only when the operator allows private networks), and connect, read and the whole
answer share one deadline, so a TSA that hangs costs at most that long. All TSAs are
asked at once. A TSA that is refused, down, slow or answers anything but a granted
token over this note with our nonce is recorded with the reason; it never stops the
checkpoint, which is already signed and stored when this runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from archive.core.config import FetchPolicy
from archive.core.timeutil import iso_utc, utc_now
from archive.errors import ArchiveError, one_line
from archive.http.post import post
from archive.proof import timestamps as ts

Stamper = Callable[[str], tuple[ts.Timestamp, ...]]
"""``note -> one Timestamp per TSA``: what :func:`archive.proof.logtree.make_checkpoint`
calls after signing."""


def tsa_policy(base: FetchPolicy, deadline: float) -> FetchPolicy:
    """The fetch policy of a TSA request: the operator's network switches, one short
    deadline for everything, a small size limit, no retries."""
    return replace(base, deadline=deadline, connect_timeout=deadline, read_timeout=deadline,
                   max_bytes=ts.MAX_REPLY_BYTES, max_retries=0)


def request_timestamps(note: str, urls: Sequence[str], policy: FetchPolicy, *,
                       ca_bundle: str | None = None,
                       clock: Callable[[], datetime] = utc_now) -> tuple[ts.Timestamp, ...]:
    """One :class:`~archive.proof.timestamps.Timestamp` per URL, in the order given."""
    if not urls:
        return ()
    with ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="archive-tsa") as pool:
        futures = [pool.submit(_ask, url, note, policy, ca_bundle, clock) for url in urls]
        return tuple(f.result() for f in futures)


def stamper(urls: Sequence[str], policy: FetchPolicy, *, ca_bundle: str | None = None
            ) -> Stamper | None:
    """A :data:`Stamper` for these TSAs, or None when there are none."""
    if not urls:
        return None
    chosen = tuple(urls)
    return lambda note: request_timestamps(note, chosen, policy, ca_bundle=ca_bundle)


def _ask(url: str, note: str, policy: FetchPolicy, ca_bundle: str | None,
         clock: Callable[[], datetime]) -> ts.Timestamp:
    requested_at = iso_utc(clock())
    try:
        query, nonce = ts.build_request(note)
        answer = post(url, query, ts.QUERY_TYPE, policy, ca_bundle=ca_bundle)
        if answer.status != 200:
            raise ArchiveError(f"HTTP status {answer.status}")
        facts = ts.accept_reply(answer.body, note, nonce)
    except (ArchiveError, OSError, ValueError) as exc:
        return ts.Timestamp(url, requested_at, error=one_line(exc, 500))
    return ts.Timestamp(url, requested_at, answer.body, facts.gen_time, facts.serial)
