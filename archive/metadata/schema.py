"""Validate a record's JSON form against ``schemas/article-metadata.schema.json``.

Like pypa/packaging's metadata validation, every problem is collected and reported
together (one line each, with its JSON path), so an operator fixes them in one go.
Formats ``date`` and ``date-time`` are asserted, so ``2016-02-30`` fails, and so
does an instant without its UTC offset (jsonschema checks ``date-time`` only with an
optional package; the check here needs none).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from archive.core import packagedata

from ..errors import MetadataError

SCHEMA_NAME = "article-metadata.schema.json"


def load_schema() -> dict[str, Any]:
    """The article metadata schema, as shipped with the package."""
    return packagedata.load_schema(SCHEMA_NAME)


def _validator() -> Any:
    return packagedata.schema_validator(SCHEMA_NAME, (("date-time", _is_instant),))


def _is_instant(value: object) -> bool:
    """RFC 3339 date-time: a full date and time with a UTC offset (``Z`` or ``+02:00``)."""
    if not isinstance(value, str):
        return True  # formats constrain strings only
    if len(value) < 20 or value[10] not in "Tt":
        return False
    return datetime.fromisoformat(value.replace("z", "Z")).tzinfo is not None


def _path(parts: Any) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return text.lstrip(".") or "(record)"


def errors(doc: Any) -> list[str]:
    """Every schema violation in ``doc``, one line each, sorted by path."""
    found = sorted(
        _validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [f"{_path(e.absolute_path)}: {e.message}" for e in found]


def validate(doc: Any) -> None:
    """Raise :class:`MetadataError` listing every problem if ``doc`` is not a valid record."""
    problems = errors(doc)
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise MetadataError(
            f"metadata record fails {SCHEMA_NAME} ({len(problems)} {noun}): "
            + "; ".join(problems),
            errors=problems,
        )
