"""Proof bundles: round trip on both databases, byte-identical output, tampering with
every part detected and named, and an independent verifier (hashlib, base64, json, zlib,
warcio, cryptography only) that agrees with `verify-bundle`."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from archfixtures import make_settings
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from jsonschema import Draft202012Validator
from servers import ARTICLE, TestServer
from sqlalchemy import text
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archive.api import Archive
from archive.cli import main
from archive.core.canonical import canonical_json
from archive.core.packagedata import load_schema
from archive.errors import ConfigError, IntegrityError, NotFoundError
from archive.proof import logtree
from archive.proof.bundle_format import SCHEMA_NAME, encode
from archive.proof.bundle_verify import verify_bundle
from archive.proof.checkpoint import vkey as make_vkey
from archive.proof.keys import fingerprint

ARTICLE_URL = "https://news.example/2026/11/20/storm"


# =============================================================== independent verifier
# Written from docs/verifying.md with hashlib, base64, json, zlib, warcio and
# cryptography only: nothing from archive/.

def _h(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _root_from_path(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.1 by its recursive definition: PATH(m, D[n]) is the path in the
    half holding m, followed by the root of the other half (so the last element is the
    top-level sibling)."""
    if n == 1:
        return leaf if not path and m == 0 else None
    if not path or m >= n:
        return None
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        sub = _root_from_path(leaf, m, k, path[:-1])
        return None if sub is None else _node(sub, path[-1])
    sub = _root_from_path(leaf, m - k, n - k, path[:-1])
    return None if sub is None else _node(path[-1], sub)


