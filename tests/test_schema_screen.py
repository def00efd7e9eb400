"""The compiled screen in front of jsonschema (``archive.core.packagedata.
ScreenedValidator``) is never more lenient than jsonschema: whatever it lets through,
jsonschema finds no problem in. Documents are a valid record with parts replaced by
generated JSON values (hypothesis), so they sit near the schema's edges, where the two
implementations could disagree (formats, patterns, ranges, required keys)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.core.packagedata import schema_validator
from archive.metadata import SCHEMA_NAME, extract
from archive.metadata.schema import _validator as metadata_validator
from archive.metadata.schema import errors

DATA = Path(__file__).parent / "data" / "metadata"
VALID = extract((DATA / "jsonld_article.html").read_bytes(),
                url="https://a.example/x").to_json()

# values near what the schema asks for: dates and instants good and bad, URLs, numbers
# around the confidence range, language tags, and arbitrary JSON
_NEAR = st.sampled_from([
    "2016-02-29", "2016-02-30", "2024-13-01", "2024-03-02T10:00:00Z", "2024-03-02T10:00:00",
    "2024-03-02T10:00:00+02:00", "2024-03-02 10:00:00Z", "https://a.example/x", "not a url",
    "en", "en-GB", "xx-", "", " ", 0, 1, -0.1, 0.5, 1.0, 1.5, True, None, [], {},
])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-2, 2, allow_nan=False)
    | st.text(max_size=12) | _NEAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``doc`` (keys and list indexes), the root's children first."""
    found: list[tuple[Any, ...]] = []
    items = (doc.items() if isinstance(doc, dict)
             else enumerate(doc) if isinstance(doc, list) else [])
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


PATHS = _paths(VALID)


@st.composite
def _mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) or not isinstance(parent, dict):
                parent[path[-1]] = draw(_JSON)
            else:
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):  # an earlier change removed the path
            continue
    return doc


def test_the_unchanged_record_passes_both() -> None:
    assert metadata_validator()._screen.is_valid(VALID)
    assert list(metadata_validator().full.iter_errors(VALID)) == []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_the_screen_never_passes_what_jsonschema_rejects(doc: dict[str, Any]) -> None:
    validator = metadata_validator()
    full_problems = list(validator.full.iter_errors(doc))
    if validator._screen.is_valid(doc):
        assert full_problems == [], [e.message for e in full_problems]
    # what users see is jsonschema's list, screened or not
    assert len(errors(doc)) == len(full_problems)


def test_a_rejected_record_gets_jsonschema_messages() -> None:
    bad = copy.deepcopy(VALID)
    bad["published"]["value"] = "2016-02-30"
    bad["title"]["confidence"] = 1.5
    assert not metadata_validator()._screen.is_valid(bad)
    found = errors(bad)
    assert len(found) == 2
    assert found[0] == "published.value: '2016-02-30' is not valid under any of the given schemas"
    assert found[1] == "title.confidence: 1.5 is greater than the maximum of 1"


def test_every_shipped_schema_screens_as_jsonschema_judges() -> None:
    from archive.core.packagedata import schema_names

    names = schema_names()
    assert SCHEMA_NAME in names and len(names) >= 6
    for name in names:
        validator = schema_validator(name)
        for doc in ({}, 42, [], {"unexpected": True}):
            full_ok = not list(validator.full.iter_errors(doc))
            assert validator._screen.is_valid(doc) == full_ok, (name, doc)
