"""RFC 3161 trusted timestamps of checkpoints (issue 16, FAULTS 47), against a real TSA:
OpenSSL's ``openssl ts -reply`` on loopback with test CAs made here (tests/tsaserver.py).

Tokens are requested, stored in the database and beside the note, carried in bundles
and verified against roots the user gives; a token under another root is refused
(exit 5); a TSA that hangs, answers garbage or is down is recorded and the checkpoint
is still signed."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from archfixtures import make_settings
from dagster import materialize
from pipelinekit import deployment_env
from sqlalchemy import update
from tsaserver import TsaCA, TsaServer, make_tsa_ca

from archive.api import Archive
from archive.cli import main
from archive.core.config import Settings
from archive.errors import ConfigError
from archive.ledger.db import run_write
from archive.ledger.tables import checkpoint_timestamps
from archive.proof import checkpoint as cp
from archive.proof import notes
from archive.proof.logtree import latest_checkpoint
from archive.proof.timestamps import load_roots, verify_token
from pipelines.assets import custody_checkpoint
from pipelines.resources import resources_from_env

ARTICLE = b"<html><head><title>Storm</title></head><body><p>The harbour closed.</p></body></html>"


@pytest.fixture(scope="module")
def ca_a(tmp_path_factory: pytest.TempPathFactory) -> TsaCA:
    return make_tsa_ca(tmp_path_factory.mktemp("tsa-a"), "Alpha")


@pytest.fixture(scope="module")
def ca_b(tmp_path_factory: pytest.TempPathFactory) -> TsaCA:
    return make_tsa_ca(tmp_path_factory.mktemp("tsa-b"), "Beta")


@pytest.fixture(scope="module")
def tsa(ca_a: TsaCA) -> Iterator[TsaServer]:
    server = TsaServer(ca_a)
    yield server
    server.close()


@pytest.fixture(scope="module")
def tsa_b(ca_b: TsaCA) -> Iterator[TsaServer]:
    server = TsaServer(ca_b)
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setenv(monkeypatch: pytest.MonkeyPatch, home: Path, urls: list[str],
            deadline: str = "3") -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(home))
    monkeypatch.delenv("ARCHIVE_DATABASE_URL", raising=False)
    monkeypatch.setenv("ARCHIVE_LOG_ORIGIN", "archive.test/custody")
    monkeypatch.setenv("ARCHIVE_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("ARCHIVE_TSA_URLS", ",".join(urls))
    monkeypatch.setenv("ARCHIVE_TSA_DEADLINE", deadline)
    monkeypatch.delenv("ARCHIVE_TSA_ROOTS", raising=False)
    monkeypatch.delenv("ARCHIVE_TRUSTED_KEYS", raising=False)


def _archive(home: Path) -> Archive:
    """An archive (from the environment _setenv made) with one ingested page and a key."""
    arc = Archive.open(Settings.from_env())
    page = home.parent / "storm.html"
    page.write_bytes(ARTICLE)
    arc.ingest([page], url="https://news.example/storm", content_type="text/html")
    arc.init()
    return arc


@pytest.fixture
def stamped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tsa: TsaServer,
            capsys: Any) -> Iterator[tuple[Archive, Path]]:
    """`archive checkpoint` with one real TSA configured; yields the archive and home."""
    home = tmp_path / "home"
    _setenv(monkeypatch, home, [tsa.url()])
    arc = _archive(home)
    try:
        assert main(["checkpoint"]) == 0
        yield arc, home
    finally:
        arc.close()


def _openssl_verify(note: Path, tsr: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "ts", "-verify", "-data", str(note), "-in", str(tsr),
                           "-CAfile", str(root)], capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------------ requesting

def test_checkpoint_gets_a_token_stored_with_it_and_beside_its_note(
        stamped: tuple[Archive, Path], tsa: TsaServer, ca_a: TsaCA, ca_b: TsaCA,
        capsys: Any) -> None:
    arc, home = stamped
    out = capsys.readouterr().out
    ckpt = latest_checkpoint(arc.engine)
    assert ckpt is not None
    (stamp,) = ckpt.timestamps
    assert stamp.ok and stamp.tsa == tsa.url() and stamp.error is None
    assert stamp.gen_time is not None and stamp.gen_time.endswith("Z")
    assert (f"timestamp from {tsa.url()}: authority time {stamp.gen_time}, serial "
            f"{stamp.serial}") in out
    assert out.startswith(ckpt.note.rstrip())  # the note first, as before

    # The query the TSA received: SHA-256 over the note bytes exactly as signed.
    assert hashlib.sha256(ckpt.note.encode()).digest() in tsa.queries[-1]

    # The note file is still exactly the signed note; the token sits beside it, DER.
    note_path = home / "checkpoints" / notes.note_filename(ckpt.size, ckpt.note)
    assert note_path.read_bytes() == ckpt.note.encode("utf-8")
    tsr = home / "checkpoints" / notes.token_filename(ckpt.size, ckpt.note, stamp.response or b"")
    assert tsr.read_bytes() == stamp.response
    # ... and OpenSSL itself checks the pair with no code of ours.
    good = _openssl_verify(note_path, tsr, ca_a.root)
    assert good.returncode == 0 and "Verification: OK" in good.stdout, good
    assert _openssl_verify(note_path, tsr, ca_b.root).returncode != 0

    assert [p for p in arc.verify().problems if p.kind == "checkpoint"] == []


def test_a_token_stored_but_not_filed_is_filed_by_reconcile_and_beside_a_new_mirror(
        stamped: tuple[Archive, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        ca_a: TsaCA, capsys: Any) -> None:
    """A crash after the token's row commits, before its file is written, loses nothing:
    reconcile (and so verify) files it, exactly as stored; a mirror directory added later
    gets every note and token; a row that no longer holds a token over its note is never
    published."""
    arc, home = stamped
    capsys.readouterr()
    ckpt = latest_checkpoint(arc.engine)
    assert ckpt is not None and ckpt.timestamps[0].response is not None
    response = ckpt.timestamps[0].response
    tsr = home / "checkpoints" / notes.token_filename(ckpt.size, ckpt.note, response)
    note = home / "checkpoints" / notes.note_filename(ckpt.size, ckpt.note)
    tsr.unlink()  # as if the process died after storing the token, before filing it
    assert [p for p in arc.verify().problems if p.kind == "checkpoint"] == []

    assert main(["reconcile"]) == 0
    assert (f"FILED {tsr}: a checkpoint's timestamp token, not written out before"
            in capsys.readouterr().out)
    assert tsr.read_bytes() == response
    assert _openssl_verify(note, tsr, ca_a.root).returncode == 0

    mirror = tmp_path / "mirror"
    monkeypatch.setenv("ARCHIVE_CHECKPOINT_MIRROR", str(mirror))
    assert main(["reconcile"]) == 0
    assert capsys.readouterr().out.count("FILED") == 2
    assert sorted(p.name for p in mirror.iterdir()) == sorted([note.name, tsr.name])
    assert (mirror / tsr.name).read_bytes() == response

    tsr.unlink()
    run_write(arc.engine, lambda c: c.execute(
        update(checkpoint_timestamps).values(response=b"not a token")))
    assert main(["reconcile"]) == 0
    assert "FILED" not in capsys.readouterr().out and not tsr.exists()
    assert any("timestamp token" in p.message for p in arc.verify().problems
               if p.kind == "checkpoint")


def test_a_removed_token_file_is_reported_not_filed_again(
        stamped: tuple[Archive, Path], capsys: Any) -> None:
    """As for a note: a token missing while a later one is filed was removed, not left
    by a crash, so reconcile does not quietly write it again and verify names it."""
    arc, home = stamped
    first = latest_checkpoint(arc.engine)
    assert first is not None and first.timestamps[0].response is not None
    other = home.parent / "other.html"
    other.write_bytes(ARTICLE.replace(b"Storm", b"Calm"))
    arc.ingest([other], url="https://news.example/calm", content_type="text/html")
    assert main(["checkpoint"]) == 0  # a second checkpoint and token, filed
    capsys.readouterr()
    tsr = home / "checkpoints" / notes.token_filename(first.size, first.note,
                                                      first.timestamps[0].response)
    tsr.unlink()

    assert main(["reconcile"]) == 0
    assert "FILED" not in capsys.readouterr().out and not tsr.exists()
    problems = [p.message for p in arc.verify().problems if p.kind == "checkpoint"]
    assert problems == [f"checkpoint {first.id} (size {first.size}) has no timestamp token "
                        f"file {tsr.name} in {home / 'checkpoints'}, though later tokens do: "
                        "the file was removed"]


def test_a_tsa_that_hangs_answers_garbage_or_is_down_is_recorded_and_the_checkpoint_signed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tsa: TsaServer, capsys: Any) -> None:
    """FAULTS 47: each failure recorded with its TSA and reason; the deadline holds."""
    home = tmp_path / "home"
    down = f"http://127.0.0.1:{_closed_port()}/tsa"
    urls = [tsa.url("/hang"), tsa.url("/garbage"), down, tsa.url("/huge"), tsa.url()]
    _setenv(monkeypatch, home, urls, deadline="1.5")
    arc = _archive(home)
    try:
        assert main(["checkpoint", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        ckpt = latest_checkpoint(arc.engine)
        assert ckpt is not None
        cp.parse_and_verify(ckpt.note, arc.identity().public_key, arc.origin)  # signed
        by_url = {t["tsa"]: t for t in doc["timestamps"]}
        assert [t["tsa"] for t in doc["timestamps"]] == urls
        assert "within the 1.5 s deadline" in by_url[tsa.url("/hang")]["error"]
        assert "not an RFC 3161 TimeStampResp" in by_url[tsa.url("/garbage")]["error"]
        assert "could not connect" in by_url[down]["error"]
        assert "the answer is over 262144 bytes" in by_url[tsa.url("/huge")]["error"]
        assert "error" not in by_url[tsa.url()] and by_url[tsa.url()]["gen_time"]
        # stored the same way, failures included
        assert [(t.tsa, t.ok) for t in ckpt.timestamps] == [
            (urls[0], False), (urls[1], False), (urls[2], False), (urls[3], False),
            (urls[4], True)]
        assert len(list((home / "checkpoints").glob("*.tsr"))) == 1
        assert [p for p in arc.verify().problems if p.kind == "checkpoint"] == []
    finally:
        arc.close()


def test_the_ssrf_guard_applies_to_tsa_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            tsa: TsaServer, capsys: Any) -> None:
    home = tmp_path / "home"
    _setenv(monkeypatch, home, [tsa.url()])
    monkeypatch.setenv("ARCHIVE_ALLOW_PRIVATE_NETWORKS", "0")
    arc = _archive(home)
    try:
        before = len(tsa.queries)
        assert main(["checkpoint"]) == 0
        assert "FAILED (refused" in capsys.readouterr().out
        assert len(tsa.queries) == before  # never connected
        ckpt = latest_checkpoint(arc.engine)
        assert ckpt is not None and not ckpt.timestamps[0].ok
    finally:
        arc.close()


def test_tokens_round_trip_on_both_databases(db_url: str, tmp_path: Path, tsa: TsaServer,
                                             ca_a: TsaCA) -> None:
    """The DER token comes back byte for byte from SQLite and PostgreSQL (bytea)."""
    settings = replace(make_settings(tmp_path / "home", db_url, allow_private_networks=True),
                       tsa_urls=(tsa.url(), tsa.url("/garbage")), tsa_deadline=3.0)
    with Archive.open(settings) as arc:
        arc.init()
        made = arc.checkpoint(create_key=False)
        stored = latest_checkpoint(arc.engine)
        assert stored is not None and stored.timestamps == made.timestamps
        good, bad = stored.timestamps
        assert good.response is not None and bad.error is not None
        facts = verify_token(good.response, stored.note,
                             load_roots(ca_a.root.read_bytes(), "root"))
        assert (facts.gen_time, facts.serial) == (good.gen_time, good.serial)
        assert [p for p in arc.verify().problems if p.kind == "checkpoint"] == []


def test_tsa_settings_are_checked() -> None:
    s = Settings.from_env({"ARCHIVE_TSA_URLS": " https://a.example/tsa, http://b.example ,"
                                               "https://a.example/tsa"})
    assert s.tsa_urls == ("https://a.example/tsa", "http://b.example")
    assert Settings.from_env({}).tsa_urls == () and Settings.from_env({}).tsa_deadline == 10
    with pytest.raises(ConfigError, match="ARCHIVE_TSA_URLS"):
        Settings.from_env({"ARCHIVE_TSA_URLS": "ftp://tsa.example"})
    with pytest.raises(ConfigError, match="ARCHIVE_TSA_DEADLINE"):
        Settings.from_env({"ARCHIVE_TSA_DEADLINE": "0"})


# ------------------------------------------------------------------------- verifying



def _bundle_file(arc: Archive, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    capture_id = next(r.capture_id for r in arc.list_captures()
                      if r.url == "https://news.example/storm")
    data = arc.bundle(capture_id, create_key=False)
    path = tmp_path / "b.json"
    path.write_bytes(data)
    return path, json.loads(data)


def test_bundle_carries_the_token_and_verify_bundle_checks_it_against_given_roots(
        stamped: tuple[Archive, Path], tsa: TsaServer, ca_a: TsaCA, ca_b: TsaCA, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    arc, _ = stamped
    capsys.readouterr()
    path, doc = _bundle_file(arc, tmp_path)
    ckpt = latest_checkpoint(arc.engine)
    assert ckpt is not None and doc["checkpoint"] == ckpt.note  # no new checkpoint needed
    (stamp,) = ckpt.timestamps
    assert doc["timestamps"] == [{"tsa": tsa.url(),
                                  "response": base64.b64encode(stamp.response or b"").decode()}]
    key = arc.identity().fingerprint

    assert main(["verify-bundle", str(path), "--key", key, "--tsa-root", str(ca_a.root)]) == 0
    out = capsys.readouterr().out
    assert f"OK   timestamp [0] ({tsa.url()}): authority time {stamp.gen_time}" in out

    # another authority's root: refused, exit 5, the token named
    assert main(["verify-bundle", str(path), "--key", key, "--tsa-root", str(ca_b.root)]) == 5
    out = capsys.readouterr().out
    assert f"FAIL timestamp [0] ({tsa.url()}): the token does not verify against the TSA " \
           "roots given" in out
    # both roots given: one of them is the signer's
    assert main(["verify-bundle", str(path), "--key", key, "--tsa-root", str(ca_b.root),
                 "--tsa-root", str(ca_a.root)]) == 0
    capsys.readouterr()

    # ARCHIVE_TSA_ROOTS stands in for --tsa-root
    monkeypatch.setenv("ARCHIVE_TSA_ROOTS", str(ca_b.root))
    assert main(["verify-bundle", str(path), "--key", key]) == 5
    capsys.readouterr()
    monkeypatch.delenv("ARCHIVE_TSA_ROOTS")

    # no roots: reported unchecked, not failed (and not passed)
    assert main(["verify-bundle", str(path), "--key", key, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (check,) = [c for c in report["checks"] if c["check"].startswith("timestamp")]
    assert check["status"] == "warn" and "NOT CHECKED" in check["message"]

    # a root file that is no PEM: a settings error (2), not a verdict
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    assert main(["verify-bundle", str(path), "--key", key, "--tsa-root", str(bad)]) == 2
    capsys.readouterr()


def test_wacz_carries_the_tokens_beside_its_checkpoint_and_verify_wacz_checks_them(
        stamped: tuple[Archive, Path], ca_a: TsaCA, ca_b: TsaCA, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from archive.proof import wacz_format as wf
    from archive.proof.wacz_verify import read_entries

    arc, _ = stamped
    capsys.readouterr()
    ckpt = latest_checkpoint(arc.engine)
    assert ckpt is not None
    (stamp,) = ckpt.timestamps
    out = tmp_path / "stamped.wacz"
    assert main(["export", "--all", "--wacz", str(out)]) == 0
    files = read_entries(out.read_bytes())
    note_name = notes.note_filename(ckpt.size, ckpt.note)
    tsr_name = notes.token_filename(ckpt.size, ckpt.note, stamp.response or b"")
    assert files[wf.CHECKPOINTS + note_name] == ckpt.note.encode()
    assert files[wf.CHECKPOINTS + tsr_name] == stamp.response  # as the authority sent it
    listed = {r["path"]: r for r in json.loads(files[wf.DATAPACKAGE])["resources"]}
    assert listed[wf.CHECKPOINTS + tsr_name]["hash"] == \
        "sha256:" + hashlib.sha256(stamp.response or b"").hexdigest()
    # unzipped, the pair checks out with OpenSSL alone
    (tmp_path / note_name).write_bytes(files[wf.CHECKPOINTS + note_name])
    (tmp_path / tsr_name).write_bytes(files[wf.CHECKPOINTS + tsr_name])
    assert _openssl_verify(tmp_path / note_name, tmp_path / tsr_name,
                           ca_a.root).returncode == 0
    key = arc.identity().fingerprint
    capsys.readouterr()

    assert main(["verify-wacz", str(out), "--key", key, "--tsa-root", str(ca_a.root)]) == 0
    text = capsys.readouterr().out
    assert f"OK   {wf.CHECKPOINTS}{tsr_name}: authority time {stamp.gen_time}" in text
    # another authority's root: the WACZ's token and its bundle's copy both refused
    assert main(["verify-wacz", str(out), "--key", key, "--tsa-root", str(ca_b.root)]) == 5
    text = capsys.readouterr().out
    assert f"FAIL {wf.CHECKPOINTS}{tsr_name}: the token does not verify against the TSA " \
           "roots given" in text
    assert "FAIL bundle proofs/" in text and "timestamp [0]" in text
    # ARCHIVE_TSA_ROOTS stands in for --tsa-root
    monkeypatch.setenv("ARCHIVE_TSA_ROOTS", str(ca_b.root))
    assert main(["verify-wacz", str(out), "--key", key]) == 5
    monkeypatch.setenv("ARCHIVE_TSA_ROOTS", str(ca_a.root))
    assert main(["verify-wacz", str(out), "--key", key]) == 0
    monkeypatch.delenv("ARCHIVE_TSA_ROOTS")
    capsys.readouterr()
    # no roots: reported unchecked, not failed (and not passed)
    assert main(["verify-wacz", str(out), "--key", key, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (check,) = [c for c in report["checks"] if c["check"].endswith(".tsr")]
    assert check["status"] == "warn" and "NOT CHECKED" in check["message"]
    # a token that is not its checkpoint's (another note's name) fails, even re-signed
    wrong = dict(files)
    other = notes.token_filename(ckpt.size + 1, ckpt.note, stamp.response or b"")
    wrong[wf.CHECKPOINTS + other] = wrong.pop(wf.CHECKPOINTS + tsr_name)
    from archive.proof.wacz_verify import verify_wacz
    report_wrong = verify_wacz(wf.write_zip(wrong), trusted_key=key,
                               tsa_roots=load_roots(ca_a.root.read_bytes(), "root"))
    assert any(c.name == wf.CHECKPOINTS + other and "no checkpoint" in c.message
               for c in report_wrong.failures), report_wrong.checks


def test_a_token_over_another_note_fails_in_the_bundle_and_in_verify(
        stamped: tuple[Archive, Path], tsa: TsaServer, ca_a: TsaCA, tmp_path: Path,
        capsys: Any) -> None:
    arc, home = stamped
    first = latest_checkpoint(arc.engine)
    assert first is not None
    other = home.parent / "other.html"
    other.write_bytes(ARTICLE.replace(b"Storm", b"Calm"))
    arc.ingest([other], url="https://news.example/calm", content_type="text/html")
    assert main(["checkpoint"]) == 0  # a second checkpoint (a larger log), its own token
    second = latest_checkpoint(arc.engine)
    assert second is not None and second.id != first.id
    path, doc = _bundle_file(arc, tmp_path)
    # the first checkpoint's (genuine) token put into the second's bundle
    doc["timestamps"][0]["response"] = base64.b64encode(
        first.timestamps[0].response or b"").decode()
    path.write_text(json.dumps(doc))
    key = arc.identity().fingerprint
    assert main(["verify-bundle", str(path), "--key", key, "--tsa-root", str(ca_a.root)]) == 5
    assert "not over this checkpoint note" in capsys.readouterr().out

    # the same swap in the database: archive verify names the checkpoint
    run_write(arc.engine, lambda conn: conn.execute(
        update(checkpoint_timestamps).where(checkpoint_timestamps.c.checkpoint_id == second.id)
        .values(response=first.timestamps[0].response)))
    problems = [p.message for p in arc.verify().problems if p.kind == "checkpoint"]
    assert any(f"checkpoint {second.id}: the timestamp token from {tsa.url()}" in m
               and "not over this checkpoint note" in m for m in problems), problems
    # and the token file beside the second note is no longer one the database holds
    assert any(".tsr is not stored with checkpoint" in m for m in problems), problems

    # a token file whose bytes changed is named as such
    (tsr,) = (home / "checkpoints").glob(
        notes.note_filename(first.size, first.note).removesuffix(".note") + ".*.tsr")
    tsr.chmod(0o644)
    tsr.write_bytes(tsr.read_bytes()[:-1] + b"\x00")
    problems = [p.message for p in arc.verify().problems if p.kind == "checkpoint"]
    assert any(f"timestamp token {tsr}: its content is not the token its name commits to"
               in m for m in problems), problems


def test_custody_checkpoint_asset_shows_the_tokens(
        tmp_path: Path, tsa: TsaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources: []\n")
    down = f"http://127.0.0.1:{_closed_port()}/tsa"
    env = deployment_env(tmp_path / "home", sources, ARCHIVE_TSA_URLS=f"{tsa.url()},{down}",
                         ARCHIVE_TSA_DEADLINE="3")
    result = materialize([custody_checkpoint], resources=resources_from_env(env))
    assert result.success
    (mat,) = result.asset_materializations_for_node("custody_checkpoint")
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    assert meta["timestamps_granted"] == 1 and meta["timestamps_failed"] == 1
    with Archive.open(Settings.from_env(env)) as arc:
        ckpt = latest_checkpoint(arc.engine)
    assert ckpt is not None
    good = ckpt.timestamps[0]
    assert f"| {tsa.url()} | {good.gen_time} | {good.serial} |" in meta["timestamps"]
    assert f"| {down} | failed: could not connect" in meta["timestamps"]


