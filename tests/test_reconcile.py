"""Crash consistency: orphaned and unfinished WARC files are adopted or quarantined.

FAULTS 16, 17, 22: no row without its file, no file without its row or a quarantine
event, the chain intact, and a second run changes nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from servers import wait_until
from sqlalchemy import select, text

from archive.capture.manifest import build_manifest, capture_id
from archive.core.hashing import sha256_stream
from archive.core.timeutil import iso_utc
from archive.http.spool import Spool
from archive.ledger.custody import check_chain, events_for
from archive.ledger.tables import warc_files


def _doc(arc, tmp_path: Path, name: str, body: bytes):
    p = tmp_path / name
    p.write_bytes(body)
    return arc.recorder.prepare_document(body, name=name, url=None, content_type=None,
                                         agent=arc.agent())


def assert_invariants(arc) -> None:
    """Every row's file exists with its hash; every stored file has a row; chain intact."""
    with arc.engine.connect() as c:
        rows = c.execute(select(warc_files)).all()
        _, problems = check_chain(c)
    assert problems == []
    for r in rows:
        assert arc.store.exists(r.relpath), f"row {r.relpath} points at a missing file"
        with arc.store.open(r.relpath) as f:
            assert sha256_stream(f)[0] == r.sha256
    known = {r.relpath for r in rows}
    for rel in arc.store.iter_files():
        assert rel in known, f"{rel} has no row"


def test_crash_after_rename_before_commit_is_adopted_with_the_same_capture_id(
        arc, tmp_path: Path) -> None:
    """FAULTS 17: the file is durable, the commit never happened."""
    agent = arc.agent()
    prepared = _doc(arc, tmp_path, "a.txt", b"document body\n")
    stored, _moment, written = arc.recorder.write_file([prepared], agent)
    report = arc.reconcile()
    assert report.in_flight == [stored.relpath] and not report.changed  # writer still alive
    assert arc.verify(None).ok  # a file in flight is no problem
    arc.store.release(stored.relpath)  # the writer dies here, before its commit
    assert not arc.verify(None).ok  # now an untracked file is reported
    expected = capture_id(build_manifest(
        url=prepared.url, final_url=prepared.final_url,
        capture_time=iso_utc(prepared.started_at), kind="document", status="complete",
        http_status=None, content_hash=prepared.content_hash, stored=stored,
        records=written[0]))
    report = arc.reconcile()
    assert [a["captures"] for a in report.adopted] == [[expected]]
    (shown,) = arc.show(expected)
    ev = shown.events[0]
    assert ev.type == "ingestion" and ev.detail["recovered"] is True
    assert arc.verify(None, deep=True).ok
    assert_invariants(arc)
    assert not arc.reconcile().changed  # a second run changes nothing


def test_an_adopted_revisit_names_its_original_as_the_commit_would_have(
        arc, tmp_path: Path) -> None:
    """A capture marked a revisit (as the recorder marks one) whose commit never
    happened: its metadata record keeps ``revisit_of`` as the bare hex that record has
    always held, and adoption reads it back into the same manifest and capture id."""
    (first,) = arc.ingest([_write(tmp_path / "first.txt", b"the original\n")])
    agent = arc.agent()
    prepared = _doc(arc, tmp_path, "again.txt", b"the original\n")
    prepared.revisit_of = first.capture_id
    stored, _moment, written = arc.recorder.write_file([prepared], agent)
    arc.store.release(stored.relpath)  # the writer dies here, before its commit
    facts = json.loads(prepared.provenance_json())["capture"]
    assert facts["revisit_of"] == first.capture_id.removeprefix("sha256:")
    expected = capture_id(build_manifest(
        url=prepared.url, final_url=prepared.final_url,
        capture_time=iso_utc(prepared.started_at), kind="document", status="complete",
        http_status=None, content_hash=prepared.content_hash, stored=stored,
        records=written[0], revisit_of=first.capture_id))
    report = arc.reconcile()
    assert [a["captures"] for a in report.adopted] == [[expected]]
    (shown,) = arc.show(expected)
    assert shown.revisit_of == shown.manifest["revisit_of"] == first.capture_id
    assert arc.verify(None, deep=True).ok
    assert_invariants(arc)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_unfinished_open_file_is_quarantined_never_deleted(arc, tmp_path: Path) -> None:
    """FAULTS 16: a crash mid-write leaves a partial .open file."""
    agent = arc.agent()
    stored, _, _ = arc.recorder.write_file([_doc(arc, tmp_path, "b.txt", b"x" * 3000)], agent)
    arc.store.release(stored.relpath)  # the writer is gone
    full = arc.store.root / stored.relpath
    partial = full.with_name(full.name + ".open")
    whole = full.read_bytes()
    partial.write_bytes(whole[:-100])  # cut inside the last gzip member
    full.unlink()
    report = arc.reconcile()
    assert report.adopted == [] and len(report.quarantined) == 1
    q = report.quarantined[0]
    moved = arc.settings.quarantine_dir / q["quarantined_as"]
    assert moved.read_bytes() == whole[:-100]  # moved intact, never deleted or altered
    with arc.engine.connect() as c:
        (ev,) = events_for(c, q["sha256"])
    assert ev.type == "quarantine" and ev.detail["original_path"] == q["path"]
    assert_invariants(arc)
    assert not arc.reconcile().changed


