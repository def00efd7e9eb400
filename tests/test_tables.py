"""Digest columns (:class:`archive.ledger.tables.Sha256Hex`): the database keeps the
bare hex every archive has stored, Python sees ``sha256:<hex>``; a partial hash
resolves through one prefix query. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import String, column, func, select, table, text
from sqlalchemy.exc import StatementError

from archive.core.hashing import PREFIX
from archive.errors import NotFoundError
from archive.ledger.tables import Sha256Hex, captures, metadata

HEX64 = re.compile(r"[0-9a-f]{64}")


def _fill(arc, tmp_path: Path) -> list:
    """Rows in every table that holds digests: documents a, b and a again (returned), a
    metadata version, a signed checkpoint and an imported WARC file (of a document c)."""
    a, b, c = tmp_path / "a.html", tmp_path / "b.txt", tmp_path / "c.txt"
    a.write_bytes(b"<html><head><title>A digest test</title></head><body><p>Text.</p>"
                  b"</body></html>")
    b.write_bytes(b"another document\n")
    c.write_bytes(b"a document imported as a WARC file\n")
    docs = arc.ingest([a, b]) + arc.ingest([a])
    arc.extract_metadata(docs[0].capture_id)
    arc.checkpoint()
    arc.import_warc(Path(arc.ingest([c])[0].warc_path))
    return docs


def test_every_column_of_sha256_values_is_a_digest_column_read_as_sha256(
        arc, tmp_path: Path) -> None:
    _fill(arc, tmp_path)
    populated = set()
    with arc.engine.connect() as c:
        for tbl in metadata.sorted_tables:
            for col in tbl.columns:
                if not isinstance(col.type, Sha256Hex | String) or \
                        getattr(col.type, "length", 64) != 64:
                    continue
                untyped = select(column(col.name)).select_from(table(tbl.name))  # as stored
                raw = [v for (v,) in c.execute(untyped) if v is not None]
                if not raw:
                    continue
                name = f"{tbl.name}.{col.name}"
                populated.add(name)
                stores_digests = all(HEX64.fullmatch(v) for v in raw)
                assert isinstance(col.type, Sha256Hex) == stores_digests, name
                if stores_digests:
                    typed = [v for (v,) in c.execute(select(col)) if v is not None]
                    assert sorted(typed) == sorted(PREFIX + v for v in raw), name
    assert {"warc_files.sha256", "captures.capture_id", "captures.content_hash",
            "captures.payload_digest", "records.block_digest", "events.prev_hash",
            "events.entry_hash", "events.leaf_hash", "event_objects.object_hash",
            "log_head.head_hash", "checkpoints.root_hash", "checkpoints.key_fingerprint",
            "metadata_versions.record_sha256", "imports.file_sha256",
            "events.event_id"} <= populated


def test_a_digest_column_binds_a_whole_sha256_digest_and_refuses_anything_else(
        arc, tmp_path: Path) -> None:
    docs = _fill(arc, tmp_path)
    cid = docs[0].capture_id
    with arc.engine.connect() as c:
        assert c.execute(select(captures.c.url).where(captures.c.capture_id == cid)
                         ).scalar_one() == docs[0].url
        assert c.execute(select(func.count()).where(captures.c.capture_id.in_(
            [d.capture_id for d in docs]))).scalar_one() == 3
        assert c.execute(select(captures.c.capture_id).where(
            captures.c.capture_id == cid)).scalar_one() == cid
        assert c.execute(select(func.max(captures.c.capture_id)).where(
            captures.c.capture_id.in_([d.capture_id for d in docs]))
        ).scalar_one() == max(d.capture_id for d in docs)
        assert c.execute(text("SELECT count(*) FROM captures WHERE capture_id = :h"),
                         {"h": cid.removeprefix(PREFIX)}).scalar_one() == 1  # stored bare
        for wrong in (cid.removeprefix(PREFIX), cid[:20], cid.upper()[:-1], cid + "0"):
            with pytest.raises(StatementError, match="sha256:<64 hex>"):
                c.execute(select(captures.c.id).where(captures.c.capture_id == wrong))


def test_a_partial_hash_resolves_however_it_is_typed(arc, tmp_path: Path) -> None:
    a, b, a_again = _fill(arc, tmp_path)
    ids = [c.capture_id for c in arc.resolve(a.capture_id[:len(PREFIX) + 8])]
    assert ids == [a.capture_id]
    for typed in (a.capture_id[len(PREFIX):len(PREFIX) + 10].upper(), f"  {a.capture_id}\n",
                  "SHA256:" + a.capture_id[len(PREFIX):len(PREFIX) + 4]):
        assert a.capture_id in [c.capture_id for c in arc.resolve(typed)], typed
    # a content hash prefix names every capture of that content, oldest first
    same = arc.resolve(a.content_hash[:len(PREFIX) + 12])
    assert [c.capture_id for c in same] == [a.capture_id, a_again.capture_id]
    assert all(c.content_hash == a.content_hash for c in same)
    with pytest.raises(NotFoundError, match="too short"):
        arc.resolve(a.capture_id[:len(PREFIX) + 3])
    with pytest.raises(NotFoundError, match="not a SHA-256 hash"):
        arc.resolve("sha256:12g4")
    stored = {d.capture_id for d in (a, b, a_again)} | {a.content_hash, b.content_hash}
    absent = next(p for p in (f"sha256:{n:08x}" for n in range(1000))
                  if not any(h.startswith(p) for h in stored))
    with pytest.raises(NotFoundError, match="no capture has"):
        arc.resolve(absent)
