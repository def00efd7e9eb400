"""Metadata extraction over captures named by the caller: each name resolved to its
capture, and a batch that cannot be extracted split until only the capture at fault
fails (:func:`extract_isolated`, what a pipeline step runs).

The extraction and storage themselves are :func:`archive.metadata.store.extract_and_store`.
"""

from __future__ import annotations

from collections.abc import Sequence

from archive.capture.record import Recorder
from archive.core.hashing import is_digest
from archive.errors import MetadataError, NotFoundError
from archive.ledger.custody import Agent
from archive.ledger.queries import resolve
from archive.metadata.store import (
    CaptureMetadata,
    ExtractedMetadata,
    extract_and_store,
    stored_versions,
)

ISOLATION_BATCH = 32
"""After a failure, captures are retried this many at a time, then one by one."""


def extract(recorder: Recorder, refs: Sequence[str], agent: Agent, *, force: bool = False,
            processes: int = 1) -> list[ExtractedMetadata]:
    """Extract and store metadata for the capture each of ``refs`` (a capture id or
    content hash, or a prefix) names first; each capture's current record, in order."""
    ids = [c.capture_id for ref in refs for c in resolve(recorder.engine, ref)[:1]]
    return extract_and_store(recorder, ids, agent, force=force, processes=processes)


def extract_isolated(recorder: Recorder, capture_ids: list[str], agent: Agent, processes: int,
                     ) -> tuple[dict[str, str], dict[str, str]]:
    """Extract and store the metadata of every capture in one pass (one WARC file, one
    transaction, ``processes`` worker processes). Returns (capture id -> "new" or
    "existing", capture id -> error). When one capture cannot be extracted, the rest
    are done in batches of :data:`ISOLATION_BATCH` and the batch that fails capture by
    capture, so only that capture fails; an id that is not a capture id, or names no
    capture, fails as such. Database or disk failures are not caught: the caller's
    retry runs it again.

    ``capture_ids`` are exact capture ids (a pipeline step's own), read a few queries
    per chunk; :func:`extract` would resolve each as a prefix first, one query each
    while the workers wait (about a second for 1,000)."""
    errors = {cid: f"{cid!r} is not a capture id (sha256:<64 hex>)"
              for cid in capture_ids if not is_digest(cid)}
    capture_ids = [cid for cid in capture_ids if cid not in errors]
    try:
        results = extract_and_store(recorder, capture_ids, agent, processes=processes)
    except (MetadataError, NotFoundError):
        pass
    else:
        return {c: r.stored for c, r in zip(capture_ids, results, strict=True)}, errors
    stored: dict[str, str] = {}
    for i in range(0, len(capture_ids), ISOLATION_BATCH):
        part = capture_ids[i:i + ISOLATION_BATCH]
        try:
            results = extract_and_store(recorder, part, agent)
        except (MetadataError, NotFoundError):
            for cid in part:
                try:
                    stored[cid] = extract_and_store(recorder, [cid], agent)[0].stored
                except (MetadataError, NotFoundError) as exc:
                    errors[cid] = str(exc)
        else:
            stored.update((c, r.stored) for c, r in zip(part, results, strict=True))
    return stored, errors


def capture_metadata(recorder: Recorder, hash_or_prefix: str, *, all_versions: bool = False
                     ) -> list[CaptureMetadata]:
    """The stored metadata versions of each matching capture (only the newest unless
    ``all_versions``), oldest first."""
    out = []
    for cap in resolve(recorder.engine, hash_or_prefix):
        versions = stored_versions(recorder, cap.capture_id)
        out.append(CaptureMetadata(cap.capture_id, cap.url,
                                   tuple(versions if all_versions else versions[-1:])))
    return out


__all__ = ["ISOLATION_BATCH", "capture_metadata", "extract", "extract_isolated"]
