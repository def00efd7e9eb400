"""WACZ export, import and offline verification (issue 16, FAULTS 39 and 48): a selection
validated by the ecosystem's own validator (py-wacz `wacz validate`, a test-only tool in
.venv-pywacz made by scripts/ensure-pywacz, run as a process and never imported),
byte-reproducible exports, a round trip into a fresh archive with the same content
hashes, and every kind of tampering refused with the file's name."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from archfixtures import make_settings
from helpers import require
from servers import TestServer

from archive.api import Archive
from archive.capture.results import CaptureResult
from archive.cli import main
from archive.core.timeutil import parse_iso
from archive.proof import wacz_format as wf
from archive.proof.wacz_verify import read_entries, verify_wacz

ROOT = Path(__file__).resolve().parents[1]
PYWACZ = Path(os.environ.get("ARCHIVE_PYWACZ_BIN") or ROOT / ".venv-pywacz" / "bin") / "wacz"


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, server: TestServer
           ) -> Iterator[dict[str, Any]]:
    """An archive (SQLite) with two captures of /article (the second a revisit), one of
    /gzip and one of /chunked, metadata extracted."""
    home = tmp_path_factory.mktemp("wacz-source")
    arc = Archive.open(make_settings(home, None, allow_private_networks=True))
    try:
        arc.init()
        first, = arc.capture([server.url("/article")])
        again, = arc.capture([server.url("/article")])
        gz, = arc.capture([server.url("/gzip")])
        chunked, = arc.capture([server.url("/chunked")])
        assert isinstance(first, CaptureResult) and isinstance(again, CaptureResult)
        assert isinstance(gz, CaptureResult) and isinstance(chunked, CaptureResult)
        assert again.status == "revisit"
        arc.extract_metadata_many([first.capture_id, gz.capture_id, chunked.capture_id])
        yield {"arc": arc, "home": home, "first": first, "again": again, "gz": gz,
               "chunked": chunked, "fingerprint": arc.identity().fingerprint,
               "article_url": server.url("/article")}
    finally:
        arc.close()


def _env(monkeypatch: pytest.MonkeyPatch, arc: Archive) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    monkeypatch.setenv("ARCHIVE_LOG_ORIGIN", arc.origin)
    monkeypatch.delenv("ARCHIVE_TRUSTED_KEYS", raising=False)


@pytest.fixture(scope="module")
def article_wacz(source: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every capture of /article, exported through the CLI's selection."""
    arc = source["arc"]
    ids = arc.select_captures(url=source["article_url"])
    out = tmp_path_factory.mktemp("wacz-out") / "article.wacz"
    out.write_bytes(arc.export_wacz(ids))
    return out


def _rezip(src: Path, dst: Path, change: Any) -> Path:
    files = read_entries(src.read_bytes())
    change(files)
    dst.write_bytes(wf.write_zip(files))
    return dst


# ========================================================================= export

