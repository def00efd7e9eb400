"""Timestamps written in UTC, moved to the publisher's local calendar date when the
page or the place gives it.

``2019-03-04T15:00:00Z`` is 5 March in Tokyo. A UTC timestamp keeps its date
unless: the page writes the same instant with a local offset; the plausible time
zones of the publisher (see ``timezones``) all give one other date; or the URL or
the visible text shows one of the possible local dates. Every move records the
UTC date as rejected, with the reason.

``instant_on`` gives the value a date field shows when the page states a time and a
zone (issue 12, item 11): the full instant with its UTC offset, written in the
offset the page used, or in the publisher's one known offset when that is what
puts it on the local date; the date alone otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

from .dates import DateMatch
from .model import Rejected


@dataclass(frozen=True, slots=True)
class Witness:
    match: DateMatch
    source: str
    weight: float
    instant: datetime | None  # the moment, when the raw string has a time and a zone


def instant_of(raw: str) -> datetime | None:
    text = raw.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _moment(match: DateMatch, instant: datetime | None) -> datetime:
    if instant is not None:
        return instant.astimezone(UTC).replace(tzinfo=None)
    return datetime.combine(match.date, time(match.hour or 0))


def _midnight(w: Witness) -> bool:
    """``2020-01-10T00:00:00Z``: a date stored without its time, not an instant."""
    return w.instant is not None and (w.instant.hour, w.instant.minute, w.instant.second) == (
        0,
        0,
        0,
    )


def _local_dates(
    match: DateMatch, instant: datetime | None, offsets: tuple[float, float]
) -> set[date]:
    moment = _moment(match, instant)
    return {(moment + timedelta(hours=h)).date() for h in offsets}


def _local_shift_plausible(utc: DateMatch, local: date) -> bool:
    """With no idea of the time zone (UTC-10 to UTC+10): could the local date of
    this UTC timestamp be ``local``?"""
    if utc.hour is None:
        return False
    delta = (local - utc.date).days
    return (delta == -1 and utc.hour < 10) or (delta == 1 and utc.hour >= 14)


def localise(
    witnesses: list[Witness],
    local_hints: list[tuple[DateMatch, str]],
    offsets: tuple[float, float] | None,
) -> tuple[list[Witness], list[Rejected]]:
    """Replace the UTC calendar date of a timestamp by the publisher's local date:
    the same instant written with a local offset elsewhere on the page; the one
    local date the plausible time zones allow (see ``timezones``); or, when they
    allow two, the one the page shows (URL, visible text)."""
    local_instants = [w for w in witnesses if w.instant is not None and w.match.offset]
    out: list[Witness] = []
    rejected: list[Rejected] = []
    for w in witnesses:
        if not w.match.utc or w.match.hour is None or _midnight(w):
            out.append(w)
            continue
        twin = next(
            (
                o
                for o in local_instants
                if w.instant and o.instant and abs(o.instant - w.instant) <= timedelta(minutes=1)
            ),
            None,
        )
        if twin is not None:
            if twin.match.date != w.match.date:
                rejected.append(
                    Rejected(
                        w.match.date.isoformat(),
                        f"UTC calendar date of the instant that {twin.source} gives in local time",
                        w.source,
                        w.match.raw,
                    )
                )
            out.append(Witness(twin.match, w.source, w.weight, twin.instant))
            continue
        if offsets is not None:
            possible = _local_dates(w.match, w.instant, offsets)
            zone = f"UTC{offsets[0]:+g}" + (
                f" to {offsets[1]:+g}" if offsets[1] != offsets[0] else ""
            )
        else:
            possible = (
                {w.match.date}
                if 10 <= w.match.hour < 14
                else {
                    d
                    for d in (
                        w.match.date - timedelta(days=1),
                        w.match.date,
                        w.match.date + timedelta(days=1),
                    )
                    if d == w.match.date or _local_shift_plausible(w.match, d)
                }
            )
            zone = "an unknown zone"
        if possible == {w.match.date} or any(m.date == w.match.date for m, _ in local_hints):
            out.append(w)  # no other day is possible, or the page itself shows this one
            continue
        shown = [(m, src) for m, src in local_hints if m.date in possible]
        dates_shown = {m.date for m, _ in shown}
        if len(dates_shown) == 1:
            local, where = shown[0]
            out.append(Witness(local, w.source, w.weight, w.instant))
            rejected.append(
                Rejected(
                    w.match.date.isoformat(),
                    f"UTC calendar date of {w.match.raw!r}; "
                    f"the page gives the local date {local.raw!r} ({where})",
                    w.source,
                    w.match.raw,
                )
            )
            continue
        if len(possible) == 1:
            # every plausible zone of the publisher puts the instant on one other day
            local_day = possible.pop()
            shifted = DateMatch(
                (local_day,), w.match.raw, w.match.start, w.match.end, w.match.order, None
            )
            out.append(Witness(shifted, w.source, w.weight * 0.85, w.instant))
            rejected.append(
                Rejected(
                    w.match.date.isoformat(),
                    f"UTC calendar date of {w.match.raw!r}; in "
                    f"the publisher's time zone ({zone}) it is {local_day.isoformat()}",
                    w.source,
                    w.match.raw,
                )
            )
            continue
        # the local date may be another day and nothing says which: keep the date as written
        out.append(Witness(w.match, w.source, w.weight * 0.8, w.instant))
    return out, rejected


def instant_on(
    instant: datetime | None, day: date, offsets: tuple[float, float] | None
) -> str | None:
    """``instant`` as ISO 8601 with seconds and its UTC offset, if it falls on ``day``
    as written, or in the publisher's single plausible offset. None when only the
    date can be shown: no instant, an exact midnight (a date stored as a timestamp),
    or a local date that no known offset gives."""
    if instant is None or (instant.hour, instant.minute, instant.second) == (0, 0, 0):
        return None
    if instant.date() == day:
        return instant.isoformat(timespec="seconds")
    if offsets is not None and offsets[0] == offsets[1]:
        local = instant.astimezone(timezone(timedelta(hours=offsets[0])))
        if local.date() == day:
            return local.isoformat(timespec="seconds")
    return None