def independent_verify(data: bytes, trusted_fingerprint: str | None = None) -> list[str]:
    """Problems found, each starting with its area (key, checkpoint, event, custody,
    manifest, record, content); an empty list means the bundle verifies."""
    problems: list[str] = []
    doc = json.loads(data)
    # key: name+keyid+base64(0x01 || pub)
    name, key_id_hex, blob_b64 = doc["key"]["vkey"].split("+", 2)
    blob = base64.b64decode(blob_b64)
    pub = blob[1:]
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    if blob[0] != 1 or len(pub) != 32 or key_id.hex() != key_id_hex or name != doc["key"]["name"]:
        problems.append("key: malformed verifier key")
    if _h(pub) != doc["key"]["fingerprint"]:
        problems.append("key: fingerprint does not match the verifier key")
    if trusted_fingerprint is not None and _h(pub) != trusted_fingerprint:
        problems.append("key: not the trusted key")
    # checkpoint note
    note = doc["checkpoint"]
    cut = note.rfind("\n\n")
    body, sig_lines = note[:cut + 1], note[cut + 2:].splitlines()
    size, root = -1, b""
    signed = False
    for line in sig_lines:
        signer, sig_b64 = line.removeprefix("\u2014 ").split(" ")
        sig = base64.b64decode(sig_b64)
        if signer == name and sig[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(pub).verify(sig[4:], body.encode())
                signed = True
            except (InvalidSignature, ValueError):
                pass
            break
    if signed:
        _origin, size_text, root_b64 = body.split("\n")[:3]
        size, root = int(size_text), base64.b64decode(root_b64)
    else:
        problems.append("checkpoint: signature does not verify")
    # events
    prev_seq, prev_hash = None, None
    named: set[str] = set()
    for ev in doc["events"]:
        raw = ev["entry"].encode()
        entry = json.loads(raw)
        leaf = hashlib.sha256(b"\x00" + raw).digest()
        if _h(raw) != ev["hash"] or "sha256:" + leaf.hex() != ev["leaf_hash"]:
            problems.append(f"event: #{entry['seq']} entry does not hash as stated")
        if prev_seq is not None and entry["seq"] == prev_seq + 1 and entry["prev"] != prev_hash:
            problems.append(f"event: #{entry['seq']} prev link broken")
        path = [base64.b64decode(p) for p in ev["inclusion_proof"]]
        if signed and (entry["seq"] >= size
                       or _root_from_path(leaf, entry["seq"], size, path) != root):
            problems.append(f"event: #{entry['seq']} inclusion proof fails")
        if entry["type"] in ("capture", "ingestion"):
            named.update(entry["objects"])
        prev_seq, prev_hash = entry["seq"], _h(raw)
    for cap in doc["captures"]:
        if cap["capture_id"] not in named:
            problems.append(f"custody: no event names {cap['capture_id']}")
    # manifests, records, content
    if doc["capture_id"] != doc["captures"][0]["capture_id"]:
        problems.append("manifest: the bundle names another capture")
    contents: list[str | None] = []
    for cap in doc["captures"]:
        if _h(cap["manifest"].encode()) != cap["capture_id"]:
            problems.append("manifest: does not hash to the capture id")
        manifest = json.loads(cap["manifest"])
        if manifest["warc_file"] != cap["warc_file"]:
            problems.append("manifest: warc_file differs")
        content: str | None = None
        for r, m in zip(cap["records"], manifest["records"], strict=True):
            member = base64.b64decode(r["gzip_base64"])
            if _h(member) != r["sha256"] or r["record_id"] != m["record_id"]:
                problems.append(f"record: {r['record_id']} member changed")
            try:
                raw = zlib.decompress(member, 31)
            except zlib.error:
                problems.append(f"record: {r['record_id']} does not decompress")
                continue
            head, _, rest = raw.partition(b"\r\n\r\n")
            fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
            block = rest[:int(fields["Content-Length"])]
            if _h(block) != m["block_digest"] or fields["WARC-Block-Digest"] != m["block_digest"]:
                problems.append(f"record: {r['record_id']} block digest mismatch")
                continue
            try:
                rec = next(iter(ArchiveIterator(io.BytesIO(member), check_digests="raise")))
                body = rec.content_stream().read()  # dechunked, content-coding undone
            except ArchiveLoadFailed:
                problems.append(f"record: {r['record_id']} digest check failed (warcio)")
                continue
            if rec.rec_headers.get_header("WARC-Record-ID") != m["record_id"]:
                problems.append(f"record: {r['record_id']} id mismatch")
            if r["type"] in ("response", "resource"):
                content = _h(body)
            elif r["type"] == "revisit":
                content = "revisit"
        contents.append(content)
    for i, cap in enumerate(doc["captures"]):
        expected = json.loads(cap["manifest"])["content_hash"]
        got = contents[i]
        if got == "revisit":
            got = contents[1] if len(contents) > 1 else None
        if expected is not None and got != expected:
            problems.append(f"content: {cap['capture_id']} content hash differs")
    return problems


def _areas(problems: list[str]) -> set[str]:
    return {p.split(":")[0] for p in problems}


# ====================================================================== fixtures

def _ingest_article(arc: Archive, tmp_path: Path) -> Any:
    p = tmp_path / "storm.html"
    p.write_bytes(ARTICLE)
    (res,) = arc.ingest([p], url=ARTICLE_URL, content_type="text/html; charset=utf-8")
    return res


def _env(monkeypatch: pytest.MonkeyPatch, arc: Archive) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    monkeypatch.setenv("ARCHIVE_LOG_ORIGIN", arc.origin)


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, server: TestServer
            ) -> Iterator[dict[str, Any]]:
    """Good bundles built once on SQLite: an ingested document and an HTTP revisit
    (chunked + gzip) with its original."""
    home = tmp_path_factory.mktemp("bundles")
    arc = Archive.open(make_settings(home, None, allow_private_networks=True))
    try:
        arc.init()
        doc = _ingest_article(arc, home)
        first, = arc.capture([server.url("/chunked-gzip")])
        second, = arc.capture([server.url("/chunked-gzip")])
        assert second.status == "revisit" and second.revisit_of == first.capture_id
        yield {"document": arc.bundle(doc.capture_id), "revisit": arc.bundle(second.capture_id),
               "fingerprint": arc.identity().fingerprint, "arc": arc}
    finally:
        arc.close()


# ============================================================== round trip, both DBs

def test_round_trip_on_each_database(arc: Archive, tmp_path: Path) -> None:
    arc.init()
    res = _ingest_article(arc, tmp_path)
    data = arc.bundle(res.capture_id)
    report = verify_bundle(data, trusted_key=arc.identity().fingerprint)
    assert report.ok, [c.line() for c in report.checks]
    assert report.capture_id == res.capture_id
    assert {c.status for c in report.checks} == {"ok"}
    doc = json.loads(data)
    assert data == canonical_json(doc)  # the file is canonical JSON
    assert [json.loads(e["entry"])["type"] for e in doc["events"]] == [
        "ingestion", "message digest calculation"]
    assert independent_verify(data, arc.identity().fingerprint) == []
    # byte-identical on repeat, from either hash, and once more after a reopen
    checkpoints = _count_checkpoints(arc)
    assert arc.bundle(res.capture_id) == data
    assert arc.bundle(res.content_hash) == data
    assert _count_checkpoints(arc) == checkpoints  # the latest one already covers it
    with Archive.open(arc.settings) as again:
        assert again.bundle(res.capture_id) == data


