"""`verify` re-hashes stored bytes; tampering is found and named."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from archive.cli import main


def _ingest(arc, tmp_path: Path, name: str = "doc.txt", body: str = "A document.\n"):
    p = tmp_path / name
    p.write_text(body)
    (res,) = arc.ingest([p])
    return res


def test_clean_archive_verifies(arc, tmp_path: Path) -> None:
    _ingest(arc, tmp_path)
    report = arc.verify(deep=True)
    assert report.ok, report.to_json()
    assert report.files == 1 and report.captures == 1 and report.records == 3
    assert report.events == 2


def test_flipped_byte_in_a_warc_is_named_with_file_and_record(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path, body="x" * 5000)
    path = Path(res.warc_path)
    data = bytearray(path.read_bytes())
    show = arc.show(res.capture_id)[0]
    resource = next(r for r in show["records"] if r["type"] == "resource")
    data[resource["offset"] + 40] ^= 0x01
    path.write_bytes(bytes(data))
    report = arc.verify()
    assert not report.ok
    kinds = {p.kind for p in report.problems}
    assert "file-changed" in kinds and "record-changed" in kinds
    rec_problem = next(p for p in report.problems if p.kind == "record-changed")
    assert rec_problem.record_id == resource["record_id"]
    assert path.name in rec_problem.message and resource["record_id"] in rec_problem.message


def test_cli_verify_exits_non_zero_on_tampering(arc, tmp_path: Path, capsys,
                                                monkeypatch) -> None:
    res = _ingest(arc, tmp_path)
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    assert main(["verify"]) == 0
    Path(res.warc_path).write_bytes(Path(res.warc_path).read_bytes()[:-7])
    capsys.readouterr()
    assert main(["verify"]) == 5
    out = capsys.readouterr().out
    assert "MISMATCH" in out and Path(res.warc_path).name in out


def test_edited_hash_in_the_database_is_found(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path)
    with arc.engine.begin() as c:
        c.execute(text("UPDATE records SET block_digest = :d WHERE type = 'resource'"),
                  {"d": "0" * 64})
    problems = arc.verify(deep=True).problems
    assert any(p.kind == "record-changed" and p.expected == "sha256:" + "0" * 64
               for p in problems)
    assert any(p.kind == "manifest" for p in problems)
    assert res.capture_id


def test_untracked_file_is_reported(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path)
    stray = Path(res.warc_path).with_name("stray.warc.gz")
    stray.write_bytes(b"junk")
    report = arc.verify()
    assert [p.kind for p in report.problems] == ["untracked"]
    assert "stray.warc.gz" in report.problems[0].message


def test_show_resolves_by_prefix_and_lists_custody(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path)
    (by_content,) = arc.show(res.content_hash[:16])
    (by_id,) = arc.show(res.capture_id[7:20])
    assert by_content["capture_id"] == by_id["capture_id"] == res.capture_id
    assert [e["type"] for e in by_id["events"]] == ["ingestion", "message digest calculation"]
    assert json.dumps(by_id)  # serialisable for --json


def test_tampered_checkpoint_and_edited_event_are_named(arc, tmp_path: Path) -> None:
    """Issue 3: (b) an event row edited, (c) a checkpoint altered; each named."""
    _ingest(arc, tmp_path)
    arc.checkpoint()
    _ingest(arc, tmp_path, "two.txt", "Another.\n")
    arc.checkpoint()
    assert arc.verify().ok
    with arc.engine.begin() as c:
        note = c.execute(text("SELECT note FROM checkpoints WHERE id = 1")).scalar_one()
        lines = note.split("\n")
        lines[1] = str(int(lines[1]) + 1)  # claim a bigger tree
        c.execute(text("UPDATE checkpoints SET note = :n WHERE id = 1"),
                  {"n": "\n".join(lines)})
    problems = [p.message for p in arc.verify().problems if p.kind == "checkpoint"]
    assert any(m.startswith("checkpoint 1:") and "signature" in m for m in problems)
    with arc.engine.begin() as c:
        c.execute(text("UPDATE checkpoints SET note = :n WHERE id = 1"), {"n": note})
        c.execute(text("UPDATE events SET outcome = 'failure' WHERE seq = 1"))
    msgs = [p.message for p in arc.verify().problems]
    assert any("event seq 1" in m and "edited" in m for m in msgs)
    assert any("no longer hash to its signed root" in m for m in msgs)


def test_deletion_is_a_tombstone_that_keeps_the_bytes(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path)
    (gone,) = arc.delete(res.capture_id, reason="takedown request 2026-11-21",
                         person="editor@example.org")
    assert gone["withdrawn"]
    (shown,) = arc.show(res.capture_id)
    assert shown["withdrawn"]
    tomb = shown["events"][-1]
    assert tomb["type"] == "deletion" and tomb["agent"]["person"] == "editor@example.org"
    assert tomb["detail"]["reason"] == "takedown request 2026-11-21"
    assert Path(res.warc_path).exists() and arc.verify(deep=True).ok
