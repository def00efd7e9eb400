"""The catalogue is read and written a batch at a time (memory holds one batch however
large the archive), and says the same whatever the batch size."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from archive.catalog import CatalogRow, write_catalog
from archive.core.hashing import sha256_bytes
from archive.errors import DatabaseError
from archive.ledger import queries
from archive.ledger.db import read
from archive.ledger.tables import captures


def _ingest(arc, tmp_path: Path, n: int) -> list[str]:
    """``n`` new documents ingested (each call's differ from the last's)."""
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    docs = []
    for i in range(n):
        doc = folder / f"report-{i}.html"
        doc.write_text(f"<html><head><title>Report {i} of {folder.name}</title></head>"
                       f"<body>{i}</body></html>")
        docs.append(doc)
    return [r.capture_id for r in arc.ingest(docs, content_type="text/html")]


def test_oldest_first_sorts_tied_capture_times_by_capture_id_across_pages(
        arc, tmp_path: Path) -> None:
    """Captures sharing a capture time (a bulk import) are ordered by capture id, and
    each is listed once, wherever the page boundaries fall."""
    ids = _ingest(arc, tmp_path, 9)
    times = ["2026-01-01T00:00:00Z"] * 4 + ["2026-01-02T00:00:00Z"] + \
        ["2026-01-03T00:00:00Z"] * 4
    with arc.engine.begin() as conn:
        for cid, at in zip(ids, times, strict=True):
            conn.execute(update(captures).where(captures.c.capture_id == cid)
                         .values(started_at=at))
    expected = [cid for _, cid in sorted(zip(times, ids, strict=True))]
    assert expected != ids  # the capture ids do not already come in insertion order
    for batch in (1, 2, 3, 4, 5, 8, 9, 100):
        with read(arc.engine) as conn:
            pages = list(queries.oldest_first(conn, batch=batch))
        assert [c.capture_id for page in pages for c in page] == expected, batch
        assert all(pages)


def test_the_catalogue_is_the_same_in_any_batch_size(arc, tmp_path: Path) -> None:
    """Written a batch at a time, the files are those of one batch; the hashes reported
    are the files'; the newest rows are the last ones written."""
    _ingest(arc, tmp_path, 7)
    written = {}
    for batch in (1, 3, 1000):
        out = tmp_path / f"catalog-{batch}"
        written[batch] = w = write_catalog(out, arc.catalog_batches(batch=batch), newest=2)
        assert w.csv_sha256 == sha256_bytes(w.csv.read_bytes())
        assert w.jsonl_sha256 == sha256_bytes(w.jsonl.read_bytes())
        assert w.rows == 7 == len(w.jsonl.read_text("utf-8").splitlines())
        assert w.newest == tuple(arc.catalog_rows()[-2:])
    assert len({(w.csv.read_bytes(), w.jsonl.read_bytes()) for w in written.values()}) == 1
    assert written[1].csv.read_text("utf-8").startswith("url,title,outlet,published,")


def test_rows_failing_on_the_way_leave_the_old_catalogue(arc, tmp_path: Path) -> None:
    _ingest(arc, tmp_path, 3)
    out = tmp_path / "catalog"
    before = write_catalog(out, arc.catalog_batches())
    old = before.csv.read_bytes(), before.jsonl.read_bytes()
    _ingest(arc, tmp_path, 2)

    def failing() -> Iterator[list[CatalogRow]]:
        yield from arc.catalog_batches(batch=1)
        raise DatabaseError("custody database read failed: disk I/O error")

    with pytest.raises(DatabaseError):
        write_catalog(out, failing())
    assert (before.csv.read_bytes(), before.jsonl.read_bytes()) == old
    assert sorted(p.name for p in out.iterdir()) == ["catalog.csv", "catalog.jsonl"]


def test_a_failed_write_ends_the_rows_read_at_once(arc, tmp_path: Path) -> None:
    """Rows that cannot be written (here a value JSON cannot encode) fail the write; the
    generator reading them (and its read transaction) is closed then, not when the
    failure is let go."""
    _ingest(arc, tmp_path, 2)
    good = arc.catalog_rows()
    closed = []

    def rows() -> Iterator[list[CatalogRow]]:
        try:
            yield good[:1]
            yield [replace(good[1], title=object())]
            yield good[1:]
        finally:
            closed.append(True)

    with pytest.raises(TypeError) as failure:
        write_catalog(tmp_path / "catalog", rows())
    # ``failure`` still holds the traceback (and through it the generator) here.
    assert failure.type is TypeError and closed == [True]
    assert not (tmp_path / "catalog" / "catalog.csv").exists()
    assert list((tmp_path / "catalog").iterdir()) == []
