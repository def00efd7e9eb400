"""Archive's lookups over many captures at once (what a pipeline step over a range of
sources uses) say exactly what their one-at-a-time forms say."""

from __future__ import annotations

import uuid
from dataclasses import replace

from servers import article_html
from sqlalchemy import select

from archive.core.hashing import PREFIX
from archive.ledger.tables import captures, metadata_versions


def _pages(http_server, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [http_server.add_page(f"/batch/{tag}/{i}", article_html(
        f"Article {i} of a batch", f"2026-11-{1 + i % 20:02d}T08:00:00Z",
        url=f"https://news.example/batch/{i}")) for i in range(n)]


def test_show_many_matches_show(arc, http_server) -> None:
    url = http_server.url("/article-2")
    first, second = arc.capture([url])[0], arc.capture([url])[0]
    assert second.revisit_of == first.capture_id
    missing = PREFIX + "0" * 64
    shown = arc.show_many([first.capture_id, second.capture_id, missing])
    assert set(shown) == {first.capture_id, second.capture_id}
    for cid, many in shown.items():
        (one,) = arc.show(cid)
        # show() also lists the events naming the content hash; show_many those naming
        # the capture id itself.
        own = tuple(e for e in one.events if cid in e.objects)
        assert many == replace(one, events=own)
        assert many.records and many.events


def test_latest_metadata_matches_its_single_form(arc, http_server) -> None:
    url = http_server.url("/article-2")
    first = arc.capture([url])[0]
    revisit = arc.capture([url])[0]
    other = arc.capture([http_server.url("/article")])[0]
    arc.extract_metadata_many([first.capture_id])
    latest = arc.latest_metadata([first.capture_id, revisit.capture_id, other.capture_id])
    assert set(latest) == {first.capture_id}
    assert latest[first.capture_id] == arc.metadata(first.capture_id)[0].versions[-1]


def test_latest_metadata_of_named_fields_keeps_their_values_only(arc, http_server) -> None:
    """A listing asks for a few fields: each keeps its value and nothing else (no
    evidence), fields not asked for are left out, and the version's hashes are the
    whole record's."""
    capture = arc.capture([http_server.url("/article-2")])[0]
    arc.extract_metadata_many([capture.capture_id])
    whole = arc.latest_metadata([capture.capture_id])[capture.capture_id]
    slim = arc.latest_metadata([capture.capture_id],
                               fields=("title", "published"))[capture.capture_id]
    assert whole.record["title"]["evidence"] and whole.record["title"]["value"]
    assert slim.record == {"title": {"value": whole.record["title"]["value"]},
                           "published": {"value": whole.record["published"]["value"]}}
    assert (slim.metadata_sha256, slim.warc_record_id, slim.created_at) == \
        (whole.metadata_sha256, whole.warc_record_id, whole.created_at)


def test_the_catalogue_cites_each_capture_as_archive_cite_does(arc, http_server) -> None:
    """The catalogue puts each citation together from the records it has read for its
    columns (each parsed once), and it is what `archive cite` prints: a revisit that
    borrows its original's metadata and one with its own, a capture without metadata, an
    HTTP error, a withdrawn capture. The columns show a revisit's original's metadata."""
    url = http_server.url("/article-2")
    first = arc.capture([url])[0]
    borrowing, own = arc.capture([url])[0], arc.capture([url])[0]
    assert borrowing.revisit_of == own.revisit_of == first.capture_id
    bare = arc.capture([http_server.url("/article")])[0]
    error = arc.capture([http_server.url("/status/404")])[0]
    gone = arc.capture([http_server.url("/chunked")])[0]
    arc.extract_metadata_many([first.capture_id, own.capture_id, gone.capture_id])
    assert set(arc.latest_metadata([borrowing.capture_id, own.capture_id])) == \
        {own.capture_id}
    arc.delete(gone.capture_id, reason="court order 2026-12-01", person="editor@example.org")

    rows = {r.capture_id: r for r in arc.catalog_rows()}
    assert set(rows) == {c.capture_id for c in (first, borrowing, own, bare, error, gone)}
    for cid, row in rows.items():
        assert row.citation == arc.cite(cid).strip(), cid
    assert "Second article" in rows[borrowing.capture_id].citation
    assert rows[borrowing.capture_id].title == rows[first.capture_id].title == "Second article"
    assert rows[bare.capture_id].title is None and rows[error.capture_id].status != "complete"
    assert rows[gone.capture_id].withdrawn is not None
    assert "withdrawn" in rows[gone.capture_id].citation


def test_extraction_on_worker_processes_stores_what_one_process_would(
        arc, archive_factory, db_url, http_server) -> None:
    urls = _pages(http_server, 40)  # enough for worker processes (metadata_store)
    caps = arc.capture(urls)
    ids = [c.capture_id for c in caps]
    parallel = arc.extract_metadata_many(ids, processes=2)
    assert [d.capture_id for d in parallel] == ids
    assert {d.stored for d in parallel} == {"new"}
    assert parallel[7].record["title"]["value"] == "Article 7 of a batch"

    serial_arc = archive_factory(db_url=db_url, fetch={"allow_private_networks": True})
    serial = serial_arc.extract_metadata_many(
        [c.capture_id for c in serial_arc.capture(urls)], processes=1)
    strip = ("inputs",)  # inputs: capture time
    assert [{k: v for k, v in d.record.items() if k not in strip} for d in parallel] == \
        [{k: v for k, v in d.record.items() if k not in strip} for d in serial]
    with arc.engine.connect() as c:
        rows = c.execute(select(metadata_versions.c.warc_file_id)
                         .join(captures, captures.c.id == metadata_versions.c.capture_pk)
                         .where(captures.c.capture_id.in_(ids))).all()
    assert len(rows) == 40 and len(set(rows)) == 1  # one WARC file, one transaction
    assert [d.stored for d in arc.extract_metadata_many(ids, processes=2)] == \
        ["existing"] * 40
    assert arc.verify(deep=True).ok
