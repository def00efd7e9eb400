"""The scanner's pass over a block (archive.warc.scan.block): what it finds must not depend
on how the reads cut the block, and must equal what the whole block says."""

from __future__ import annotations

import hashlib
import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from archive.warc.scan.block import BlockPass
from archive.warc.scan.digests import DeclaredDigest, check_declared


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _payload(block: bytes) -> bytes:
    """An HTTP block's payload from the whole block at once (warcio's rule: the headers
    end at the first line that is blank but for whitespace); nothing if they never end."""
    m = re.search(rb"\n[ \t\r]*\n", b"\n" + block)
    return block[m.end() - 1:] if m else b""


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


_parts = st.lists(st.sampled_from([b"a", b"b", b"\r", b"\n", b" ", b"WARC/", b"\r\n\r\n",
                                   b"HTTP/1.1 200 OK\r\n", b"X: y\r\n"]), max_size=40)


@given(_parts, st.lists(st.integers(0, 400), max_size=8), st.booleans())
def test_any_cut_of_the_block_finds_what_the_whole_block_says(
        parts: list[bytes], cuts: list[int], is_http: bool) -> None:
    block = b"".join(parts)
    whole = BlockPass(is_http)
    whole.feed(block)
    cut = BlockPass(is_http)
    for chunk in _cut(block, cuts):
        cut.feed(chunk)
    assert (cut.got, cut.block_sha256(), cut.payload_sha256(), cut.embedded) == \
        (len(block), whole.block_sha256(), whole.payload_sha256(), whole.embedded)
    assert cut.block_sha256() == _sha(block)
    assert cut.payload_sha256() == _sha(_payload(block) if is_http else block)
    j = block.find(b"\r\n\r\nWARC/")
    assert cut.embedded == (j + 4 if j >= 0 else None)


def test_the_payload_of_an_http_block_starts_after_its_headers() -> None:
    block = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\r\n\r\nWARC/1.1"
    bp = BlockPass(True)
    for i in range(0, len(block), 3):
        bp.feed(block[i:i + 3])
    assert bp.payload_sha256() == _sha(b"hello\r\n\r\nWARC/1.1")
    assert bp.embedded == block.index(b"WARC/")
    plain = BlockPass(False)
    plain.feed(block)
    assert plain.payload_sha256() == _sha(block)  # a resource's payload is its block


def test_declared_digests_are_fed_the_same_bytes_and_a_mismatch_is_named() -> None:
    block = b"HTTP/1.1 200 OK\r\n\r\nbody"
    good = DeclaredDigest("block", _sha(block))
    bad = DeclaredDigest("payload", "sha256:" + "0" * 64)
    bp = BlockPass(True, good, bad)
    bp.feed(block[:7])
    bp.feed(block[7:])
    bstat, pstat, found = check_declared(good, bad, length_known=True,
                                         payload_checkable=True, note=" (note)")
    assert (bstat, pstat) == ("pass", "fail")
    assert [code for code, _ in found] == ["payload-digest-mismatch"]
    assert found[0][1].endswith(f"(computed {_sha(b'body')}) (note)")
    assert check_declared(good, bad, length_known=True, payload_checkable=False)[:2] == \
        ("pass", "not-checked")
    assert check_declared(good, None, length_known=False, payload_checkable=True)[:2] == \
        ("unverified", "absent")
