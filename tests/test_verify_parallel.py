"""`verify` on worker processes finds what it finds in one process, in the same order;
deep verification hashes a file and its records in one read; the chain check's fast
path (hashing the stored texts) never changes a verdict."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from archive.audit.verify import verify
from archive.audit.verify_files import Runner


def _ingest(arc, tmp_path: Path, i: int):
    p = tmp_path / f"doc-{i}.txt"
    p.write_text(f"document {i} " * 700)
    (res,) = arc.ingest([p])
    return res


def _flip(arc, res) -> dict:
    """Flip one byte inside the capture's resource record; returns that record."""
    path = Path(res.warc_path)
    data = bytearray(path.read_bytes())
    rec = next(r for r in arc.show(res.capture_id)[0].records if r.type == "resource")
    data[rec.offset + 40] ^= 0x01
    path.write_bytes(bytes(data))
    return rec


def _problems(report) -> list[dict]:
    return [p.to_json() for p in report.problems]



def test_a_deleted_file_is_missing_however_it_is_read(arc, tmp_path: Path) -> None:
    """The file check reads without asking the store first: a file gone from the local
    store is reported missing, not an error, on worker processes and in this one, deep
    or not."""
    results = [_ingest(arc, tmp_path, i) for i in range(3)]
    gone = Path(results[1].warc_path)
    gone.unlink()
    rel = arc.store.relpath(gone)
    for deep in (False, True):
        for processes in (1, 2):
            report = verify(arc.engine, arc.store, processes=processes, deep=deep)
            assert [(p.kind, p.path) for p in report.problems] == [("file-missing", rel)]
            assert report.files == 3

def test_a_flipped_byte_is_named_by_a_worker_process(arc, tmp_path: Path) -> None:
    runner = Runner(arc.engine, arc.store, 2, False)
    try:
        assert runner.pool is not None  # the units below run in other processes
    finally:
        runner.close()
    results = [_ingest(arc, tmp_path, i) for i in range(4)]
    clean = verify(arc.engine, arc.store, processes=2, deep=True)
    assert clean.ok, _problems(clean)
    assert clean.captures == 4 and clean.records == 12 and clean.events == 8
    rec = _flip(arc, results[2])
    for deep in (False, True):
        report = verify(arc.engine, arc.store, processes=2, deep=deep)
        changed = [p for p in report.problems if p.kind == "file-changed"]
        assert [p.path for p in changed] == [arc.store.relpath(Path(results[2].warc_path))]
        named = [p for p in report.problems if p.kind == "record-changed"]
        assert [p.record_id for p in named] == [rec.record_id]
        # the same problems, in the same order, as in this process
        alone = verify(arc.engine, arc.store, processes=1, deep=deep)
        assert _problems(report) == _problems(alone)
        assert (report.files, report.bytes, report.records, report.captures) == (
            alone.files, alone.bytes, alone.records, alone.captures)


def test_deep_verify_checks_every_record_in_the_files_one_read(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path, 0)
    rec = _flip(arc, res)
    # the file's row updated to the damaged bytes: only the records can tell
    from archive.core.hashing import sha256_file

    actual, size = sha256_file(Path(res.warc_path))
    with arc.engine.begin() as c:
        c.execute(text("UPDATE warc_files SET sha256 = :h, size = :s"),
                  {"h": actual.removeprefix("sha256:"), "s": size})
    shallow = verify(arc.engine, arc.store)
    assert not any(p.kind in ("file-changed", "record-changed") for p in shallow.problems)
    deep = verify(arc.engine, arc.store, deep=True)
    assert [p.record_id for p in deep.problems if p.kind == "record-changed"] == \
        [rec.record_id]
    assert not any(p.kind == "file-changed" for p in deep.problems)
    assert deep.records == 3 and deep.bytes == size


def test_an_event_stored_as_other_but_equal_json_still_verifies(arc, tmp_path: Path) -> None:
    """The chain pass hashes the stored texts as they are; a row whose JSON was rewritten
    with the same values (not the committed bytes) is re-encoded and still verifies, and
    the checkpoint check gets the same leaves; a changed value is still named."""
    _ingest(arc, tmp_path, 0)
    arc.checkpoint()
    with arc.engine.begin() as c:
        detail = c.execute(text("SELECT detail FROM events WHERE seq = 0")).scalar_one()
        spaced = json.dumps(json.loads(detail), indent=1)
        assert spaced != detail
        c.execute(text("UPDATE events SET detail = :d WHERE seq = 0"), {"d": spaced})
    report = arc.verify()
    assert report.ok, _problems(report)
    assert arc.check_custody().ok
    changed = dict(json.loads(detail), extra="added")
    with arc.engine.begin() as c:
        c.execute(text("UPDATE events SET detail = :d WHERE seq = 0"),
                  {"d": json.dumps(changed, indent=1)})
    msgs = [p.message for p in arc.verify().problems]
    assert any("event seq 0" in m and "no longer match its hash" in m for m in msgs)
    assert any("no longer hash to its signed root" in m for m in msgs)
    assert any("no longer hash to its signed root" in m for m in arc.check_custody().problems)


def test_worker_count_starts_forked_workers_sooner_than_spawned_ones() -> None:
    from archive.audit.verify import SMALL, SMALL_FORKED, worker_count

    assert SMALL_FORKED < SMALL
    # between the two thresholds: forked workers pay, spawned ones do not
    assert worker_count(SMALL_FORKED, 0, forked=True, cpus=2) == 2
    assert worker_count(SMALL_FORKED, 0, forked=False, cpus=2) == 1
    assert worker_count(SMALL_FORKED - 1, 0, forked=True, cpus=2) == 1
    assert worker_count(SMALL, 0, forked=False, cpus=2) == 2
    # large files need workers whatever the count; never more than 8, never none
    assert worker_count(10, 256 << 20, forked=False, cpus=4) == 4
    assert worker_count(10**6, 0, forked=True, cpus=64) == 8
    assert worker_count(10**6, 0, forked=True, cpus=1) == 1