def _count_checkpoints(arc: Archive) -> int:
    with arc.engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM checkpoints")).scalar_one())


def test_new_events_get_a_new_checkpoint_and_pinning_works(arc: Archive, tmp_path: Path
                                                           ) -> None:
    arc.init()
    res = _ingest_article(arc, tmp_path)
    first = json.loads(arc.bundle(res.capture_id))
    old_size = int(first["checkpoint"].split("\n")[1])
    arc.extract_metadata(res.capture_id)  # appends a metadata extraction event
    data = arc.bundle(res.capture_id)
    doc = json.loads(data)
    assert int(doc["checkpoint"].split("\n")[1]) > old_size
    assert json.loads(doc["events"][-1]["entry"])["type"] == "metadata extraction"
    assert verify_bundle(data).ok and arc.bundle(res.capture_id) == data
    pinned = arc.bundle(res.capture_id, checkpoint=f"size:{old_size}")
    assert json.loads(pinned)["checkpoint"] == first["checkpoint"]
    assert len(json.loads(pinned)["events"]) == 2 and verify_bundle(pinned).ok
    other = _ingest_article(arc, tmp_path)  # a later capture of the same document
    with pytest.raises(NotFoundError, match="signed before the events"):
        arc.bundle(other.capture_id, checkpoint=f"size:{old_size}")


def test_http_revisit_bundle_follows_the_original(arc: Archive, server: TestServer) -> None:
    arc.init()
    first, = arc.capture([server.url("/chunked-gzip")])
    second, = arc.capture([server.url("/chunked-gzip")])
    data = arc.bundle(second.capture_id)
    report = verify_bundle(data)
    assert report.ok, [c.line() for c in report.checks]
    lines = {c.name: c.message for c in report.checks}
    assert "revisit" in lines and "chunked, gzip undone" in lines["content"]
    doc = json.loads(data)
    assert [c["capture_id"] for c in doc["captures"]] == [second.capture_id, first.capture_id]
    assert doc["content_hash"] == first.content_hash == second.content_hash
    assert independent_verify(data) == []


