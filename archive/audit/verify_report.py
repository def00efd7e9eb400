"""What ``archive verify`` found: one :class:`Problem` per disagreement, in a
:class:`VerifyReport` (shared by the orchestrator and its worker processes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    # file-missing | file-changed | record-changed | manifest | provenance | metadata |
    # custody | chain | checkpoint | untracked
    kind: str
    message: str
    path: str | None = None
    record_id: str | None = None
    expected: str | None = None
    actual: str | None = None
    capture_id: str | None = None  # sha256:<hex> of the capture the problem is about
    field: str | None = None  # "table.column" of a column that disagrees

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class VerifyReport:
    files: int = 0
    bytes: int = 0
    records: int = 0
    captures: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": self.files, "bytes": self.bytes,
                "records": self.records, "captures": self.captures, "events": self.events,
                "problems": [p.to_json() for p in self.problems]}


__all__ = ["Problem", "VerifyReport"]
