"""The data files the package ships beside its code: JSON Schemas and the demo site.

Their one copy lives at the top of the repository (``schemas/``, ``examples/``: the
project's fixed layout). ``archive/schemas`` and ``archive/examples`` are symlinks to
those folders; setuptools follows them when it builds a wheel (``package-data`` in
pyproject.toml), so in a checkout and in an installed wheel alike the files sit inside
the ``archive`` package and are read through :mod:`importlib.resources`, never through a
path relative to a checkout that an installed copy does not have.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from archive.errors import ConfigError

_PACKAGE = "archive"


def schema_file(name: str) -> Traversable:
    """The shipped schema ``name`` (e.g. ``proof-bundle.schema.json``)."""
    return files(_PACKAGE) / "schemas" / name


def schema_names() -> list[str]:
    """Every shipped schema's file name, sorted."""
    return sorted(t.name for t in (files(_PACKAGE) / "schemas").iterdir()
                  if t.name.endswith(".schema.json"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``name``; a missing or garbled file is a one-line
    :class:`~archive.errors.ConfigError` (the installation is broken)."""
    try:
        schema: dict[str, Any] = json.loads(schema_file(name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the JSON Schema {name} shipped with the archive package is not "
                          f"readable ({exc}); reinstall the package") from exc
    return schema


FormatCheck = tuple[str, Callable[[object], bool]]


@cache
def schema_validator(name: str, formats: tuple[FormatCheck, ...] = ()) -> Any:
    """A Draft 2020-12 validator for the shipped schema ``name`` (the schema itself
    checked first), built once. ``formats`` adds or replaces format checks, as
    ``(format name, check)`` pairs, on top of jsonschema's own (which check formats
    only when asked to)."""
    from jsonschema import Draft202012Validator, FormatChecker

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    if not formats:
        return Draft202012Validator(schema)
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    for fmt, check in formats:
        checker.checks(fmt, raises=ValueError)(check)
    return Draft202012Validator(schema, format_checker=checker)


def examples_dir() -> Path:
    """The bundled example folder (``sources.yaml`` and the demo news ``site/``), as a
    directory on disk (the demo serves it with :mod:`http.server`)."""
    ref = files(_PACKAGE) / "examples"
    if not isinstance(ref, Path) or not (ref / "sources.yaml").is_file():
        raise ConfigError(f"the example site is not installed as files ({ref}); reinstall "
                          "the package from a wheel or a checkout")
    return ref


__all__ = ["examples_dir", "load_schema", "schema_file", "schema_names", "schema_validator"]
