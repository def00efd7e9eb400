"""The one store interface, on both stores (local folder and S3 object store): durable
before recorded, held until committed, range reads, and a writer killed between its
upload and its commit leaves a file that reconcile adopts or quarantines (FAULTS 16, 17)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storefixtures import store_env
from test_reconcile import assert_invariants

from archive.api import Archive
from archive.core.config import Settings
from archive.core.hashing import sha256_bytes, sha256_stream
from archive.warc.store import OPEN_SUFFIX

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def local_warcs(settings: Settings) -> list[Path]:
    """WARC bytes left in the staging folder (where an object store's writes start)."""
    return [p for p in settings.staging_dir.rglob("*") if p.is_file()
            and p.name.endswith((".warc.gz", OPEN_SUFFIX))]


def test_a_file_is_durable_and_held_until_released(store_settings: Callable[..., Settings]
                                                   ) -> None:
    settings = store_settings()
    with Archive.open(settings) as arc:
        store = arc.store
        body = bytes(range(256)) * 400
        with store.new_file(NOW, "host") as f:
            f.write(body)
            (pending,) = list(store.iter_files())  # the write in progress, by its .open name
            assert pending.endswith(OPEN_SUFFIX) and store.in_use(pending)
        stored = f.stored
        assert stored is not None and stored.relpath.startswith("2026/01/02/")
        assert stored.sha256 == sha256_bytes(body) and stored.size == len(body)
        assert list(store.iter_files()) == [stored.relpath]
        assert store.exists(stored.relpath) and store.size(stored.relpath) == len(body)
        with store.open(stored.relpath) as fh:
            assert sha256_stream(fh) == (stored.sha256, len(body))
        assert local_warcs(settings) == []  # on S3 the staging file is gone once stored
        assert store.in_use(stored.relpath)  # until the writer's commit
        with store.claim(stored.relpath) as claimed:
            assert claimed is False
        store.release(stored.relpath)
        if settings.store_url:  # an object store also waits out its grace period (for
            store.grace = timedelta(0)  # writers on other machines): see test_s3store.py
        assert not store.in_use(stored.relpath)


def test_range_reads_and_seeks_return_the_stored_bytes(store_settings: Callable[..., Settings]
                                                       ) -> None:
    with Archive.open(store_settings()) as arc:
        body = b"".join(i.to_bytes(4, "big") for i in range(300_000))  # 1.2 MB
        with arc.store.new_file(NOW, "host") as f:
            f.write(body)
        rel = f.stored.relpath  # type: ignore[union-attr]
        arc.store.release(rel)
        assert arc.store.read_range(rel, 4000, 12) == body[4000:4012]
        assert arc.store.read_range(rel, len(body) - 3, 10) == body[-3:]  # short at the end
        assert arc.store.read_range(rel, len(body) + 5, 10) == b""
        with arc.store.open(rel) as fh:
            fh.seek(1_100_000)
            assert fh.read(8) == body[1_100_000:1_100_008]
            fh.seek(10)
            assert fh.read(4) == body[10:14] and fh.tell() == 14
            assert fh.read() == body[14:]


def test_a_missing_file_reads_as_missing(store_settings: Callable[..., Settings]) -> None:
    with Archive.open(store_settings()) as arc:
        rel = "2026/01/02/nothing.warc.gz"
        assert not arc.store.exists(rel)
        with pytest.raises(FileNotFoundError):
            arc.store.read_range(rel, 0, 10)
        with pytest.raises(FileNotFoundError), arc.store.open(rel) as fh:
            fh.read()


# --------------------------------------------------------------------------- crashes

WRITE_THEN_WAIT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from archive.api import Archive
    from archive.core.config import Settings
    arc = Archive.open(Settings.from_env())
    doc = Path(sys.argv[1])
    doc.write_bytes(b"a document stored, never committed\\n" * 50)
    prepared = arc.recorder.prepare_document(doc.read_bytes(), name=doc.name, url=None,
                                             content_type=None, agent=arc.agent())
    if sys.argv[2] == "stored":  # the file is stored (uploaded); the commit never comes
        stored, _, _ = arc.recorder.write_file([prepared], arc.agent())
        print(stored.relpath, flush=True)
    else:  # killed mid-write: half a file in .open (on S3, the staging file)
        with arc.store.new_file(arc.clock(), "host") as out:
            out.write(b"WARC/1.1\\r\\n" + b"half a record" * 200_000)  # past the buffer
            print("writing", flush=True)
            time.sleep(600)
    time.sleep(600)
""")


def _kill_after(settings: Settings, tmp_path: Path, stage: str) -> str:
    """Run a writer to ``stage``, SIGKILL it there, return what it printed."""
    with subprocess.Popen([sys.executable, "-c", WRITE_THEN_WAIT, str(tmp_path / "doc.txt"),
                           stage], env=store_env(settings), stdout=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    assert line, "the writer died before reaching its stage"
    return line


def test_killed_between_upload_and_commit_the_file_is_adopted(
        store_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = store_settings()
    with Archive.open(settings):
        pass  # the database exists before the writer starts
    rel = _kill_after(settings, tmp_path, "stored")
    with Archive.open(settings) as arc:
        assert arc.store.exists(rel) and local_warcs(settings) == []
        assert not arc.verify(None).ok  # an untracked file is reported
        report = arc.reconcile()
        assert [a["path"] for a in report.adopted] == [rel] and not report.quarantined
        (cid,) = report.adopted[0]["captures"]
        (shown,) = arc.show(cid)
        assert shown.events[0].detail["recovered"] is True
        assert arc.verify(None, deep=True).ok
        assert_invariants(arc)
        assert not arc.reconcile().changed  # a second run changes nothing


def test_killed_mid_write_the_partial_file_is_quarantined_never_deleted(
        store_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = store_settings()
    with Archive.open(settings):
        pass
    _kill_after(settings, tmp_path, "partial")
    with Archive.open(settings) as arc:
        (left,) = list(arc.store.iter_files())
        assert left.endswith(OPEN_SUFFIX) and not arc.store.in_use(left)
        with arc.store.open(left) as fh:
            partial = fh.read()
        report = arc.reconcile()
        assert not report.adopted and len(report.quarantined) == 1
        q = report.quarantined[0]
        assert q["path"] == left and q["sha256"] == sha256_bytes(partial)
        assert list(arc.store.iter_files()) == [] and local_warcs(settings) == []
        assert quarantined_bytes(arc, q["quarantined_as"]) == partial  # moved intact
        assert_invariants(arc)
        assert not arc.reconcile().changed


def quarantined_bytes(arc: Archive, name: str) -> bytes:
    if arc.settings.store_url is None:
        return (arc.settings.quarantine_dir / name).read_bytes()
    store = arc.store
    got = store.client.get_object(Bucket=store.bucket,  # type: ignore[attr-defined]
                                  Key=store.quarantine_key(name))  # type: ignore[attr-defined]
    return bytes(got["Body"].read())
