"""Turn candidate values from several places into one :class:`Field`.

Each candidate carries a prior weight: how often that kind of source is right on
its own. Candidates that agree (same normalised key) pool their weight as
independent witnesses (noisy-OR); the strongest disagreeing group lowers the
confidence in proportion to its own support.
The best group wins by its strongest witness, then by its pooled weight; the
others are recorded as rejected, with the source that offered them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .model import EXTRACTOR_ID, Evidence, Field, Rejected, Value


@dataclass(frozen=True, slots=True)
class Candidate:
    value: str | tuple[str, ...]
    source: str
    raw: str
    weight: float
    extractor: str = EXTRACTOR_ID
    note: str | None = (
        None  # why this candidate was set aside, when it is offered only for the record
    )

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.source, self.raw, self.extractor)


def _default_key(value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return "\x1f".join(sorted(v.casefold() for v in value))
    return " ".join(value.casefold().split())


def choose(
    candidates: Iterable[Candidate],
    *,
    key: Callable[[str | tuple[str, ...]], str] = _default_key,
    cap: float = 0.99,
    extra_rejected: Iterable[Rejected] = (),
    display: Callable[[list[Candidate]], Candidate] | None = None,
) -> Field:
    """``display`` picks which spelling of the winning group to show (default: the
    one from the strongest source)."""
    groups: dict[str, list[Candidate]] = {}
    for cand in candidates:
        if not cand.value:
            continue
        groups.setdefault(key(cand.value), []).append(cand)
    extra = tuple(extra_rejected)
    if not groups:
        return Field(rejected=extra)

    def strength(group: list[Candidate]) -> tuple[float, float]:
        return max(c.weight for c in group), pooled(group)

    ranked = sorted(groups.values(), key=strength, reverse=True)
    best = ranked[0]
    confidence = pooled(best)
    rejected: list[Rejected] = []
    winner = display(best) if display else max(best, key=lambda c: c.weight)
    if len(ranked) > 1:
        # the strongest dissent: a rival as well supported as the winner halves confidence
        confidence *= 1.0 - 0.5 * pooled(ranked[1])
    for group in ranked[1:]:
        top = max(group, key=lambda c: c.weight)
        rejected.append(
            Rejected(
                _display(top.value),
                top.note or f"disagrees with the stronger evidence ({winner.source})",
                top.source,
                top.raw,
            )
        )
    evidence = tuple(dict.fromkeys(c.evidence for c in sorted(best, key=lambda c: -c.weight)))
    return Field(winner.value, evidence, round(min(cap, confidence), 3), extra + tuple(rejected))


def pooled(group: list[Candidate]) -> float:
    """Noisy-OR over distinct sources: two independent witnesses of 0.7 give 0.91."""
    best_by_source: dict[str, float] = {}
    for c in group:
        kind = c.source.split(":", 1)[0]
        best_by_source[kind] = max(best_by_source.get(kind, 0.0), c.weight)
    miss = 1.0
    for weight in best_by_source.values():
        miss *= 1.0 - weight
    return 1.0 - miss


def _display(value: Value) -> str:
    if isinstance(value, tuple):
        return "; ".join(value)
    return value or ""
