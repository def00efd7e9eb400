"""Bundle checks of what was captured: each manifest against its capture id, each WARC
record (one strictly parsed gzip member) against its digests and the manifest, and
the content hash recomputed from the payload.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from archive.core.config import FetchPolicy
from archive.core.hashing import sha256_bytes
from archive.proof.bundle_format import CONTENT_TYPES, Record, Run
from archive.warc.reader import (
    decode_payload,
    http_split,
    parse_member,
    record_payload,
)

# ------------------------------------------------------------------ manifests, records

def _check_manifests(run: Run, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Manifests that hash to their capture id, by capture id (others are left out)."""
    out: dict[str, dict[str, Any]] = {}
    caps = doc["captures"]
    for idx, cap in enumerate(caps):
        name = "manifest" if idx == 0 else "manifest (original)"
        cid = cap["capture_id"]
        actual = sha256_bytes(cap["manifest"].encode("utf-8"))
        problems = []
        if actual != cid:
            problems.append(f"it hashes to {actual}, not the capture id {cid}: the manifest "
                            "(or the capture id) was changed")
        try:
            manifest = json.loads(cap["manifest"])
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("records"), list):
            problems.append("it is not a capture manifest")
            manifest = None
        if idx == 0 and cid != doc["capture_id"]:
            problems.append(f"the bundle is for {doc['capture_id']} but its first capture is "
                            f"{cid}")
        if manifest is not None:
            if idx == 0 and manifest.get("content_hash") != doc["content_hash"]:
                problems.append(f"the bundle's content hash {doc['content_hash']} differs from "
                                f"the manifest's {manifest.get('content_hash')}")
            if manifest.get("warc_file") != cap["warc_file"]:
                problems.append(f"warc_file {cap['warc_file']} differs from the manifest's "
                                f"{manifest.get('warc_file')}")
            if idx == 0 and manifest.get("revisit_of") and (
                    len(caps) < 2 or caps[1]["capture_id"] != manifest["revisit_of"]):
                problems.append(f"it is a revisit of {manifest['revisit_of']}, which is not "
                                "bundled as its original")
        if problems:
            run.add(name, "fail", "; ".join(problems))
            continue
        assert manifest is not None
        out[cid] = manifest
        run.add(name, "ok", f"hashes to the capture id {cid} ({manifest.get('url')}, captured "
                            f"{manifest.get('capture_time')})")
    return out


def _check_records(run: Run, cap: dict[str, Any],
                   manifest: dict[str, Any] | None) -> list[Record | None]:
    listed = manifest["records"] if manifest is not None else []
    recs = cap["records"]
    if manifest is not None and [r["record_id"] for r in recs] != [
            m.get("record_id") for m in listed]:
        run.add(f"records of {cap['capture_id'][:19]}…", "fail",
                f"the bundle has records {[r['record_id'] for r in recs]}, the manifest lists "
                f"{[m.get('record_id') for m in listed]}")
        listed = []
    out: list[Record | None] = []
    for i, r in enumerate(recs):
        m = listed[i] if i < len(listed) else None
        out.append(_check_record(run, r, m, cap["warc_file"]["name"],
                                 imported=manifest is not None and
                                 manifest.get("kind") == "imported"))
    return out


def _check_record(run: Run, r: dict[str, Any], m: dict[str, Any] | None,
                  file_name: str, *, imported: bool = False) -> Record | None:
    name = f"record {r['record_id']} ({r['type']} at offset {r['offset']} of {file_name})"
    problems: list[str] = []
    if m is None:
        run.add(name, "skip", "not checked: no verified manifest lists it")
        return None
    for k in ("type", "offset", "length"):
        if m.get(k) != r[k]:
            problems.append(f"its {k} is {r[k]!r}, the manifest says {m.get(k)!r}")
    member = base64.b64decode(r["gzip_base64"])
    member_hash = sha256_bytes(member)
    if member_hash != r["sha256"]:
        problems.append(f"the gzip member hashes to {member_hash}, the bundle says "
                        f"{r['sha256']}: the record bytes were changed")
    if len(member) != r["length"]:
        problems.append(f"the gzip member has {len(member)} bytes, not {r['length']}")
    parsed, error = parse_member(member)
    if parsed is None:
        run.add(name, "fail", "; ".join([*problems, f"the record {error}"]))
        return None
    headers, block = parsed
    block_digest = sha256_bytes(block)
    header_digest = headers.get("warc-block-digest")
    if headers.get("warc-record-id") != r["record_id"]:
        problems.append(f"its WARC-Record-ID is {headers.get('warc-record-id')}")
    if headers.get("warc-type") != r["type"]:
        problems.append(f"its WARC-Type is {headers.get('warc-type')}")
    # Our records carry sha256 digests equal to the manifest's; an imported record may
    # carry sha1 (or none): the manifest's sha256 is what the capture id commits to.
    if not _header_agrees(header_digest, block, required=not imported) or \
            block_digest != m.get("block_digest"):
        problems.append(f"the block hashes to {block_digest}, the WARC header says "
                        f"{header_digest} and the manifest {m.get('block_digest')}: the record "
                        "was changed")
    payload_header = headers.get("warc-payload-digest")
    if r["type"] in ("response", "resource", "request") and (payload_header or
                                                             m.get("payload_digest")):
        payload = record_payload(block, headers)
        actual = sha256_bytes(payload)
        if not _header_agrees(payload_header, payload, required=not imported) or \
                m.get("payload_digest") != actual:
            problems.append(f"the payload hashes to {actual}, the WARC header says "
                            f"{payload_header} and the manifest {m.get('payload_digest')}")
    elif payload_header != m.get("payload_digest"):
        problems.append(f"its WARC-Payload-Digest {payload_header} differs from the "
                        f"manifest's {m.get('payload_digest')}")
    if problems:
        run.add(name, "fail", "; ".join(problems))
        return None
    run.add(name, "ok", f"block digest {block_digest} matches header and manifest")
    return Record(r["record_id"], r["type"], headers, block)


