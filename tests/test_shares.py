"""``share_out``: a run's sources split for workers, every host's sources in one share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.core.sources import Source, share_out
from archive.core.urls import host_of


def _sources(hosts: list[int]) -> list[Source]:
    return [Source(url=f"http://h{h}.example/page/{i}") for i, h in enumerate(hosts)]


def test_hosts_are_balanced_largest_first() -> None:
    items = _sources([0] * 5 + [1] * 3 + [2] * 2 + [3] * 2)
    shares = share_out(items, 2)
    assert [sorted({host_of(s.url) for s in share}) for share in shares] == [
        ["h0.example", "h3.example"], ["h1.example", "h2.example"]]
    assert [len(s) for s in shares] == [7, 5]


def test_fewer_hosts_than_shares_gives_fewer_shares_and_none_empty() -> None:
    assert [len(s) for s in share_out(_sources([0, 0, 1]), 8)] == [2, 1]
    assert share_out([], 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        share_out(_sources([0]), 0)


@given(st.lists(st.integers(0, 6), max_size=40), st.integers(1, 5))
def test_every_source_once_and_no_host_split(hosts: list[int], n: int) -> None:
    items = _sources(hosts)
    shares = share_out(items, n)
    assert len(shares) <= n and all(shares)
    assert sorted(s.url for share in shares for s in share) == sorted(s.url for s in items)
    owners = [{host_of(s.url) for s in share} for share in shares]
    assert all(a.isdisjoint(b) for i, a in enumerate(owners) for b in owners[i + 1:])
    for share in shares:  # each share keeps the sources file's order
        assert share == [s for s in items if s in share]
    assert share_out(items, n) == shares  # deterministic: a retried run splits the same