def test_complete_open_file_is_renamed_and_adopted(arc, tmp_path: Path) -> None:
    """A crash after fsync but before rename: the bytes are complete."""
    agent = arc.agent()
    stored, _, _ = arc.recorder.write_file([_doc(arc, tmp_path, "c.txt", b"complete")], agent)
    arc.store.release(stored.relpath)  # the writer is gone
    full = arc.store.root / stored.relpath
    full.rename(full.with_name(full.name + ".open"))
    report = arc.reconcile()
    assert len(report.adopted) == 1 and report.adopted[0]["path"] == stored.relpath
    assert full.exists()
    assert_invariants(arc)


def test_a_commit_landing_while_reconcile_adopts_is_not_adopted_twice(arc, tmp_path: Path
                                                                     ) -> None:
    """A killed writer's COMMIT can still be in flight at the database when reconcile
    looks: the file seems an orphan, then its row appears. Reconcile must see that row
    instead of failing on the duplicate (seen on PostgreSQL under FAULTS 22)."""
    agent = arc.agent()
    prepared = _doc(arc, tmp_path, "race.txt", b"committed at the last moment\n")
    stored, moment, written = arc.recorder.write_file([prepared], agent)
    arc.store.release(stored.relpath)  # the writer's lock is gone; its commit is not
    rows_written, done = threading.Event(), threading.Event()

    def late_writer() -> None:
        with arc.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            arc.recorder.commit_rows(conn, stored, moment, [prepared], written, agent)
            rows_written.set()
            time.sleep(0.8)  # reconcile looks now, and finds no row
        done.set()

    writer = threading.Thread(target=late_writer)
    writer.start()
    assert rows_written.wait(10)
    report = arc.reconcile()
    writer.join(10)
    assert done.is_set() and not report.adopted and not report.quarantined
    assert_invariants(arc)
    assert not arc.reconcile().changed


CHILD = textwrap.dedent("""
    import os, sys
    from dataclasses import replace
    from pathlib import Path
    from archive.api import Archive
    from archive.core.config import Settings
    s = Settings.from_env({"ARCHIVE_HOME": sys.argv[1], "ARCHIVE_DATABASE_URL": sys.argv[2]})
    arc = Archive.open(s)
    print("ready", flush=True)  # imported and open: the kill lands while it writes
    i = 0
    while True:
        i += 1
        p = Path(sys.argv[1]) / f"doc-{os.getpid()}-{i}.txt"
        p.write_bytes(os.urandom(2000 + i * 37))
        arc.ingest([p])
""")


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_anything(db_url: str, tmp_path: Path,
                                                       archive_factory) -> None:
    """FAULTS 16 and 22, many times: kill -9 a writing process, reconcile, check. The
    random moment is counted from when the child is ready to write (its imports take
    from 0.4 s to several seconds on a loaded machine), so every kill lands mid-write."""
    home = tmp_path / "home"
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), db_url], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.05, 1.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        arc = archive_factory(db_url=db_url, home=home)
        arc.reconcile()
        assert_invariants(arc)
        assert not arc.reconcile().changed
        arc.close()
    arc = archive_factory(db_url=db_url, home=home)
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM captures")).scalar() > 0
    assert arc.verify(None).ok


# --------------------------------------------------------------------------- temporary files

def _spooled(*parents: Path) -> list[Path]:
    """Files in fetch spool directories under ``parents``."""
    return [f for parent in parents if parent.exists()
            for d in parent.glob("archive-fetch-*") for f in d.iterdir()]


