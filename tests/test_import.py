"""Importing foreign WARCs (FAULTS 32-35) against the real files in the shared corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import SHARED, each, missing_path, require
from sqlalchemy import text

from archive.errors import WarcFormatError
from archive.ledger.custody import events_for

CORPUS = SHARED / "corpus" / "warc"
TRUTH = CORPUS / "truth.jsonl"
MISSING = missing_path(TRUTH, "the shared WARC corpus's truth.jsonl")


def _truth() -> list[dict]:
    if MISSING:
        return []
    return [json.loads(line) for line in TRUTH.read_text().splitlines() if line.strip()]


def _file(t: dict) -> str:
    return str(t["file"])


@pytest.fixture(autouse=True)
def _corpus() -> None:
    """Every test here reads the corpus: skipped without it, failed without it in CI."""
    require(MISSING)


@pytest.mark.parametrize("entry", each([t for t in _truth() if t["status"] in ("valid", "quirky")
                                        and t["format"] == "warc"], MISSING, _file))
def test_valid_warcs_import_with_their_record_counts(archive_factory, entry) -> None:
    arc = archive_factory()
    res = arc.import_warc(CORPUS / entry["file"], accept_partial=True)
    assert res.record_counts == entry["record_counts"]
    if entry["status"] == "valid":
        assert res.verdict == "valid"
    stored = arc.store.root / res.stored_path
    assert stored.read_bytes() == (CORPUS / entry["file"]).read_bytes()
    assert arc.verify().ok


@pytest.mark.parametrize("entry", each([t for t in _truth() if t["status"] in ("malformed",
                                                                               "valid-arc")],
                                        MISSING, _file))
def test_malformed_warcs_are_refused_with_an_offset(archive_factory, entry) -> None:
    arc = archive_factory()
    with pytest.raises(WarcFormatError) as info:
        arc.import_warc(CORPUS / entry["file"])
    assert "offset" in str(info.value)
    assert "\n" not in str(info.value)
    assert list(arc.store.iter_files()) == []  # never stored
    sha = info.value.context["sha256"]
    with arc.engine.connect() as c:
        (ev,) = events_for(c, sha)
    assert ev.type == "validation" and ev.outcome == "failure"


def test_the_same_file_imported_twice_changes_nothing(arc, tmp_path: Path) -> None:
    """FAULTS 35: idempotent by file hash, even under another name."""
    src = CORPUS / "warcio" / "example.warc.gz"
    first = arc.import_warc(src)
    copy = tmp_path / "renamed.warc.gz"
    shutil.copy(src, copy)
    with arc.engine.connect() as c:
        before = c.execute(text("SELECT count(*) FROM events")).scalar()
    again = arc.import_warc(copy)
    assert again.already_imported and again.sha256 == first.sha256
    assert again.captures == first.captures and first.captures
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM events")).scalar() == before
        assert c.execute(text("SELECT count(*) FROM imports")).scalar() == 1


def test_a_partial_file_is_stored_only_when_asked_and_marked(archive_factory) -> None:
    """FAULTS 32/33: a truncated or digest-failing file is never silently accepted."""
    partial = [t for t in _truth() if t["status"] == "malformed"]
    assert partial
    arc = archive_factory()
    for t in partial:
        try:
            res = arc.import_warc(CORPUS / t["file"], accept_partial=True)
        except WarcFormatError:
            continue  # refused outright: fine, nothing stored
        assert res.verdict == "partial" and res.problems
        assert all("offset" in p["message"] for p in res.problems)


def test_target_uris_and_filenames_never_become_paths(archive_factory) -> None:
    arc = archive_factory()
    res = arc.import_warc(CORPUS / "warcio" / "example-wget-bad-target-uri.warc.gz",
                          accept_partial=True)
    assert res.stored_path == f"imports/{res.sha256[7:]}.warc.gz"
