"""A fetch's spool: bytes held in memory until a limit, on disk past it; readable any
number of times once written, never written again."""

from __future__ import annotations

import pytest

from archive.http.spool import Spool


def test_in_memory_bytes_read_back_whole_each_time_and_writing_ends_at_close() -> None:
    spool = Spool(None, memory_limit=1024)
    raw, _ = spool.pair()
    for piece in (b"HTTP/1.1 200 OK\r\n", b"\r\n", b"body"):
        raw.write(piece)
    raw.close()
    assert raw.closed and raw.path is None
    with raw.open() as a, raw.open() as b:
        assert a.read() == b.read() == b"HTTP/1.1 200 OK\r\n\r\nbody"
    with pytest.raises(ValueError, match="closed"):
        raw.write(b"more")
    spool.remove()


def test_past_the_limit_the_bytes_move_to_disk_and_go_with_the_spool(tmp_path) -> None:
    spool = Spool(tmp_path, memory_limit=8)
    _, body = spool.pair()
    body.write(b"12345")
    body.write(b"67890")  # past 8 bytes: spilled
    body.close()
    assert body.path is not None and body.path.read_bytes() == b"1234567890"
    with body.open() as f:
        assert f.read() == b"1234567890"
    spool.remove()
    assert not body.path.exists() and spool.dir is not None and not spool.dir.exists()


def test_discard_drops_the_bytes() -> None:
    spool = Spool(None)
    raw, _ = spool.pair()
    raw.write(b"first answer")
    raw.discard()
    with raw.open() as f:
        assert f.read() == b""
