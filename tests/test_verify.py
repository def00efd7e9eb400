"""`verify` re-hashes stored bytes; tampering is found and named."""

from __future__ import annotations

import json
from pathlib import Path

from servers import ARTICLE
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
    resource = next(r for r in show.records if r.type == "resource")
    data[resource.offset + 40] ^= 0x01
    path.write_bytes(bytes(data))
    report = arc.verify()
    assert not report.ok
    kinds = {p.kind for p in report.problems}
    assert "file-changed" in kinds and "record-changed" in kinds
    rec_problem = next(p for p in report.problems if p.kind == "record-changed")
    assert rec_problem.record_id == resource.record_id
    assert path.name in rec_problem.message and resource.record_id in rec_problem.message


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
    assert by_content.capture_id == by_id.capture_id == res.capture_id
    assert [e.type for e in by_id.events] == ["ingestion", "message digest calculation"]
    assert json.dumps(by_id.to_json())  # serialisable for --json


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
    assert gone.withdrawn
    (shown,) = arc.show(res.capture_id)
    assert shown.withdrawn
    tomb = shown.events[-1]
    assert tomb.type == "deletion" and tomb.agent["person"] == "editor@example.org"
    assert tomb.detail["reason"] == "takedown request 2026-11-21"
    assert Path(res.warc_path).exists() and arc.verify(deep=True).ok


# ------------------------------------------------ issue 12.1: every shown column is proven

def _forgeable(arc, http_server, tmp_path: Path):
    """An HTTP capture of an article (with metadata), a revisit of it, and a document."""
    url = http_server.add_page("/verify-columns", ARTICLE)
    first, = arc.capture([url], agent=arc.agent(run_id="run-verify-1"))
    second, = arc.capture([url])
    assert second.status == "revisit"
    arc.extract_metadata(first.capture_id)
    doc = _ingest(arc, tmp_path)
    assert arc.verify().ok, arc.verify().to_json()
    return first, second, doc


# (table, column, SQL expression for the forged value, which capture, where clause extra)
FORGERIES = [
    ("captures", "url", "'http://evil.example/x'", "first", ""),
    ("captures", "final_url", "'http://evil.example/x'", "first", ""),
    ("captures", "started_at", "'2019-01-01T00:00:00.000000Z'", "first", ""),
    ("captures", "ended_at", "'2019-01-01T00:00:00.000000Z'", "first", ""),
    ("captures", "content_hash", "'" + "ab" * 32 + "'", "first", ""),
    ("captures", "payload_digest", "'" + "ab" * 32 + "'", "first", ""),
    ("captures", "status", "'truncated'", "first", ""),
    ("captures", "http_status", "404", "first", ""),
    ("captures", "content_type", "'application/pdf'", "first", ""),
    ("captures", "kind", "'document'", "first", ""),
    ("captures", "revisit_of", "NULL", "second", ""),
    ("captures", "run_id", "'another-run'", "first", ""),
    ("captures", "provenance", "replace(provenance, '\"remote_ip\"', '\"remote_IP\"')",
     "first", ""),
    ("captures", "warc_file_id", "(SELECT max(id) FROM warc_files)", "first", ""),
    ("warc_files", "name", "'ARCHIVE-forged.warc.gz'", "first", ""),
    ("warc_files", "relpath", "relpath || '.x'", "first", ""),
    ("warc_files", "sha256", "'" + "ab" * 32 + "'", "first", ""),
    ("warc_files", "size", "size + 1", "first", ""),
    ("records", "record_id", "'<urn:uuid:forged>'", "first", "AND type = 'response'"),
    ("records", "type", "'resource'", "first", "AND type = 'response'"),
    ("records", "target_uri", "'http://evil.example/x'", "first", "AND type = 'response'"),
    ("records", "date", "'2019-01-01T00:00:00Z'", "first", "AND type = 'response'"),
    ("records", "offset", "\"offset\" + 1", "first", "AND type = 'response'"),
    ("records", "length", "length + 1", "first", "AND type = 'response'"),
    ("records", "payload_digest", "'" + "ab" * 32 + "'", "first", "AND type = 'response'"),
    ("records", "warc_file_id", "(SELECT max(id) FROM warc_files)", "first",
     "AND type = 'response'"),
    ("metadata_versions", "record", "replace(record, '\"title\"', '\"Title\"')", "first", ""),
    ("metadata_versions", "record_sha256", "'" + "ab" * 32 + "'", "first", ""),
    ("metadata_versions", "extractor_version", "'0.0.1'", "first", ""),
    ("metadata_versions", "warc_record_id", "'<urn:uuid:forged>'", "first", ""),
    ("metadata_versions", "warc_file_id", "(SELECT min(id) FROM warc_files)", "first", ""),
]


def _where(table: str) -> str:
    if table == "captures":
        return "capture_id = :cid"
    if table == "warc_files":
        return "id = (SELECT warc_file_id FROM captures WHERE capture_id = :cid)"
    return "capture_pk = (SELECT id FROM captures WHERE capture_id = :cid)"


