"""Memento (RFC 7089) pieces, pure: 14-digit timestamps, ``Accept-Datetime``, choosing
the memento closest in time, ``Link`` headers and link-format timemaps."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from archive.core.timeutil import parse_iso

_TIMESTAMP = re.compile(r"[0-9]{14}")
MAX_ACCEPT_DATETIME = 64
"""Longest ``Accept-Datetime`` value read (an RFC 1123 date is 29 characters)."""

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection",
})
"""Response headers that described the original connection, not the resource."""


def parse_timestamp(ts: str) -> datetime | None:
    """``YYYYMMDDhhmmss`` (UTC) as a datetime, or None when it is not a valid one."""
    if not _TIMESTAMP.fullmatch(ts):
        return None
    try:
        return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def timestamp(when: datetime | str) -> str:
    """The 14-digit UTC timestamp of a datetime or an ISO 8601 string."""
    dt = parse_iso(when) if isinstance(when, str) else when
    return dt.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def http_date(when: datetime | str) -> str:
    """RFC 1123 date (``Memento-Datetime``, timemap ``datetime``)."""
    dt = parse_iso(when) if isinstance(when, str) else when
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def parse_accept_datetime(value: str) -> datetime:
    """An ``Accept-Datetime`` value (RFC 1123) as an aware UTC datetime; raises
    ``ValueError`` for anything longer than a date can be or that is not one."""
    if len(value) > MAX_ACCEPT_DATETIME:
        raise ValueError("Accept-Datetime is too long to be an RFC 1123 date")
    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise ValueError(f"Accept-Datetime is not an RFC 1123 date: {exc}") from exc
    if dt.tzinfo is None:
        raise ValueError("Accept-Datetime has no time zone (RFC 1123 dates end in GMT)")
    return dt.astimezone(UTC)


class Dated(Protocol):
    """A memento: anything with an ISO ``date`` (a :class:`ReplayRecord`)."""

    @property
    def date(self) -> str: ...


_M = TypeVar("_M", bound=Dated)


def closest(found: Sequence[_M], when: datetime) -> _M:
    """The entry nearest ``when``, both counted in whole seconds (what a 14-digit
    timestamp can name, so a memento's own timestamp finds it); on a tie, the earlier
    one."""
    target = when.replace(microsecond=0)
    return min(found, key=lambda m: (abs((parse_iso(m.date).replace(microsecond=0)
                                          - target).total_seconds()), m.date))


def link_header(original: str, memento_url: str | None, when: str | None,
                timegate: str, timemap: str) -> str:
    """The ``Link`` header of a memento or timegate response: original, timegate,
    timemap, and the memento itself (with its datetime) when there is one."""
    parts = [f'<{_link_url(original)}>; rel="original"',
             f'<{_link_url(timegate)}>; rel="timegate"',
             f'<{_link_url(timemap)}>; rel="timemap"; type="application/link-format"']
    if memento_url and when:
        parts.append(f'<{_link_url(memento_url)}>; rel="memento"; datetime="{http_date(when)}"')
    return ", ".join(parts)


def timemap(original: str, timegate: str, self_url: str,
            mementos: Sequence[tuple[str, str]]) -> str:
    """An ``application/link-format`` timemap: ``mementos`` are (URL, ISO date), oldest
    first; the first and last carry ``first``/``last`` in their relation."""
    lines = [f'<{_link_url(original)}>; rel="original"',
             f'<{_link_url(self_url)}>; rel="self"; type="application/link-format"',
             f'<{_link_url(timegate)}>; rel="timegate"']
    for i, (url, date) in enumerate(mementos):
        rel = " ".join(filter(None, ["first" if i == 0 else "",
                                     "last" if i == len(mementos) - 1 else "", "memento"]))
        lines.append(f'<{_link_url(url)}>; rel="{rel}"; datetime="{http_date(date)}"')
    return ",\n".join(lines) + "\n"


def _link_url(url: str) -> str:
    """A URL as it may stand between ``<`` and ``>`` in a Link header (RFC 8288)."""
    return re.sub(r"[<>\"\s,]", lambda m: f"%{ord(m.group()):02X}", url)


def uri_variants(url: str) -> list[str]:
    """The forms a lookup of ``url`` tries, in order: as given, then with or without
    the trailing slash of an empty path (``http://a.example`` and ``http://a.example/``
    name the same resource)."""
    parts = urlsplit(url)
    if parts.path in ("", "/") and not parts.query:
        bare = f"{parts.scheme}://{parts.netloc}"
        return [url, bare + "/" if url == bare else bare]
    return [url]
