"""The fast canonical-JSON path produces exactly RFC 8785 (as implemented by rfc8785)."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.core.canonical import canonical_json

scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(), inner, max_size=5), max_leaves=25)


@settings(max_examples=400)
@given(values)
def test_fast_path_equals_rfc8785(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_known_answer_with_escapes_and_unicode() -> None:
    value = {"b": "ä\u2028\x1f\"\\", "a": [1, True, None], "\u20ac": {"z": 0, "y": -1}}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json({"b": 1, "a": 2}) == b'{"a":2,"b":1}'


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_numbers_outside_the_fast_path_still_match(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        return
    assert canonical_json(value) == expected
