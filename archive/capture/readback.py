"""A stored capture's records read back from the WARC store: one record a replay
serves, every record of a capture exactly as stored, and a browser capture's
screenshot checked against the digest its record is indexed with.
"""

from __future__ import annotations

from sqlalchemy import Engine

from archive.browser.models import screenshot_uri
from archive.core.hashing import sha256_bytes
from archive.errors import IntegrityError, NotFoundError
from archive.ledger.queries import RecordEntry, ShownCapture, show
from archive.ledger.replayed import ReplayRecord
from archive.warc.reader import StoredRecord, read_stored, record_block
from archive.warc.store import WarcStore


def replay_record(store: WarcStore, found: ReplayRecord) -> StoredRecord:
    """The record one :func:`archive.ledger.queries.records_for_uri` entry locates."""
    return read_stored(store, found.warc_file, found.offset, found.length)


def record_members(store: WarcStore, shown: ShownCapture) -> bytes:
    """The WARC records of one shown capture exactly as stored (each its own gzip
    member), in file order: a valid WARC file of that capture alone."""
    return b"".join(store.read_range(shown.warc_file, r.offset, r.length)
                    for r in sorted(shown.records, key=lambda r: r.offset))


def _screenshot_record(cap: ShownCapture) -> RecordEntry | None:
    return next((r for r in cap.records if r.type == "resource"
                 and (r.target_uri or "").startswith(screenshot_uri(""))), None)


def screenshot(engine: Engine, store: WarcStore, hash_or_prefix: str) -> tuple[str, bytes]:
    """The full-page screenshot of the newest matching ``browser`` capture that has one:
    its ``sha256:`` and PNG bytes, read from its WARC record and checked against the
    digest the capture's manifest commits to (:class:`IntegrityError` when not)."""
    found = [(c, r) for c in show(engine, hash_or_prefix)
             if (r := _screenshot_record(c)) is not None]
    if not found:
        raise NotFoundError(f"no browser capture with a screenshot matches {hash_or_prefix}")
    cap, rec = found[-1]
    path = store.locate(cap.warc_file)
    try:
        png = record_block(store.read_range(cap.warc_file, rec.offset, rec.length))
    except OSError as exc:
        raise IntegrityError(f"{cap.warc_file}: cannot read the screenshot record: "
                             f"{exc.strerror}", path=path) from exc
    if sha256_bytes(png) != rec.block_digest:
        raise IntegrityError(f"{cap.warc_file}: the screenshot record at offset "
                             f"{rec.offset} does not hash to {rec.block_digest}",
                             path=path)
    return rec.block_digest, png


__all__ = ["record_members", "replay_record", "screenshot"]