def _header_agrees(value: str | None, data: bytes, *, required: bool) -> bool:
    """Whether a WARC digest header is consistent with ``data``: it names ``data``, or
    (``required`` false: a record of an imported WARC, whose writer chose its digests)
    it is absent or uses an algorithm this verifier does not compute."""
    if not value:
        return not required
    if not required and value.partition(":")[0].strip().lower() not in ("sha256", "sha1"):
        return True
    return _same_digest(value, data)


def _same_digest(value: str | None, data: bytes) -> bool:
    """Whether a WARC digest header (``sha256:`` hex or base32, or ``sha1:`` base32)
    names ``data``."""
    if not value:
        return False
    algo, _, text = value.partition(":")
    algo = algo.strip().lower()
    if algo not in ("sha256", "sha1"):
        return False
    digest = hashlib.new(algo, data).digest()
    text = text.strip()
    return text.lower() == digest.hex() or text.upper() == base64.b32encode(digest).decode()


# ----------------------------------------------------------------------- content

def _check_content(run: Run, doc: dict[str, Any], manifests: dict[str, dict[str, Any]],
                   records: list[list[Record | None]]) -> None:
    """Recompute the content hash of each bundled capture from its payload."""
    for idx, cap in enumerate(doc["captures"]):
        name = "content" if idx == 0 else "content (original)"
        manifest = manifests.get(cap["capture_id"])
        if manifest is None:
            run.add(name, "skip", "not checked: the manifest did not verify")
            continue
        expected = manifest.get("content_hash")
        listed = [m for m in manifest["records"] if m.get("type") in CONTENT_TYPES]
        if not listed:
            run.add(name, "warn", "the capture has no response or resource record")
            continue
        rec = next((r for r in records[idx] if r is not None
                    and r.record_id == listed[-1].get("record_id")), None)
        if rec is None:
            run.add(name, "skip", f"not checked: record {listed[-1].get('record_id')} did not "
                                  "verify")
            continue
        if rec.type == "revisit":
            original = _revisit_original(run, rec, records[1] if len(records) > 1 else [])
            if original is None:
                run.add(name, "skip", "not checked: the revisit's original did not verify")
                continue
            fields, _ = http_split(rec.block)
            _, payload = http_split(original.block)
            how = "the original response's payload, with this revisit's HTTP headers"
        elif rec.type == "resource":
            fields, payload = [], rec.block
            how = "the resource record's block"
        else:
            fields, payload = http_split(rec.block)
            how = "the response payload"
        actual, steps = _content_hash(fields, payload)
        if expected is None:
            run.add(name, "warn", f"the manifest records no content hash (the body could not be "
                                  f"decoded at capture time); {how} gives {actual}")
        elif actual != expected:
            run.add(name, "fail", f"the content hash recomputed from {how}{steps} is {actual}, "
                                  f"the manifest says {expected}")
        else:
            run.add(name, "ok", f"{expected} recomputed from {how}{steps}")


def _revisit_original(run: Run, rec: Record, original: list[Record | None]) -> Record | None:
    """The original response a revisit refers to, checked: WARC-Refers-To names it and
    the payload digests agree."""
    refers = rec.headers.get("warc-refers-to")
    target = next((r for r in original if r is not None and r.record_id == refers
                   and r.type == "response"), None)
    if target is None:
        run.add("revisit", "fail", f"the revisit refers to {refers}, which is not a verified "
                                   "response record of the bundled original capture")
        return None
    _, payload = http_split(target.block)
    if not _same_digest(rec.headers.get("warc-payload-digest"), payload):
        run.add("revisit", "fail", f"the revisit's payload digest "
                                   f"{rec.headers.get('warc-payload-digest')} is not that of the "
                                   f"original response {refers}")
        return None
    run.add("revisit", "ok", f"refers to {refers}, whose payload has the revisit's "
                             "payload digest")
    return target


def _content_hash(fields: list[tuple[str, str]], payload: bytes) -> tuple[str, str]:
    """``(content hash, how it was decoded)``: transfer-coding (chunked) and then
    content-coding undone, as a reader's browser would."""
    def header(name: str) -> str | None:
        values = [v for k, v in fields if k == name]
        return ", ".join(values) if values else None

    chunked = (header("transfer-encoding") or "").lower().strip() == "chunked"
    steps = ["chunked"] if chunked else []
    with decode_payload(payload, header("transfer-encoding"), header("content-encoding"),
                        FetchPolicy()) as decoded:
        steps += list(decoded.codings)
        if decoded.error:
            return f"undecodable ({decoded.error})", ""
        how = f" ({', '.join(steps)} undone)" if steps else ""
        return decoded.sha256, how