def test_selection_holds_only_its_captures_and_validates_with_pywacz(
        source: dict[str, Any], article_wacz: Path) -> None:
    first, again = source["first"], source["again"]
    files = read_entries(article_wacz.read_bytes())
    hexes = {c.capture_id.removeprefix("sha256:") for c in (first, again)}
    # the revisit's original is first itself, so exactly these two WARCs and bundles
    assert {p for p in files if p.startswith("archive/")} == {
        f"archive/{h}.warc.gz" for h in hexes}
    assert {p for p in files if p.startswith("proofs/")} == {
        f"proofs/{h}.bundle.json" for h in hexes}
    assert any(p.startswith("checkpoints/") for p in files)
    other = source["gz"].capture_id.removeprefix("sha256:")
    assert all(other not in p for p in files)
    assert other.encode() not in files[wf.INDEX]
    # WARC entries are stored, not compressed (WACZ 1.1.1)
    import zipfile
    with zipfile.ZipFile(article_wacz) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
    # pages: URL, capture time and the stored title; provenance records index apart
    pages = [json.loads(line) for line in files[wf.PAGES].decode().splitlines()]
    assert pages[0]["format"] == "json-pages-1.0"
    assert [p["id"] for p in pages[1:]] == [first.capture_id[7:], again.capture_id[7:]]
    assert pages[1]["url"] == source["article_url"]
    assert pages[1]["title"] == "Storm closes the harbour for a second day"
    lines = files[wf.INDEX].decode().splitlines()
    assert lines == sorted(lines)
    page_lines = [ln for ln in lines if ln.startswith(wf.surt(source["article_url"]) + " ")]
    assert {json.loads(ln.split(" ", 2)[2])["recordType"] for ln in page_lines} == {
        "response", "revisit"}
    assert any(ln.startswith("urn:provenance-archive:provenance:") for ln in lines)
    # the ecosystem's validator
    if not PYWACZ.exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-pywacz")], check=False)
    require(None if PYWACZ.exists() else
            f"no py-wacz at {PYWACZ} and scripts/ensure-pywacz could not install it "
            "(see /tmp/ensure-pywacz.log)")
    done = subprocess.run([str(PYWACZ), "validate", "-f", str(article_wacz)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the passed WACZ is valid" in done.stdout


def test_export_is_reproducible(source: dict[str, Any], article_wacz: Path) -> None:
    arc = source["arc"]
    ids = arc.select_captures(url=source["article_url"])
    assert arc.export_wacz(ids) == article_wacz.read_bytes()
    assert arc.export_wacz(list(reversed(ids))) == article_wacz.read_bytes()


def test_selection_by_hash_time_and_all(source: dict[str, Any]) -> None:
    arc = source["arc"]
    first, again, gz, chunked = (source[k] for k in ("first", "again", "gz", "chunked"))
    everything = sorted(c.capture_id for c in (first, again, gz, chunked))
    assert arc.select_captures(everything=True) == everything
    assert arc.select_captures([gz.capture_id[:16]]) == [gz.capture_id]
    assert arc.select_captures(since=parse_iso(gz.started_at)) == sorted(
        [gz.capture_id, chunked.capture_id])
    assert arc.select_captures(everything=True, until=parse_iso(gz.started_at)) == sorted(
        [first.capture_id, again.capture_id])
    with pytest.raises(Exception, match="say what to export"):
        arc.select_captures()


# ===================================================================== round trip

def test_round_trip_into_a_fresh_archive_keeps_content_hashes(
        source: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    arc = source["arc"]
    ids = arc.select_captures(everything=True)
    out = tmp_path / "all.wacz"
    _env(monkeypatch, arc)
    assert main(["export", "--all", "--wacz", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["captures"] == ids
    expected = sorted({arc.show(c)[0].content_hash for c in ids})
    with Archive.open(make_settings(tmp_path / "fresh", None)) as fresh:
        _env(monkeypatch, fresh)
        assert main(["import", str(out), "--json"]) == 0
        imported = fresh.list_captures()
        assert sorted({c.content_hash for c in imported}) == expected
        assert {c.url for c in imported} == {arc.show(c)[0].url for c in ids}
        # importing the same WACZ again changes nothing
        assert main(["import", str(out)]) == 0
        assert len(fresh.list_captures()) == len(imported)


# ===================================================== tampering and verify-wacz

def _flip_warc_byte(files: dict[str, bytes]) -> None:
    name = sorted(p for p in files if p.startswith("archive/"))[0]
    body = bytearray(files[name])
    body[len(body) // 2] ^= 0x01
    files[name] = bytes(body)


def _drop_pages(files: dict[str, bytes]) -> None:
    del files[wf.PAGES]


def _wrong_digest(files: dict[str, bytes]) -> None:
    doc = json.loads(files[wf.DIGEST])
    doc["hash"] = "sha256:" + "0" * 64
    files[wf.DIGEST] = json.dumps(doc).encode()


def _bad_signature(files: dict[str, bytes]) -> None:
    doc = json.loads(files[wf.DIGEST])
    raw = bytearray(base64.b64decode(doc["signedData"]["signature"]))
    raw[5] ^= 0x01
    doc["signedData"]["signature"] = base64.b64encode(bytes(raw)).decode()
    files[wf.DIGEST] = json.dumps(doc).encode()


TAMPERING = [
    pytest.param(_flip_warc_byte, "archive/", id="flipped-byte"),
    pytest.param(_drop_pages, "pages/pages.jsonl is listed in datapackage.json but missing",
                 id="missing-file"),
    pytest.param(_wrong_digest, "datapackage-digest.json gives", id="wrong-datapackage-digest"),
    pytest.param(_bad_signature, "datapackage-digest.json: signedData.signature does not "
                                 "verify", id="bad-signature"),
]


@pytest.mark.parametrize(("tamper", "named"), TAMPERING)
def test_tampered_wacz_refused_by_import_and_verify(
        source: dict[str, Any], article_wacz: Path, tmp_path: Path, tamper: Any, named: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _rezip(article_wacz, tmp_path / "bad.wacz", tamper)
    with Archive.open(make_settings(tmp_path / "fresh", None)) as fresh:
        _env(monkeypatch, fresh)
        capsys.readouterr()
        assert main(["import", str(bad)]) == 5
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(bad) in err and named in err, err
        assert fresh.list_captures() == []  # nothing brought under custody
    assert main(["verify-wacz", str(bad), "--key", source["fingerprint"]]) == 5
    text = capsys.readouterr().out
    assert "FAILED" in text and named in text, text


def test_verify_wacz_exit_codes(source: dict[str, Any], article_wacz: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, source["arc"])
    assert main(["verify-wacz", str(article_wacz), "--key", source["fingerprint"]]) == 0
    assert "verified: all" in capsys.readouterr().out
    assert main(["verify-wacz", str(article_wacz)]) == 8  # no key the user trusts
    assert "NOT VERIFIED" in capsys.readouterr().out
    # another key than the package's is a mismatch, as with verify-bundle
    assert main(["verify-wacz", str(article_wacz), "--key", "sha256:" + "1" * 64]) == 5
    assert "is not the key you trust" in capsys.readouterr().out
    keys = tmp_path / "trusted"
    keys.write_text(source["fingerprint"] + "\n")
    monkeypatch.setenv("ARCHIVE_TRUSTED_KEYS", str(keys))
    assert main(["verify-wacz", str(article_wacz)]) == 0


def test_a_wacz_whose_warc_is_not_its_bundle_fails_even_when_repackaged(
        source: dict[str, Any], article_wacz: Path, tmp_path: Path) -> None:
    """Someone who alters a WARC and rewrites datapackage.json and its signature with a
    key of their own still fails: the WARC is not the bundled records, and the package
    key is not the one the archive's note names."""
    from cryptography.hazmat.primitives.asymmetric import ec

    files = read_entries(article_wacz.read_bytes())
    _flip_warc_byte(files)
    for name in (wf.DATAPACKAGE, wf.DIGEST):
        del files[name]
    dp = wf.datapackage(files, created="2026-01-01T00:00:00Z", title="x", software="x",
                        main_page=None)
    from archive.core.hashing import sha256_bytes
    signed = wf.signed_data(sha256_bytes(dp), ec.generate_private_key(ec.SECP256R1()),
                            created="2026-01-01T00:00:00Z", software="x")
    files[wf.DATAPACKAGE] = dp
    files[wf.DIGEST] = json.dumps({"path": wf.DATAPACKAGE, "hash": signed["hash"],
                                   "signedData": signed}).encode()
    report = verify_wacz(wf.write_zip(files), trusted_key=source["fingerprint"])
    assert not report.ok
    failed = {c.name for c in report.failures}
    assert any(n.startswith("archive/") for n in failed) or any(
        n.startswith("bundle ") for n in failed), failed
    assert "archive signature" in failed


def test_a_withdrawn_capture_is_marked_in_its_page(tmp_path: Path) -> None:
    from servers import ARTICLE

    with Archive.open(make_settings(tmp_path / "w", None)) as arc:
        arc.init()
        doc = tmp_path / "storm.html"
        doc.write_bytes(ARTICLE)
        _kept, gone = (arc.ingest([doc], url=u, content_type="text/html; charset=utf-8")[0]
                       for u in ("https://news.example/kept", "https://news.example/gone"))
        arc.delete(gone.capture_id, reason="court order", person="editor")
        data = arc.export_wacz(arc.select_captures(everything=True))
        assert verify_wacz(data, trusted_key=arc.identity().fingerprint).ok
    pages = {p["url"]: p for p in map(json.loads, read_entries(data)[wf.PAGES].splitlines())
             if "url" in p}
    assert "withdrawn" not in pages["https://news.example/kept"]
    assert "court order" in pages["https://news.example/gone"]["withdrawn"]
    assert "editor" in pages["https://news.example/gone"]["withdrawn"]
