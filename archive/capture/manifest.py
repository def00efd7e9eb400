"""The capture manifest: the small canonical document a capture id is the hash of.

It commits to the URL, the capture time, the content hash, the WARC file's hash
and every record's id and digests, so a capture id alone pins all stored bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archive.core.canonical import canonical_hash
from archive.warc.store import StoredFile
from archive.warc.writer import WrittenRecord

MANIFEST_TYPE = "provenance-archive/capture-manifest"
MANIFEST_VERSION = 1


def build_manifest(*, url: str, final_url: str | None, capture_time: str, kind: str,
                   status: str, http_status: int | None, content_hash: str | None,
                   stored: StoredFile, records: Sequence[WrittenRecord],
                   revisit_of: str | None = None) -> dict[str, Any]:
    return {
        "type": MANIFEST_TYPE,
        "version": MANIFEST_VERSION,
        "url": url,
        "final_url": final_url,
        "capture_time": capture_time,
        "kind": kind,
        "status": status,
        "http_status": http_status,
        "content_hash": content_hash,
        "revisit_of": revisit_of,
        "warc_file": {"name": stored.name, "sha256": stored.sha256, "size": stored.size},
        "records": [
            {"record_id": r.record_id, "type": r.type, "target_uri": r.target_uri,
             "date": r.date, "offset": r.offset, "length": r.length,
             "block_digest": r.block_digest, "payload_digest": r.payload_digest}
            for r in records
        ],
    }


def capture_id(manifest: dict[str, Any]) -> str:
    return canonical_hash(manifest)
