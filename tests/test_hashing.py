"""The digest convention's edges in archive.core.hashing: a user's full or partial hash
read by ``parse_hash``, raw bytes for Merkle arithmetic from ``digest_bytes``."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.core.hashing import PREFIX, digest_bytes, format_digest, hex_part, parse_hash

HEX = "0123456789abcdef"


@given(digits=st.text(alphabet=HEX, min_size=1, max_size=64), prefixed=st.booleans(),
       upper=st.booleans(), pad=st.sampled_from(["", " ", "\t", "\n "]))
def test_a_users_hash_reads_as_sha256_lowercase_hex_however_it_is_written(
        digits: str, prefixed: bool, upper: bool, pad: str) -> None:
    typed = ("SHA256:" if upper else "sha256:") * prefixed + (digits.upper() if upper
                                                              else digits)
    assert parse_hash(pad + typed + pad) == "sha256:" + digits
    assert hex_part(pad + typed + pad) == digits


@pytest.mark.parametrize("typed", ["", "sha256:", "   ", "xyz", "sha256:abcg", "sha1:abcd",
                                   "ab cd", "a" * 65, "sha256:" + "0" * 65, "md5:" + "0" * 32])
def test_what_is_not_a_hash_or_hash_prefix_is_refused_with_what_was_typed(typed: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 hash or hash prefix") as err:
        parse_hash(typed)
    assert repr(typed) in str(err.value)


@given(raw=st.binary(min_size=32, max_size=32))
def test_digest_bytes_inverts_format_digest(raw: bytes) -> None:
    assert digest_bytes(format_digest(raw)) == raw


def test_digest_bytes_gives_the_hash_functions_own_bytes() -> None:
    h = hashlib.sha256(b"leaf")
    assert digest_bytes(PREFIX + h.hexdigest()) == h.digest()


@pytest.mark.parametrize("text", [
    "ab" * 32,  # bare hex: no convention but one
    "sha256:" + "ab" * 31,  # partial
    "sha256:" + "ab" * 33,  # too long
    "sha256:" + "zz" * 32,  # not hex
    "sha256:" + "ab " * 21 + "a",  # bytes.fromhex would skip the spaces
    "sha1:" + "ab" * 32,
])
def test_digest_bytes_refuses_anything_but_a_whole_sha256_digest(text: str) -> None:
    with pytest.raises(ValueError, match="not a sha256:<hex> digest"):
        digest_bytes(text)
