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
from collections.abc import Callable, Iterator
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


class ScreenedValidator:
    """jsonschema's Draft 2020-12 validator behind a compiled screen.

    Almost every document we validate is valid (each metadata record is validated when
    it is extracted, and again by the pipeline's schema check), and jsonschema spends
    milliseconds proving it. ``jsonschema_rs`` (MIT; Rust) answers "valid?" about a
    hundred times faster, with the same format checks handed to it; only a document it
    rejects goes through jsonschema, whose messages (every problem, with its path) are
    the ones users see. So a document that jsonschema rejects is reported exactly as
    before as long as the screen rejects it too: the screen may be stricter (it checks
    ``uri`` formats that jsonschema skips; jsonschema then has the last word), never
    more lenient (tests/test_schema_screen.py compares both on generated documents)."""

    def __init__(self, schema: dict[str, Any], formats: tuple[FormatCheck, ...]) -> None:
        from jsonschema import Draft202012Validator, FormatChecker
        from jsonschema_rs import Draft202012Validator as Screen

        Draft202012Validator.check_schema(schema)
        if formats:
            checker = FormatChecker(formats=())
            checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
            for fmt, check in formats:
                checker.checks(fmt, raises=ValueError)(check)
            self.full = Draft202012Validator(schema, format_checker=checker)
        else:
            self.full = Draft202012Validator(schema)
        self._screen = Screen(schema, validate_formats=bool(formats),
                              formats=dict(formats) or None)

    def iter_errors(self, doc: Any) -> Iterator[Any]:
        """jsonschema's errors for ``doc``: none when the screen finds it valid."""
        try:
            valid = self._screen.is_valid(doc)
        except ValueError:  # not a JSON value (a tuple, a set): jsonschema judges it
            valid = False
        if valid:
            return iter(())
        return self.full.iter_errors(doc)  # type: ignore[no-any-return]


@cache
def schema_validator(name: str, formats: tuple[FormatCheck, ...] = ()) -> ScreenedValidator:
    """A Draft 2020-12 validator for the shipped schema ``name`` (the schema itself
    checked first), built once. ``formats`` adds or replaces format checks, as
    ``(format name, check)`` pairs, on top of jsonschema's own (which check formats
    only when asked to)."""
    return ScreenedValidator(load_schema(name), formats)


def examples_dir() -> Path:
    """The bundled example folder (``sources.yaml`` and the demo news ``site/``), as a
    directory on disk (the demo serves it with :mod:`http.server`)."""
    ref = files(_PACKAGE) / "examples"
    if not isinstance(ref, Path) or not (ref / "sources.yaml").is_file():
        raise ConfigError(f"the example site is not installed as files ({ref}); reinstall "
                          "the package from a wheel or a checkout")
    return ref


__all__ = ["ScreenedValidator", "examples_dir", "load_schema", "schema_file", "schema_names",
           "schema_validator"]