def test_cli_bundle_and_verify_bundle(arc: Archive, tmp_path: Path, capsys: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    res = _ingest_article(arc, tmp_path)
    _env(monkeypatch, arc)
    out = tmp_path / "b.json"
    assert main(["bundle", res.capture_id, "-o", str(out)]) == 2  # no key yet
    assert "archive init" in capsys.readouterr().err
    arc.init()
    ident = arc.identity()
    assert main(["bundle", res.capture_id, "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    first = out.read_bytes()
    assert main(["bundle", res.capture_id[:12], "-o", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert out.read_bytes() == first == arc.bundle(res.capture_id)
    assert info["sha256"] == _h(first) and info["bytes"] == len(first)

    # no key the user trusts: everything else is checked, and it never exits 0 (issue 12.4)
    assert main(["verify-bundle", str(out)]) == 8
    text_out = capsys.readouterr().out
    assert f"WARN key: {ident.fingerprint} is the bundle's own key" in text_out
    *checks, last = text_out.rstrip().splitlines()
    assert last == (
        f"NOT VERIFIED: all {len(checks)} checks passed, but against the bundle's own key "
        f"{ident.fingerprint}, not one you trust (pass --key or list it in "
        "ARCHIVE_TRUSTED_KEYS)")
    for key in (ident.fingerprint, ident.vkey):
        assert main(["verify-bundle", str(out), "--key", key]) == 0
        assert f"OK   key: {ident.origin} {ident.fingerprint} is the key you gave" in \
            capsys.readouterr().out
    assert main(["verify-bundle", str(out), "--key", "sha256:" + "0" * 64]) == 5
    assert "FAIL key:" in capsys.readouterr().out
    assert main(["verify-bundle", str(out), "--json"]) == 8
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["trusted"] is False and doc["verified"] is False
    assert doc["key_fingerprint"] == ident.fingerprint
    assert main(["verify-bundle", str(out), "--json", "--key", ident.vkey]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trusted"] is True and doc["verified"] is True


def test_trusted_keys_file_pins_the_key(bundles: dict[str, Any], tmp_path: Path, capsys: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """ARCHIVE_TRUSTED_KEYS: a file the user controls, one fingerprint or vkey a line."""
    path = tmp_path / "b.json"
    path.write_bytes(bundles["document"])
    doc = json.loads(bundles["document"])
    keys = tmp_path / "trusted-keys"
    monkeypatch.setenv("ARCHIVE_TRUSTED_KEYS", str(keys))
    other = fingerprint(Ed25519PrivateKey.generate().public_key())
    for lines, code in ((["# archives I trust\n", f"{other}  # another archive\n",
                          f"\n{bundles['fingerprint']}\n"], 0),
                        ([doc["key"]["vkey"] + "\n"], 0),
                        ([other + "\n"], 5)):
        keys.write_text("".join(lines))
        assert main(["verify-bundle", str(path)]) == code, lines
        out = capsys.readouterr().out
        assert ("OK   key:" in out) == (code == 0) and ("FAIL key:" in out) == (code == 5)
    keys.write_text("sha256:1234\n")
    assert main(["verify-bundle", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{keys} line 1" in err and len(err.strip().splitlines()) == 1
    keys.unlink()
    assert main(["verify-bundle", str(path)]) == 2
    assert str(keys) in capsys.readouterr().err
    # --key wins over the file
    assert main(["verify-bundle", str(path), "--key", bundles["fingerprint"]]) == 0


def test_standard_tools_agree(bundles: dict[str, Any], tmp_path: Path) -> None:
    """The members are the archive file's bytes at their offsets; warcio check and index
    accept them concatenated."""
    from warcio.cli import main as warcio_main

    arc: Archive = bundles["arc"]
    doc = json.loads(bundles["revisit"])
    for cap in doc["captures"]:
        path = next(arc.store.root.rglob(cap["warc_file"]["name"]))
        whole = path.read_bytes()
        assert _h(whole) == cap["warc_file"]["sha256"] and len(whole) == cap["warc_file"]["size"]
        for r in cap["records"]:
            member = base64.b64decode(r["gzip_base64"])
            assert whole[r["offset"]:r["offset"] + r["length"]] == member
            assert _h(member) == r["sha256"]
    extracted = tmp_path / "capture.warc.gz"
    extracted.write_bytes(b"".join(base64.b64decode(r["gzip_base64"])
                                   for c in doc["captures"] for r in c["records"]))
    with pytest.raises(SystemExit) as done:
        warcio_main(["check", str(extracted)])
    assert done.value.code == 0
    ids = [json.loads(line)["warc-record-id"] for line in _warcio_index(extracted)]
    assert ids == [r["record_id"] for c in doc["captures"] for r in c["records"]]


def _warcio_index(path: Path) -> list[str]:
    import contextlib

    from warcio.cli import main as warcio_main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
        warcio_main(["index", "-f", "warc-record-id", str(path)])
    return buf.getvalue().splitlines()


def test_schema_is_valid_and_has_no_unsigned_size_or_root(bundles: dict[str, Any]) -> None:
    schema = load_schema(SCHEMA_NAME)
    Draft202012Validator.check_schema(schema)
    v = Draft202012Validator(schema)
    for kind in ("document", "revisit"):
        v.validate(json.loads(bundles[kind]))
    doc = json.loads(bundles["document"])
    doc["tree_size"] = 99  # a size outside the signed note is refused outright
    report = verify_bundle(encode(doc))
    assert not report.ok and report.checks[0].name == "schema"
    assert "tree_size" in report.checks[0].message
    bad = verify_bundle(b"not json")
    assert not bad.ok and bad.checks[0].name == "schema"


# ==================================================================== store and DB

def test_edited_event_row_or_warc_byte_stops_bundling(arc: Archive, tmp_path: Path) -> None:
    arc.init()
    res = _ingest_article(arc, tmp_path)
    with arc.engine.begin() as c:
        c.execute(text("UPDATE events SET outcome = 'warning' WHERE seq = 0"))
    # No checkpoint holds the event yet: the signer re-hashes it and signs nothing.
    with pytest.raises(IntegrityError, match=r"not signing: event seq 0 .*no longer match"):
        arc.bundle(res.capture_id)
    assert logtree.latest_checkpoint(arc.engine) is None
    with arc.engine.begin() as c:
        c.execute(text("UPDATE events SET outcome = 'success' WHERE seq = 0"))
    arc.checkpoint()
    with arc.engine.begin() as c:
        c.execute(text("UPDATE events SET outcome = 'warning' WHERE seq = 0"))
    # A checkpoint holds it: the bundle's own check of every event it carries.
    with pytest.raises(IntegrityError, match=r"event #0 \(ingestion\): the entry hashes to"):
        arc.bundle(res.capture_id)
    with arc.engine.begin() as c:
        c.execute(text("UPDATE events SET outcome = 'success' WHERE seq = 0"))
    assert verify_bundle(arc.bundle(res.capture_id)).ok
    show = arc.show(res.capture_id)[0]
    rec = next(r for r in show.records if r.type == "resource")
    path = Path(res.warc_path)
    data = bytearray(path.read_bytes())
    data[rec.offset + rec.length // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=rf"record {rec.record_id}"):
        arc.bundle(res.capture_id)


# ========================================================================= tampering

def _content_member(doc: dict[str, Any]) -> dict[str, Any]:
    cap = doc["captures"][-1]
    return next(r for r in reversed(cap["records"]) if r["type"] in ("response", "resource"))


def t_warc_byte_forged(doc: dict[str, Any]) -> None:
    """A byte of the record changed, the member re-gzipped and its sha256 updated."""
    r = _content_member(doc)
    raw = bytearray(zlib.decompress(base64.b64decode(r["gzip_base64"]), 31))
    raw[-40] ^= 0x20
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    member = comp.compress(bytes(raw)) + comp.flush()
    r.update(gzip_base64=base64.b64encode(member).decode(), sha256=_h(member),
             length=len(member))


def t_warc_byte_raw(doc: dict[str, Any]) -> None:
    r = _content_member(doc)
    member = bytearray(base64.b64decode(r["gzip_base64"]))
    member[len(member) // 2] ^= 0x01
    r["gzip_base64"] = base64.b64encode(bytes(member)).decode()


def t_manifest(doc: dict[str, Any]) -> None:
    cap = doc["captures"][0]
    assert '"capture_time":"' in cap["manifest"]
    cap["manifest"] = cap["manifest"].replace('"capture_time":"20', '"capture_time":"19')


def t_event_field(doc: dict[str, Any]) -> None:
    ev = doc["events"][0]
    ev["entry"] = ev["entry"].replace('"outcome":"success"', '"outcome":"failure"')


def t_proof_hash(doc: dict[str, Any]) -> None:
    doc["events"][-1]["inclusion_proof"][0] = base64.b64encode(b"\x07" * 32).decode()


def t_checkpoint_size(doc: dict[str, Any]) -> None:
    lines = doc["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    doc["checkpoint"] = "\n".join(lines)


def t_checkpoint_root(doc: dict[str, Any]) -> None:
    lines = doc["checkpoint"].split("\n")
    lines[2] = base64.b64encode(b"\x00" * 32).decode()
    doc["checkpoint"] = "\n".join(lines)


def _other_key(name: str) -> Ed25519PublicKey:
    return Ed25519PrivateKey.generate().public_key()


def t_key_vkey_only(doc: dict[str, Any]) -> None:
    doc["key"]["vkey"] = make_vkey(doc["key"]["name"], _other_key(doc["key"]["name"]))


def t_key_swapped(doc: dict[str, Any]) -> None:
    pub = _other_key(doc["key"]["name"])
    doc["key"].update(vkey=make_vkey(doc["key"]["name"], pub), fingerprint=fingerprint(pub))


def t_event_dropped(doc: dict[str, Any]) -> None:
    del doc["events"][0]


def t_capture_id(doc: dict[str, Any]) -> None:
    doc["capture_id"] = "sha256:" + "1" * 64


TAMPERS: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    # name: (tamper, failing check area, phrase in its message)
    "warc-byte-forged": (t_warc_byte_forged, "record", "the block hashes to"),
    "warc-byte-raw": (t_warc_byte_raw, "record", "the gzip member hashes to"),
    "manifest": (t_manifest, "manifest", "hashes to sha256:"),
    "event-field": (t_event_field, "event", "the entry hashes to"),
    "proof-hash": (t_proof_hash, "event", "the inclusion proof leads to root"),
    "checkpoint-size": (t_checkpoint_size, "checkpoint", "bad signature"),
    "checkpoint-root": (t_checkpoint_root, "checkpoint", "bad signature"),
    "key-vkey": (t_key_vkey_only, "key", "is not that of the verifier key"),
    "key-swapped": (t_key_swapped, "checkpoint", "not signed by the expected key"),
    "event-dropped": (t_event_dropped, "custody", "no capture or ingestion event names"),
    "capture-id": (t_capture_id, "manifest", "the bundle is for sha256:1111"),
}


@pytest.mark.parametrize("kind", ["document", "revisit"])
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampering_is_detected_and_named(bundles: dict[str, Any], kind: str, tamper: str,
                                         tmp_path: Path, capsys: Any) -> None:
    fn, area, phrase = TAMPERS[tamper]
    doc = json.loads(bundles[kind])
    fn(doc)
    data = encode(doc)
    report = verify_bundle(data)
    assert not report.ok
    failed = [c for c in report.checks if c.status == "fail"]
    assert any(c.name.split()[0] == area and phrase in c.message for c in failed), \
        [c.line() for c in failed]
    # the CLI says the same, one line per check, and exits 5
    path = tmp_path / "tampered.json"
    path.write_bytes(data)
    assert main(["verify-bundle", str(path)]) == 5
    out = capsys.readouterr().out
    assert f"FAIL {area}" in out and out.rstrip().splitlines()[-1].startswith("FAILED:")
    # the independent verifier agrees that it fails, and where
    problems = independent_verify(data)
    assert area in _areas(problems), (tamper, problems)


def test_pinned_key_catches_a_consistent_key_swap(bundles: dict[str, Any]) -> None:
    """A forger who swaps key and fingerprint together still needs the archive's key to
    sign: with --key the swap fails at the key itself."""
    doc = json.loads(bundles["document"])
    t_key_swapped(doc)
    report = verify_bundle(encode(doc), trusted_key=bundles["fingerprint"])
    assert [c.name for c in report.failures][:1] == ["key"]
    assert "is not the key you trust" in report.failures[0].message
    assert independent_verify(encode(doc), bundles["fingerprint"])


@pytest.mark.parametrize("kind", ["document", "revisit"])
def test_independent_verifier_agrees_on_good_bundles(bundles: dict[str, Any], kind: str
                                                     ) -> None:
    data = bundles[kind]
    assert verify_bundle(data, trusted_key=bundles["fingerprint"]).ok
    assert independent_verify(data, bundles["fingerprint"]) == []


# ==================================================================== withdrawn captures

def test_a_withdrawn_capture_s_bundle_carries_and_reports_its_deletion(
        arc: Archive, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arc.init()
    res = _ingest_article(arc, tmp_path)
    before = arc.bundle(res.capture_id)
    assert verify_bundle(before).withdrawn is None
    arc.delete(res.capture_id, reason="court order 2026-12-01", person="editor@example.org")
    data = arc.bundle(res.capture_id)
    doc = json.loads(data)
    tomb = json.loads(doc["events"][-1]["entry"])  # with its inclusion proof, checked below
    assert tomb["type"] == "deletion" and res.capture_id in tomb["objects"]
    report = verify_bundle(data, trusted_key=arc.identity().fingerprint)
    assert report.ok, [c.line() for c in report.checks]
    assert f"event #{tomb['seq']} (deletion)" in {c.name for c in report.checks
                                                   if c.status == "ok"}
    withdrawn = {c.name: c for c in report.checks}["withdrawn"]
    assert withdrawn.status == "warn" and "court order 2026-12-01" in withdrawn.message
    assert report.withdrawn == f"{tomb['time']} by editor@example.org: court order 2026-12-01"
    assert "all" in report.summary() and "WITHDRAWN" in report.summary()
    assert report.to_json()["withdrawn"] == report.withdrawn
    assert independent_verify(data, arc.identity().fingerprint) == []
    # A checkpoint signed before the withdrawal cannot make a bundle that hides it.
    old_size = int(json.loads(before)["checkpoint"].split("\n")[1])
    with pytest.raises(ConfigError, match=r"before .* was withdrawn"):
        arc.bundle(res.capture_id, checkpoint=f"size:{old_size}")

    _env(monkeypatch, arc)
    out = tmp_path / "withdrawn.json"
    out.write_bytes(data)
    capsys.readouterr()
    assert main(["verify-bundle", str(out), "--key", arc.identity().fingerprint]) == 0
    printed = capsys.readouterr().out
    assert "WARN withdrawn:" in printed and "court order 2026-12-01" in printed
    assert "WITHDRAWN" in printed.rstrip().splitlines()[-1]
