"""Validate a record's JSON form against ``schemas/article-metadata.schema.json``.

Like pypa/packaging's metadata validation, every problem is collected and reported
together (one line each, with its JSON path), so an operator fixes them in one go.
Formats (``date``, ``date-time``, ``uri``) are asserted, so ``2016-02-30`` fails.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .. import packagedata
from ..errors import MetadataError

SCHEMA_NAME = "article-metadata.schema.json"


def load_schema() -> dict[str, Any]:
    """The article metadata schema, as shipped with the package."""
    return packagedata.load_schema(SCHEMA_NAME)


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


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