def test_a_killed_captures_spooled_bytes_are_swept_by_the_next_verify(
        sqlite_url: str, tmp_path: Path, http_server) -> None:
    """Issue 12.7: kill -9 a capture holding 2 MB on disk (a stalled body): its spool is
    under $ARCHIVE_HOME, not the system's temporary folder, and `verify` removes it."""
    home, system_tmp = tmp_path / "home", tmp_path / "system-tmp"
    system_tmp.mkdir()
    env = {**os.environ, "ARCHIVE_HOME": str(home), "ARCHIVE_DATABASE_URL": sqlite_url,
           "ARCHIVE_ALLOW_PRIVATE_NETWORKS": "1", "ARCHIVE_DEADLINE": "60",
           "TMPDIR": str(system_tmp), "PYTHONWARNINGS": "ignore"}
    url = http_server.url("/stall-body?size=4000000&send=2000000")
    proc = subprocess.Popen([sys.executable, "-m", "archive.cli", "capture", url], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: sum(f.stat().st_size for f in _spooled(
            home / "tmp", system_tmp)) >= 2_000_000, timeout=30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = _spooled(home / "tmp", system_tmp)
    assert left  # the killed process could not clean up
    done = subprocess.run([sys.executable, "-m", "archive.cli", "verify"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"swept {len(left)} temporary files" in done.stdout
    assert _spooled(home / "tmp", system_tmp) == []
    assert list((home / "tmp").iterdir()) == [] and list(system_tmp.iterdir()) == []


def test_a_live_spool_is_not_swept_a_stale_one_is_at_the_next_run(
        arc, http_server) -> None:
    """Issue 12.7: a spool whose owner is alive (it holds its lock) is never swept;
    one without a live owner is removed when the next capture run starts."""
    tmp = arc.settings.home / "tmp"
    live = Spool(tmp, memory_limit=0)
    _, body = live.pair()
    body.write(b"still being written")
    stale = tmp / "archive-fetch-killed"
    stale.mkdir()
    (stale / "001-body.bin").write_bytes(b"left by a killed process")
    assert arc.reconcile().swept == 1
    assert body.path is not None and body.path.exists() and not stale.exists()
    stale.mkdir()
    (stale / "001-response.http").write_bytes(b"left by another killed process")
    (res,) = arc.capture([http_server.url("/article")])
    assert res.ok and not stale.exists() and body.path.exists()
    body.close()
    live.remove()
    assert not body.path.exists()


KILLED_IMPORT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from archive.http.spool import IMPORT_PREFIX, owned_tempdir

    with owned_tempdir(Path(sys.argv[1]), IMPORT_PREFIX) as tmp:
        (tmp / "0123.warc.gz").write_bytes(b"half of a WARC" * 100)
        print(tmp, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # killed midway: no cleanup runs
""")


def test_a_killed_wacz_imports_folder_is_swept_a_live_one_is_not(
        arc, tmp_path: Path) -> None:
    """An `archive import FILE.wacz` killed while its WARCs sit in $ARCHIVE_HOME/tmp
    leaves an `archive-wacz-*` folder: the next reconcile sweeps it, but never the
    folder of an import still running (it holds the lock), and a finished import leaves
    nothing behind."""
    from archive.http.spool import IMPORT_PREFIX, owned_tempdir

    tmp = arc.settings.tmp_dir
    done = subprocess.run([sys.executable, "-c", KILLED_IMPORT, str(tmp)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    left = Path(done.stdout.strip())
    assert left.name.startswith(IMPORT_PREFIX) and left.parent == tmp
    assert (left / "0123.warc.gz").exists()  # the killed process could not clean up
    with owned_tempdir(tmp, IMPORT_PREFIX) as live:
        (live / "0456.warc.gz").write_bytes(b"an import in progress")
        report = arc.reconcile()
        assert report.swept == 1 and report.swept_bytes == len(b"half of a WARC") * 100
        assert "killed captures or imports" in (report.sweep_line() or "")
        assert not left.exists() and (live / "0456.warc.gz").exists()
    assert not live.exists()
    # a finished import (its WARCs spooled in such a folder) leaves none behind
    page = tmp_path / "storm.html"
    page.write_bytes(b"<html><head><title>Storm</title></head><body>Closed.</body></html>")
    arc.init()
    arc.ingest([page], url="https://news.example/storm", content_type="text/html")
    wacz = tmp_path / "storm.wacz"
    wacz.write_bytes(arc.export_wacz(arc.select_captures(everything=True)))
    (imported,) = arc.import_wacz(wacz)
    assert imported is not None
    assert not list(tmp.glob(IMPORT_PREFIX + "*"))
