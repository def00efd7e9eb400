"""Archive's lookups over many captures at once (what a pipeline step over a range of
sources uses) say exactly what their one-at-a-time forms say."""

from __future__ import annotations

import uuid
from dataclasses import replace

from servers import article_html
from sqlalchemy import select

from archive.cite import FORMATS
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


def test_latest_metadata_and_cite_many_match_their_single_forms(arc, http_server) -> None:
    url = http_server.url("/article-2")
    first = arc.capture([url])[0]
    revisit = arc.capture([url])[0]
    other = arc.capture([http_server.url("/article")])[0]
    arc.extract_metadata_many([first.capture_id])  # the revisit borrows its original's
    latest = arc.latest_metadata([first.capture_id, revisit.capture_id, other.capture_id])
    assert set(latest) == {first.capture_id}
    assert latest[first.capture_id] == arc.metadata(first.capture_id)[0].versions[-1]
    ids = [first.capture_id, revisit.capture_id, other.capture_id]
    for fmt in FORMATS:
        many = arc.cite_many([*ids, PREFIX + "0" * 64], fmt)
        assert many == {cid: arc.cite(cid, fmt) for cid in ids}
    assert "Second article" in arc.cite_many([revisit.capture_id])[revisit.capture_id]


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
