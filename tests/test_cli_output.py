"""What the CLI prints for a person: withdrawn captures marked in `list` and `show`,
the WARC file's hash in `show`, metadata values as text with their evidence, a help
text that ends with the exit codes, and no traceback when the reader stops reading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers import ARTICLE

from archive.api import Archive
from archive.cli import main

URL = "https://news.example/2026/11/20/storm"


def _ingest(arc: Archive, tmp_path: Path, url: str = URL, copies: int = 1) -> list[Any]:
    paths = []
    for i in range(copies):
        p = tmp_path / f"storm-{i}.html"
        p.write_bytes(ARTICLE)
        paths.append(p)
    return arc.ingest(paths, url=url, content_type="text/html; charset=utf-8")


def _env(monkeypatch: pytest.MonkeyPatch, arc: Archive) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)


def test_list_and_show_mark_a_withdrawn_capture(arc: Archive, tmp_path: Path, capsys: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    kept, gone = _ingest(arc, tmp_path, copies=2)
    arc.delete(gone.capture_id, reason="court order 2026-12-01", person="editor@example.org")
    _env(monkeypatch, arc)
    capsys.readouterr()
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    status = {line.split()[2][:19]: line.split()[1] for line in lines}
    assert status == {gone.capture_id[:19]: "withdrawn", kept.capture_id[:19]: "complete"}
    assert main(["list", "--json"]) == 0
    rows = {r["capture_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[kept.capture_id]["withdrawn"] is False
    assert rows[kept.capture_id]["withdrawal"] is None
    assert rows[gone.capture_id]["withdrawn"] is True
    assert rows[gone.capture_id]["withdrawal"]["reason"] == "court order 2026-12-01"
    assert rows[gone.capture_id]["withdrawal"]["person"] == "editor@example.org"

    assert main(["show", gone.capture_id]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WITHDRAWN ") and "by editor@example.org: court order 2026-12-01" in out
    assert "status    withdrawn, was complete" in out
    assert main(["show", kept.capture_id]) == 0
    assert "withdrawn" not in capsys.readouterr().out.lower()


SUMMARY_KEYS = ["capture_id", "content_hash", "url", "final_url", "kind", "status",
                "http_status", "content_type", "captured_at", "warc_file", "revisit_of"]
LISTED_KEYS = [*SUMMARY_KEYS, "withdrawn", "withdrawal"]
SHOWN_KEYS = [*LISTED_KEYS, "mode", "screenshot", "requisites", "manifest", "provenance",
              "records", "events"]
RECORD_KEYS = ["record_id", "type", "target_uri", "date", "offset", "length", "block_digest",
               "payload_digest"]
VERSION_KEYS = ["extractor", "extractor_version", "created_at", "metadata_sha256",
                "warc_record_id", "record"]


def test_json_output_keeps_its_keys_in_order(arc: Archive, tmp_path: Path, capsys: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`--json` prints the façade's result types through their to_json(): the keys a
    script reads, in the order they have always been printed (issue 13 made the results
    dataclasses; the printed shape must not move)."""
    kept, gone = _ingest(arc, tmp_path, copies=2)
    arc.extract_metadata(kept.capture_id)
    arc.delete(gone.capture_id, reason="court order 2026-12-01", person="editor@example.org")
    _env(monkeypatch, arc)
    capsys.readouterr()
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [list(c) for c in listed] == [LISTED_KEYS, LISTED_KEYS]
    withdrawal = next(c["withdrawal"] for c in listed if c["capture_id"] == gone.capture_id)
    assert list(withdrawal) == ["event", "time", "reason", "person"]
    assert main(["show", "--json", kept.capture_id]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert list(shown) == SHOWN_KEYS
    assert shown["requisites"] == {"captured": 0, "failed": 0, "list": []}
    assert [list(r) for r in shown["records"]] == [RECORD_KEYS] * len(shown["records"])
    assert list(shown["events"][0]) == ["seq", "event_id", "type", "time", "objects", "agent",
                                       "outcome", "detail", "prev", "hash"]
    assert main(["metadata", "--json", kept.capture_id]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert list(found) == ["capture_id", "url", "versions"]
    assert list(found["versions"][0]) == VERSION_KEYS
    assert main(["delete", "--json", kept.capture_id, "--reason", "a takedown request"]) == 0
    (withdrawn,) = json.loads(capsys.readouterr().out)
    assert list(withdrawn) == LISTED_KEYS and withdrawn["withdrawn"] is True


def test_withdrawn_is_read_from_the_deletion_event_of_that_capture(
        arc: Archive, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deletion event also names the content hash, which another capture shares:
    only the capture whose id the hashed entry names is withdrawn."""
    kept, gone = _ingest(arc, tmp_path, copies=2)
    assert kept.content_hash == gone.content_hash
    arc.delete(gone.capture_id, reason="a takedown request")
    listed = {c.capture_id: c for c in arc.list_captures()}
    (shown_gone,) = arc.show(gone.capture_id)
    shown = {c.capture_id: c for c in arc.show(kept.content_hash)}
    assert shown[kept.capture_id].events[-1].type == "deletion"  # via the content hash
    _env(monkeypatch, arc)
    capsys.readouterr()
    assert main(["show", kept.capture_id]) == 0
    custody = capsys.readouterr().out.split("custody:\n")[1].splitlines()
    assert [line.endswith("(another capture of the same content)") for line in custody] == [
        kept.capture_id not in e.objects for e in shown[kept.capture_id].events]
    assert " deletion " in custody[-1]
    assert custody[-1].endswith("(another capture of the same content)")
    assert shown[kept.capture_id].withdrawn is False
    assert listed[kept.capture_id].withdrawn is False
    assert listed[gone.capture_id].withdrawal == shown_gone.withdrawal
    assert shown_gone.withdrawal is not None
    assert shown_gone.withdrawal.seq == shown_gone.events[-1].seq
    assert arc.show_many([gone.capture_id])[gone.capture_id].withdrawn is True


def test_show_prints_the_warc_file_hash_and_no_http_status_for_a_document(
        arc: Archive, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (res,) = _ingest(arc, tmp_path)
    _env(monkeypatch, arc)
    capsys.readouterr()
    assert main(["show", res.capture_id]) == 0
    out = capsys.readouterr().out
    summed = subprocess.run(["sha256sum", res.warc_path], capture_output=True, text=True,
                            check=True).stdout.split()[0]
    assert f"warc hash sha256:{summed} (" in out  # the README: sha256sum agrees with show
    assert "HTTP None" not in out and "None" not in out
    assert "status    complete (local document)" in out


def test_metadata_prints_values_as_text_with_their_evidence(
        arc: Archive, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (res,) = _ingest(arc, tmp_path)
    arc.extract_metadata(res.capture_id)
    _env(monkeypatch, arc)
    capsys.readouterr()
    assert main(["metadata", res.capture_id]) == 0
    out = capsys.readouterr().out
    assert "['" not in out and "{'" not in out  # no Python reprs
    fields = {line.split()[0]: line.strip() for line in out.splitlines()[2:]}
    assert fields["authors"] == "authors          Anna Berg  [confidence 0.75; json-ld:author]"
    assert fields["tags"].startswith("tags             weather  [confidence ")
    assert fields["published"].startswith(  # the instant and offset the page states
        "published        2026-11-20T08:30:00+01:00  [confidence ")
    assert "json-ld:datePublished" in fields["published"]
    assert fields["credited_sources"].startswith("credited_sources Sky News  [")
    assert fields["dateline"] == "dateline         unknown"


def test_help_ends_with_the_exit_codes_not_a_docstring(capsys: Any) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and "archive.api" not in out
    tail = out.rstrip().splitlines()
    assert tail[-1].lstrip().startswith("141")
    assert any(line.strip().startswith("6    no capture matches") for line in tail)


@pytest.mark.parametrize("command", ["list", "show"])
def test_output_into_head_ends_without_a_traceback(archive_factory: Any, tmp_path: Path,
                                                   command: str) -> None:
    """`archive list | head -1` through a real pipe: more output than a pipe holds, so
    the writer meets a closed pipe; it stops quietly with the shell's SIGPIPE status."""
    arc = archive_factory()
    long_url = "https://news.example/" + "very-long-path/" * 200  # 3 kB a line
    (first, *_) = _ingest(arc, tmp_path, url=long_url, copies=60)
    what = "list" if command == "list" else f"show {first.content_hash}"  # all 60
    env = {**os.environ, "ARCHIVE_HOME": str(arc.settings.home),
           "ARCHIVE_DATABASE_URL": arc.settings.database_url,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m archive.cli {what} | head -1; '
                       'exit "${PIPESTATUS[0]}"'],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.stderr == ""
    assert proc.stdout.count("\n") == 1
    assert proc.returncode == 141
