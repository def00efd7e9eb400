"""What a revisit record refers to, and the payload digest that finds one.

Below both the prepared capture (:mod:`archive.capture.prepare`) and the requisites a
page capture fetched (:mod:`archive.capture.subresources`): each hands the recorder a
response that may repeat an earlier one, found by this digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from archive.http.models import Exchange
from archive.warc.writer import Block, digests


@dataclass(frozen=True)
class Revisit:
    """The capture whose response a revisit record refers to."""

    capture_id: str
    record_id: str
    target_uri: str
    date: str


def response_payload_digest(ex: Exchange) -> str:
    """WARC payload digest of a response: the raw bytes after the HTTP header block.

    Without a transfer coding those bytes are the entity body the fetcher already
    hashed (equal lengths prove it: chunk framing always adds bytes)."""
    if ex.response_length - ex.header_length == ex.body_length and \
            ex.header("transfer-encoding") is None:
        return ex.body_sha256
    with ex.open_response() as raw:
        _, payload = digests(Block(raw, ex.response_length, ex.header_length))
    assert payload is not None
    return payload


__all__ = ["Revisit", "response_payload_digest"]
