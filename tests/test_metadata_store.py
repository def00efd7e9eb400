"""Stored metadata: a WARC record, a row and an event per extractor version."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from warcio.archiveiterator import ArchiveIterator

from archive import metadata as md
from archive.core.canonical import canonical_json
from archive.metadata.store import (
    RECORD_TYPE,
    ExtractedMetadata,
    chunk_bounds,
    extract_and_store,
    record_body,
)


def test_extraction_is_stored_three_ways_and_not_repeated(arc, http_server) -> None:
    (cap,) = arc.capture([http_server.url("/article")])
    doc = arc.extract_metadata(cap.capture_id)
    assert doc.stored == "new" and doc.record["title"]["value"]
    again = arc.extract_metadata(cap.capture_id)
    assert again.stored == "existing"
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM metadata_versions")).scalar() == 1
        relpath = c.execute(text(
            "SELECT w.relpath FROM metadata_versions m JOIN warc_files w "
            "ON w.id = m.warc_file_id")).scalar_one()
    resp_id = next(r.record_id for r in arc.show(cap.capture_id)[0].records
                   if r.type == "response")
    with (arc.store.root / relpath).open("rb") as f:
        metas = [(r.rec_headers.get_header("WARC-Refers-To"), r.content_stream().read())
                 for r in ArchiveIterator(f, check_digests="raise") if r.rec_type == "metadata"]
    (refers, body) = metas[0]
    assert refers == resp_id
    stored = json.loads(body)
    assert stored["capture_id"] == cap.capture_id and stored["metadata"]["title"] == \
        doc.record["title"]
    events = [e for e in arc.show(cap.capture_id)[0].events
              if e.type == "metadata extraction"]
    assert len(events) == 1
    assert events[0].detail["extractor_version"] == md.EXTRACTOR_VERSION
    assert arc.verify(deep=True).ok


def test_isolated_extraction_takes_exact_ids_and_fails_only_an_unknown_one(
        arc, http_server) -> None:
    """The pipeline's pass: exact capture ids, no prefix resolution (a prefix is not
    a capture id here), and an id naming no capture fails alone."""
    caps = arc.capture([http_server.url("/article"), http_server.url("/")])
    ids = [c.capture_id for c in caps]
    unknown = "sha256:" + "0" * 64
    stored, errors = arc.extract_metadata_isolated([ids[0], unknown, ids[1]], arc.agent(), 1)
    assert stored == {ids[0]: "new", ids[1]: "new"}
    assert list(errors) == [unknown] and "no capture" in errors[unknown]
    prefix = ids[0][:20]
    stored, errors = arc.extract_metadata_isolated([prefix], arc.agent(), 1)
    assert stored == {} and "is not a capture id" in errors[prefix]
    stored, errors = arc.extract_metadata_isolated(ids, arc.agent(), 1)
    assert stored == {ids[0]: "existing", ids[1]: "existing"} and errors == {}
    assert arc.verify().ok


def test_a_newer_extractor_adds_a_version_and_keeps_the_old(arc, http_server) -> None:
    (cap,) = arc.capture([http_server.url("/article")])
    arc.extract_metadata(cap.capture_id)

    def newer(data, **kw):
        return dataclasses.replace(md.extract(data, **kw), extractor_version="99.0.0")

    (doc,) = extract_and_store(arc.recorder, [cap.capture_id], arc.agent(),
                               extractor=newer, version="99.0.0")
    assert doc.record["extractor_version"] == "99.0.0"
    (found,) = arc.metadata(cap.capture_id, all_versions=True)
    assert [v.extractor_version for v in found.versions] == [md.EXTRACTOR_VERSION,
                                                                  "99.0.0"]
    (latest,) = arc.metadata(cap.capture_id)
    assert [v.extractor_version for v in latest.versions] == ["99.0.0"]


def test_concurrent_extractions_of_one_capture_leave_no_orphan(arc, http_server) -> None:
    """Two runs extracting one capture at once: one version, every file recorded."""
    import threading

    (cap,) = arc.capture([http_server.url("/article")])
    barrier = threading.Barrier(4)
    results: list[ExtractedMetadata] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            results.append(arc.extract_metadata(cap.capture_id))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 4 and len({r.metadata_sha256 for r in results}) == 1
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM metadata_versions")).scalar() == 1
    report = arc.verify()
    assert report.ok, [p.message for p in report.problems]


def test_records_of_an_older_extractor_version_stay_readable(arc, http_server) -> None:
    """Issue 17: the extractor version was bumped (1.1.0 keeps full instants); a record
    stored by 1.0.0, whose dates were calendar dates only, is still listed, unchanged,
    beside the new one by ``metadata --all-versions``, and still verifies."""
    (cap,) = arc.capture([http_server.url("/article")])

    def old(data, **kw):
        record = md.extract(data, **kw)
        return dataclasses.replace(
            record,
            extractor_version="1.0.0",
            published=dataclasses.replace(record.published, value="2021-03-09"),
        )

    (stored_old,) = extract_and_store(arc.recorder, [cap.capture_id], arc.agent(),
                                      extractor=old, version="1.0.0")
    assert md.EXTRACTOR_VERSION != "1.0.0"
    arc.extract_metadata(cap.capture_id)
    (found,) = arc.metadata(cap.capture_id, all_versions=True)
    versions = found.versions
    assert [v.extractor_version for v in versions] == ["1.0.0", md.EXTRACTOR_VERSION]
    assert versions[0].record["published"] == stored_old.record["published"]
    assert versions[0].record["published"]["value"] == "2021-03-09"
    assert versions[1].record["extractor_version"] == md.EXTRACTOR_VERSION
    assert arc.verify(deep=True).ok


# --------------------------------------------------------------------------- comparisons

EDIT = "The harbour reopened on Saturday morning, a day earlier than forecast."


def _three_versions(arc, http_server):
    """Capture one article three times: as first published, edited, and again unchanged."""
    from servers import article_html

    base = article_html()
    url = http_server.add_page("/story", base)
    (a,) = arc.capture([url])
    http_server.add_page("/story", base.replace("Local shops reported a quiet day;",
                                                EDIT + " Local shops reported a quiet day;"))
    (b,) = arc.capture([url])
    (c,) = arc.capture([url])
    return a, b, c


def _comparison_event(arc, cid):
    """The metadata extraction event of ``cid`` (others may name its content hash)."""
    (ev,) = [e for e in arc.show(cid)[0].events
             if e.type == "metadata extraction" and e.objects[0] == cid]
    return ev


def test_each_extraction_records_in_the_custody_log_what_changed(arc, http_server) -> None:
    from archive.metadata.textdiff import diff_hash

    a, b, c = _three_versions(arc, http_server)
    assert a.content_hash != b.content_hash == c.content_hash
    arc.extract_metadata_many([a.capture_id, b.capture_id, c.capture_id])
    assert _comparison_event(arc, a.capture_id).detail["comparison"] == {"verdict": "new"}
    changed = _comparison_event(arc, b.capture_id).detail["comparison"]
    assert changed == {"verdict": "changed", "previous": a.capture_id,
                       "previous_content_hash": a.content_hash, "removed": 0, "added": 1,
                       "diff_sha256": diff_hash(arc.diff(a.capture_id, b.capture_id))}
    same = _comparison_event(arc, c.capture_id).detail["comparison"]
    assert same["verdict"] == "unchanged" and same["previous"] == b.capture_id
    assert same["previous_content_hash"] == b.content_hash
    assert (same["removed"], same["added"]) == (0, 0)
    recorded = arc.comparisons([a.capture_id, b.capture_id, c.capture_id])
    assert [recorded[x.capture_id].verdict for x in (a, b, c)] == \
        ["new", "changed", "unchanged"]
    assert arc.verify(deep=True).ok
    assert arc.verify_captures([b.capture_id]).ok


def _forge(monkeypatch, **forged) -> None:
    """Make the extraction step write a comparison with ``forged`` fields (a writer that
    lies but keeps the custody chain intact)."""
    from archive.metadata import store
    from archive.metadata.textdiff import comparison as real

    def lying(previous, sentences):
        return {**real(previous, sentences), **forged}
    monkeypatch.setattr(store, "comparison", lying)


def _comparison_problems(report):
    return [p for p in report.problems if p.field == "comparison"]


def test_a_forged_verdict_is_caught_by_verify(arc, http_server, monkeypatch) -> None:
    a, b, _ = _three_versions(arc, http_server)
    arc.extract_metadata(a.capture_id)
    _forge(monkeypatch, verdict="unchanged")
    arc.extract_metadata(b.capture_id)
    report = arc.verify()
    (p,) = _comparison_problems(report)
    assert p.capture_id == b.capture_id and "verdict unchanged with 0 sentences removed " \
        "and 1 added" in p.message
    assert not _comparison_problems(arc.verify_captures([a.capture_id]))
    assert _comparison_problems(arc.verify_captures([b.capture_id]))


def test_a_comparison_with_a_forged_previous_hash_or_same_content_is_caught(
        arc, http_server, monkeypatch) -> None:
    _, b, c = _three_versions(arc, http_server)
    _forge(monkeypatch, previous_content_hash="sha256:" + "1" * 64)
    arc.extract_metadata(b.capture_id)
    (p,) = _comparison_problems(arc.verify())
    assert p.capture_id == b.capture_id and "content hash is" in p.message
    _forge(monkeypatch, verdict="changed", added=1)
    arc.extract_metadata(c.capture_id)  # same content as b: cannot have changed
    problems = [p for p in _comparison_problems(arc.verify()) if p.capture_id == c.capture_id]
    assert [p.message.split("is wrong: ", 1)[1] for p in problems] == [
        "verdict changed, but the content is the same as the previous capture's"]


def test_an_edited_verdict_in_the_database_breaks_the_custody_chain(arc, http_server) -> None:
    a, b, _ = _three_versions(arc, http_server)
    arc.extract_metadata_many([a.capture_id, b.capture_id])
    seq = _comparison_event(arc, b.capture_id).seq
    with arc.engine.begin() as c:
        detail = c.execute(text("SELECT detail FROM events WHERE seq = :s"), {"s": seq}
                           ).scalar_one()
        assert '"verdict":"changed"' in detail
        c.execute(text("UPDATE events SET detail = :d WHERE seq = :s"),
                  {"d": detail.replace('"verdict":"changed"', '"verdict":"unchanged"'),
                   "s": seq})
    report = arc.verify()
    assert any(p.kind == "chain" and f"{seq}" in p.message for p in report.problems)


@given(total=st.integers(0, 5000), first=st.integers(1, 300), most=st.integers(1, 600))
def test_chunks_cover_every_capture_once_growing_from_first_to_most(
        total: int, first: int, most: int) -> None:
    bounds = chunk_bounds(total, first, most)
    assert [i for start, end in bounds for i in range(start, end)] == list(range(total))
    sizes = [end - start for start, end in bounds]
    expected = [min(first, most)]
    while sum(expected) < total:
        expected.append(min(expected[-1] * 2, most))
    expected[-1] -= sum(expected) - total  # the last chunk is what is left
    assert sizes == (expected if total else [])


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**53 + 1, 2**53 - 1) | st.text(),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


@given(st.dictionaries(st.text(max_size=8), _json, max_size=6),
       st.none() | st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True))
def test_a_version_record_composed_from_its_row_is_the_canonical_json_of_the_whole(
        document: dict[str, object], content_hash: str | None) -> None:
    """The writer and ``archive verify`` compose the record from the row's text
    (record_body); it must be byte for byte what encoding the whole would give."""
    cid = "sha256:" + "ab" * 32
    whole = canonical_json({"type": RECORD_TYPE, "capture_id": cid,
                            "content_hash": content_hash, "metadata": document})
    assert record_body(cid, content_hash, canonical_json(document).decode()) == whole