def test_every_shown_column_edited_by_hand_is_named(arc, http_server, tmp_path: Path) -> None:
    """FAULTS 36: a column a user sees, edited in the database, is named by `verify` with
    its capture (and `cite` can no longer print it as proven)."""
    first, second, _doc = _forgeable(arc, http_server, tmp_path)
    caps = {"first": first.capture_id, "second": second.capture_id}
    for table, column, value, which, extra in FORGERIES:
        cid = caps[which].removeprefix("sha256:")
        with arc.engine.begin() as c:
            # table, column and values are this test's own constants, never input
            before = c.execute(text(f"SELECT * FROM {table} WHERE {_where(table)} {extra}"),  # noqa: S608
                               {"cid": cid}).mappings().all()
            assert before, (table, column)
            quoted = '"offset"' if column == "offset" else column
            c.execute(text(f"UPDATE {table} SET {quoted} = {value} "  # noqa: S608
                           f"WHERE {_where(table)} {extra}"), {"cid": cid})
        try:
            problems = arc.verify().problems
            named = [p for p in problems
                     if p.capture_id == caps[which] and p.field == f"{table}.{column}"]
            assert named, (table, column, [p.message for p in problems])
            assert caps[which] in named[0].message and f"{table}.{column}" in named[0].message
        finally:
            with arc.engine.begin() as c:
                for row in before:
                    c.execute(text(f"UPDATE {table} SET {quoted} = :v "  # noqa: S608
                                   "WHERE id = :id"),
                              {"v": row[column], "id": row["id"]})
        assert arc.verify().ok, (table, column, arc.verify().to_json())


def test_a_record_row_the_manifest_does_not_list_is_named(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path)
    with arc.engine.begin() as c:
        c.execute(text(
            "INSERT INTO records (capture_pk, warc_file_id, record_id, type, target_uri, date, "
            "\"offset\", length, block_digest, payload_digest) SELECT capture_pk, warc_file_id,"
            " '<urn:uuid:extra>', type, target_uri, date, \"offset\", length, block_digest, "
            "payload_digest FROM records WHERE type = 'resource'"))
    (problem,) = arc.verify().problems
    assert problem.capture_id == res.capture_id and problem.field == "records.record_id"
    assert "<urn:uuid:extra>" in problem.message


def test_a_forged_metadata_version_date_is_named_by_deep_verify(arc, tmp_path: Path) -> None:
    res = _ingest(arc, tmp_path, body="<html><head><title>T</title></head></html>")
    arc.extract_metadata(res.capture_id)
    with arc.engine.begin() as c:
        c.execute(text("UPDATE metadata_versions SET created_at = '2019-01-01T00:00:00.000000Z'"))
    problems = arc.verify(deep=True).problems
    assert [(p.capture_id, p.field) for p in problems] == [
        (res.capture_id, "metadata_versions.created_at")]


# ------------------------------------------------ issue 12.2: every capture has its events

def _drop_events_of(arc, capture_id: str) -> list[int]:
    """Delete every event naming ``capture_id`` (the last ones of the log) and repair the
    log head, as someone with write access to the database would."""
    with arc.engine.begin() as c:
        seqs = [r.seq for r in c.execute(text(
            "SELECT seq FROM event_objects WHERE object_hash = :h ORDER BY seq"),
            {"h": capture_id.removeprefix("sha256:")})]
        c.execute(text(f"DELETE FROM event_objects WHERE seq >= {min(seqs)}"))  # noqa: S608
        c.execute(text(f"DELETE FROM events WHERE seq >= {min(seqs)}"))  # noqa: S608
        last = c.execute(text("SELECT seq, entry_hash FROM events ORDER BY seq DESC LIMIT 1")
                         ).one()
        c.execute(text("UPDATE log_head SET size = :s, head_hash = :h"),
                  {"s": last.seq + 1, "h": last.entry_hash})
    return seqs


def test_a_capture_whose_events_were_deleted_is_named(arc, tmp_path: Path) -> None:
    """FAULTS 37: the events of a capture made after the last checkpoint deleted and the
    log head repaired: the chain and the checkpoints still verify, the capture does not."""
    arc.init()
    _ingest(arc, tmp_path)
    arc.checkpoint()
    late = _ingest(arc, tmp_path, "late.txt", "Written after the checkpoint.\n")
    assert arc.verify().ok
    assert _drop_events_of(arc, late.capture_id)
    report = arc.verify()
    assert [(p.kind, p.capture_id) for p in report.problems] == [("custody", late.capture_id)]
    assert "has no capture or ingestion and no message digest calculation event" in \
        report.problems[0].message
    assert arc.check_custody().ok  # the log itself is consistent: only the capture betrays it
    (one,) = arc.verify(late.capture_id).problems  # also when verifying that capture alone
    assert one.kind == "custody" and one.capture_id == late.capture_id


def test_an_event_naming_a_capture_that_does_not_exist_is_named(arc, tmp_path: Path) -> None:
    _ingest(arc, tmp_path)
    gone = _ingest(arc, tmp_path, "gone.txt", "Removed behind the log's back.\n")
    with arc.engine.begin() as c:
        c.execute(text("DELETE FROM records WHERE capture_pk = (SELECT id FROM captures "
                       "WHERE capture_id = :h)"), {"h": gone.capture_id[7:]})
        c.execute(text("DELETE FROM captures WHERE capture_id = :h"),
                  {"h": gone.capture_id[7:]})
    (problem,) = arc.verify().problems
    assert problem.kind == "custody" and problem.capture_id == gone.capture_id
    assert "ingestion, message digest calculation" in problem.message
    assert "not in the database" in problem.message


def test_an_edited_event_index_is_named(arc, tmp_path: Path) -> None:
    """`show` finds the tombstone of a withdrawn capture through event_objects: removing
    its index rows would hide the withdrawal; verify names the event."""
    res = _ingest(arc, tmp_path)
    arc.delete(res.capture_id, reason="takedown request")
    with arc.engine.begin() as c:
        seq = c.execute(text("SELECT seq FROM events WHERE type = 'deletion'")).scalar_one()
        c.execute(text("DELETE FROM event_objects WHERE seq = :s"), {"s": seq})
    assert not arc.show(res.capture_id)[0].withdrawn  # what the hole would show
    (problem,) = arc.verify().problems
    assert problem.field == "event_objects.object_hash" and f"event seq {seq}" in problem.message
