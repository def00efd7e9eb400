"""Export captures as one signed WACZ (``archive export --wacz``; the layout and the
signature: :mod:`archive.proof.wacz_format`).

Everything in the package is taken from each capture's proof bundle, which
:func:`~archive.proof.bundle_build.make_bundle` has verified against the store and the
custody log before handing it out: a capture's WARC file *is* the concatenation of the
bundle's gzip members (so no record of another capture sharing its stored file leaks
into a selection), and its index lines are read from those same members. The RFC 3161
tokens of a bundled checkpoint are filed beside its note under ``checkpoints/``, named as
in ``$ARCHIVE_HOME/checkpoints/``, so ``openssl ts -verify`` checks them unzipped. Titles are the
only thing the caller supplies (from the stored metadata versions), because proofs never
read extracted metadata. A withdrawn capture is still exported (its bytes still verify)
but its page says ``withdrawn`` (time, person, reason), from its bundled deletion event.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from archive.core.hashing import hex_part, sha256_bytes
from archive.core.timeutil import parse_iso
from archive.core.version import SOFTWARE
from archive.errors import ConfigError, IntegrityError
from archive.ledger import queries
from archive.proof import checkpoint as cp
from archive.proof import wacz_format as wf
from archive.proof.bundle_build import make_bundle
from archive.proof.bundle_verify import verify_bundle
from archive.proof.identity import LogIdentity
from archive.proof.notes import note_filename, token_filename
from archive.proof.timestamps import b64decode
from archive.warc.reader import http_split, parse_member
from archive.warc.store import WarcStore


def select_captures(engine: Engine, hashes: Sequence[str] = (), *, url: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    everything: bool = False) -> list[str]:
    """The capture ids a selection names, sorted: capture ids or content hashes (a
    prefix will do; each must match), every capture of ``url``, or all; narrowed to
    captures made in ``[since, until)`` when given. Naming nothing at all is a
    :class:`ConfigError`."""
    caps = queries.list_captures(engine)
    chosen: set[str] = set()
    if everything:
        chosen = {c.capture_id for c in caps}
    for h in hashes:
        chosen |= {c.capture_id for c in queries.resolve(engine, h)}
    if url is not None:
        chosen |= {c.capture_id for c in caps if url in (c.url, c.final_url)}
    if not (everything or hashes or url):
        chosen = {c.capture_id for c in caps}
        if since is None and until is None:
            raise ConfigError("say what to export: capture ids or hashes, --url, "
                              "--since/--until or --all")
    when = {c.capture_id: parse_iso(c.captured_at) for c in caps}
    return sorted(c for c in chosen
                  if (since is None or when[c] >= since)
                  and (until is None or when[c] < until))


def export_wacz(engine: Engine, store: WarcStore, capture_ids: Sequence[str], *,
                titles: Mapping[str, str], identity: Callable[[], LogIdentity],
                note_dirs: Sequence[Path] = ()) -> bytes:
    """The WACZ of these exact capture ids (``sha256:<hex>``), as bytes.

    Same captures, same checkpoint, same titles: same bytes. Signs a new checkpoint
    first when a capture's newest event is not in the latest one (as ``archive bundle``
    does). Raises :class:`ConfigError` for an empty selection and
    :class:`IntegrityError` when a bundle no longer verifies.
    """
    if not capture_ids:
        raise ConfigError("the selection matches no capture: nothing to export")
    ident = identity()
    if ident.private_key is None:
        raise ConfigError("exporting a signed WACZ needs the archive's private key")
    files: dict[str, bytes] = {}
    records: list[wf.IndexedRecord] = []
    pages: list[dict[str, Any]] = []
    for cid in sorted(set(capture_ids)):
        data = make_bundle(engine, store, cid, identity=lambda: ident, note_dirs=note_dirs)
        doc = json.loads(data)
        files[f"{wf.PROOFS}{hex_part(cid)}{wf.BUNDLE_SUFFIX}"] = data
        note = doc["checkpoint"]
        size = int(note.split("\n")[1])
        files[wf.CHECKPOINTS + note_filename(size, note)] = note.encode()
        for token in doc.get("timestamps", []):  # filed as beside the note on disk
            reply = b64decode(token["response"])
            files[wf.CHECKPOINTS + token_filename(size, note, reply)] = reply
        for part in doc["captures"]:
            name = f"{hex_part(part['capture_id'])}.warc.gz"
            if f"archive/{name}" in files:  # a revisit's original, exported already
                continue
            files[f"archive/{name}"] = warc_of(part)
            records += index_records(part, name)
        manifest = json.loads(doc["captures"][0]["manifest"])
        page: dict[str, Any] = {"id": hex_part(cid), "url": manifest["url"],
                                "ts": manifest["capture_time"]}
        if titles.get(cid):
            page["title"] = titles[cid]
        withdrawn = verify_bundle(data, trusted_key=ident.fingerprint).withdrawn
        if withdrawn:  # proven by the bundled deletion event, shown wherever pages are
            page["withdrawn"] = withdrawn
        pages.append(page)
    files[wf.INDEX] = wf.cdxj_lines(records)
    files[wf.PAGES] = wf.pages_jsonl(pages)
    created = max(p["ts"] for p in pages)
    main = min(pages, key=lambda p: (p["ts"], p["id"])) if len(pages) == 1 else None
    dp = wf.datapackage(files, created=created, software=SOFTWARE, main_page=main,
                        title=f"{len(pages)} capture{'s' if len(pages) != 1 else ''} from "
                              f"{ident.origin}")
    dp_hash = sha256_bytes(dp)
    key = wf.wacz_signing_key(ident.private_key)
    signed = wf.signed_data(dp_hash, key, created=created, software=SOFTWARE)
    note = cp.sign_note(wf.binding_text(dp_hash, signed["publicKey"]), ident.private_key,
                        ident.origin)
    files[wf.DATAPACKAGE] = dp
    files[wf.DIGEST] = (json.dumps({"path": wf.DATAPACKAGE, "hash": dp_hash,
                                    "signedData": signed, wf.BINDING: note},
                                   indent=2, sort_keys=True) + "\n").encode("utf-8")
    return wf.write_zip(files)


def warc_of(part: Mapping[str, Any]) -> bytes:
    """A bundled capture's WARC file: its gzip members, exactly as stored, in order."""
    return b"".join(base64.b64decode(r["gzip_base64"]) for r in part["records"])


def index_records(part: Mapping[str, Any], filename: str) -> list[wf.IndexedRecord]:
    """What the CDXJ index says of each record of a bundled capture's WARC file."""
    out = []
    offset = 0
    manifest = json.loads(part["manifest"])
    for r, m in zip(part["records"], manifest["records"], strict=True):
        member = base64.b64decode(r["gzip_base64"])
        parsed, why = parse_member(member)
        if parsed is None:
            raise IntegrityError(f"{part['capture_id']}: record {r['record_id']} {why}")
        headers, block = parsed
        mime, status = headers.get("content-type"), None
        if r["type"] in ("response", "revisit") and block.startswith(b"HTTP/"):
            first = block.split(b"\r\n", 1)[0].split()
            status = int(first[1]) if len(first) > 1 and first[1].isdigit() else None
            mime = dict(http_split(block)[0]).get("content-type", mime)
        if m.get("target_uri"):
            out.append(wf.IndexedRecord(
                target_uri=m["target_uri"], date=m["date"], type=r["type"], offset=offset,
                length=len(member), filename=filename, mime=mime, status=status,
                digest=m.get("payload_digest") or m.get("block_digest")))
        offset += len(member)
    return out


__all__ = ["export_wacz", "index_records", "warc_of"]
