"""UTC time, injectable: everything that stamps a time takes a ``Clock``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and microseconds, e.g. ``2026-11-21T14:02:03.123456Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
    # isoformat, not strftime: glibc's %Y writes the year 999 as "999", which is not
    # ISO 8601 and which parse_iso refuses (a TSA's token may carry any time).
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


_SHORT_DURATION = re.compile(r"(\d+)\s*([dhwy])")
_ISO_DURATION = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``7y`` or an ISO 8601 duration (``P30D``, ``P1Y6M``,
    ``PT12H``); a year counts 365 days and a month 30, as S3 retention periods do.
    Raises ValueError for anything else or a zero duration."""
    value = text.strip()
    short = _SHORT_DURATION.fullmatch(value.lower())
    if short:
        n, unit = int(short.group(1)), short.group(2)
        delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "w": timedelta(weeks=n),
                 "y": timedelta(days=365 * n)}[unit]
    else:
        iso = _ISO_DURATION.fullmatch(value.upper())
        if not iso or value.upper() in ("P", "PT") or value.upper().endswith("T"):
            raise ValueError(f"not a duration: {text!r} (use e.g. 30d, 12h or P30D)")
        y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in iso.groups())
        delta = timedelta(days=365 * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s)
    if delta <= timedelta(0):
        raise ValueError(f"a duration must be positive, not {text!r}")
    return delta
