"""Checks of one capture's rows against its manifest (pure CPU over rows already
loaded): the manifest hashes to the capture id; every column that caches it
(``captures``, ``warc_files``, ``records``) equals it; the ``provenance`` column hashes
to the manifest's metadata record and the columns cached from it equal it."""

from __future__ import annotations

import json
import operator
from typing import Any

from archive.audit.verify_report import Problem
from archive.core.canonical import canonical_hash
from archive.core.hashing import sha256_bytes

CONTENT_TYPES = ("response", "resource", "revisit")
"""Record types whose payload digest is the capture's (the last one in a manifest)."""


def check_capture(c: Any, files: dict[int, Any], recs: list[Any], problems: list[Problem],
                  ) -> dict[str, Any] | None:
    """The manifest against its capture id, then every column that caches it or the
    provenance record it commits to. Returns the manifest when it is the capture's."""
    who = c.capture_id
    manifest: dict[str, Any] = json.loads(c.manifest)
    # The column holds the manifest's canonical bytes, so hashing the text proves it; a
    # text stored some other way is canonicalised first (slower, same verdict).
    cid = sha256_bytes(c.manifest.encode("utf-8"))
    if cid != who:
        cid = canonical_hash(manifest)
    if cid != who:
        problems.append(Problem(
            "manifest", f"capture {who}: manifest hashes to {cid}; the "
            "manifest or the capture id was edited", expected=who, actual=cid,
            capture_id=who, field="captures.manifest"))
        return None

    def field(kind: str, name: str, actual: Any, expected: Any, source: str,
              record_id: str | None = None) -> None:
        if actual != expected:
            where = f" record {record_id}" if record_id else ""
            problems.append(Problem(
                kind, f"capture {who}:{where} {name} is {actual!r} but {source} says "
                f"{expected!r}; the database row was edited", record_id=record_id,
                expected=None if expected is None else str(expected),
                actual=None if actual is None else str(actual), capture_id=who, field=name))

    m = "the manifest"
    listed: list[dict[str, Any]] = manifest.get("records", [])
    payload = next((r.get("payload_digest") for r in reversed(listed)
                    if r.get("type") in CONTENT_TYPES), None)
    columns = {"url": c.url, "final_url": c.final_url, "kind": c.kind, "status": c.status,
               "http_status": c.http_status, "capture_time": c.started_at,
               "content_hash": c.content_hash,
               "revisit_of": c.revisit_of, "payload_digest": c.payload_digest}
    cached = {k: manifest.get(k) for k in columns}
    cached["payload_digest"] = payload
    if columns != cached:
        for key, actual in columns.items():
            name = "started_at" if key == "capture_time" else key
            field("manifest", f"captures.{name}", actual, cached[key], m)
    wf = manifest.get("warc_file") or {}
    f = files.get(c.warc_file_id)
    row = None if f is None else {"name": f.name, "sha256": f.sha256, "size": f.size}
    if row is None or (row["name"] != wf.get("name") and
                       (row["sha256"], row["size"]) != (wf.get("sha256"), wf.get("size"))):
        field("manifest", "captures.warc_file_id", row, wf, m)  # another file's row
    else:
        for column in ("name", "sha256", "size"):
            field("manifest", f"warc_files.{column}", row[column], wf.get(column), m)
        if f is not None and f.relpath.rsplit("/", 1)[-1] != f.name:
            field("manifest", "warc_files.relpath", f.relpath, f"…/{f.name}", m)
    _check_records(listed, recs, c.warc_file_id, field)
    _check_provenance(c, listed, field)
    return manifest


_ENTRY = operator.itemgetter("record_id", "type", "target_uri", "date", "offset", "length",
                             "block_digest", "payload_digest")


def _check_records(listed: list[dict[str, Any]], recs: list[Any], file_id: int,
                   field: Any) -> None:
    try:  # the common case, in one comparison: the rows are the manifest's, in its order
        if list(map(_ENTRY, listed)) == [
                (r.record_id, r.type, r.target_uri, r.date, r.offset, r.length,
                 r.block_digest, r.payload_digest)
                for r in recs if r.warc_file_id == file_id] and len(listed) == len(recs):
            return
    except (KeyError, TypeError):
        pass  # a manifest entry without some key: compared one by one below
    rows = {r.record_id: r for r in recs}
    m = "the manifest"
    for entry in listed:
        rid = entry.get("record_id")
        r = rows.pop(rid, None)
        if r is None:
            field("manifest", "records.record_id", None, rid, m, rid)
            continue
        if (r.type, r.target_uri, r.date, r.offset, r.length, r.block_digest,
                r.payload_digest, r.warc_file_id) == (
                entry.get("type"), entry.get("target_uri"), entry.get("date"),
                entry.get("offset"), entry.get("length"), entry.get("block_digest"),
                entry.get("payload_digest"), file_id):
            continue  # the common case, in one comparison
        for column in ("type", "target_uri", "date", "offset", "length"):
            field("manifest", f"records.{column}", getattr(r, column), entry.get(column), m,
                  rid)
        field("manifest", "records.block_digest", r.block_digest,
              entry.get("block_digest"), m, rid)
        field("manifest", "records.payload_digest", r.payload_digest,
              entry.get("payload_digest"), m, rid)
        field("manifest", "records.warc_file_id", r.warc_file_id, file_id,
              "the capture's file row", rid)
    for rid in rows:
        field("manifest", "records.record_id", rid, None, m + " (it lists no such record)",
              rid)


def _check_provenance(c: Any, listed: list[dict[str, Any]], field: Any) -> None:
    """The provenance column is the exact bytes of the capture's metadata record (its
    digest is in the manifest), so hashing it proves it without reading the file; the
    columns not in the manifest are then checked against it."""
    meta = [r for r in listed if r.get("type") == "metadata"]
    if not meta:
        return  # nothing to prove it by (never the case for captures we write)
    digest = sha256_bytes(c.provenance.encode("utf-8"))
    if digest != meta[-1].get("block_digest"):
        field("provenance", "captures.provenance", digest, meta[-1].get("block_digest"),
              f"the manifest's metadata record {meta[-1].get('record_id')}")
        return
    prov = json.loads(c.provenance)
    facts = prov.get("capture") or {}
    content = prov.get("content") or {}
    src = "the provenance metadata record"
    ctype = facts["content_type"] if "content_type" in facts else \
        content.get("declared_type", prov.get("content_type"))
    field("provenance", "captures.content_type", c.content_type, ctype, src)
    ended = facts.get("ended_at", prov.get("ended_at", prov.get("ingested_at")))
    field("provenance", "captures.ended_at", c.ended_at, ended, src)
    run_id = prov.get("run_id") or (prov.get("agent") or {}).get("run_id")
    field("provenance", "captures.run_id", c.run_id, run_id, src)


__all__ = ["CONTENT_TYPES", "check_capture"]
