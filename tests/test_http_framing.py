"""Where a chunked body ends in the raw bytes (archive.http.body.chunked_end): the
fetcher hands a connection on only when what it received ends exactly there."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from archive.http.body import chunked_end

_chunks = st.lists(st.binary(min_size=1, max_size=40), max_size=6)
_exts = st.sampled_from([b"", b";a=1", b"; name=\"v\"", b" "])
_trailers = st.lists(st.sampled_from([b"X-A: 1\r\n", b"Expires: never\r\n"]), max_size=2)


def _encode(chunks: list[bytes], ext: bytes, trailers: list[bytes], upper: bool) -> bytes:
    def size(n: int) -> bytes:
        text = f"{n:x}".encode()
        return text.upper() if upper else text

    return (b"".join(size(len(c)) + ext + b"\r\n" + c + b"\r\n" for c in chunks)
            + b"0" + ext + b"\r\n" + b"".join(trailers) + b"\r\n")


@given(st.binary(max_size=30), _chunks, _exts, _trailers, st.booleans(),
       st.binary(max_size=20))
def test_the_end_is_found_after_the_last_chunk_and_trailers_whatever_follows(
        head: bytes, chunks: list[bytes], ext: bytes, trailers: list[bytes], upper: bool,
        after: bytes) -> None:
    body = _encode(chunks, ext, trailers, upper)
    assert chunked_end(io.BytesIO(head + body + after), len(head)) == len(head) + len(body)


@given(_chunks, _exts, _trailers, st.data())
def test_a_body_cut_anywhere_has_no_end(chunks: list[bytes], ext: bytes,
                                        trailers: list[bytes], data: st.DataObject) -> None:
    body = _encode(chunks, ext, trailers, False)
    cut = data.draw(st.integers(0, len(body) - 1))
    assert chunked_end(io.BytesIO(body[:cut]), 0) is None


def test_framing_a_lenient_reader_would_accept_is_not_trusted() -> None:
    for body in (b"0x5\r\nhello\r\n0\r\n\r\n",  # int(, 16) takes a 0x prefix
                 b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after the data
                 b"-5\r\nhello\r\n0\r\n\r\n", b"\r\n0\r\n\r\n", b"1_0\r\n" + b"x" * 16):
        assert chunked_end(io.BytesIO(body), 0) is None, body
