"""Signed checkpoints: C2SP tlog-checkpoint text, C2SP signed-note signatures."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql

from archive.errors import ConfigError, IntegrityError
from archive.proof.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    key_id,
    open_note,
    parse_and_verify,
    parse_vkey,
    sign,
    sign_note,
    vkey,
)
from archive.proof.keys import public_key_bytes
from archive.proof.merkle import EMPTY_ROOT, MerkleTree, leaf_hash

# The worked example in the documentation of Go's golang.org/x/mod/sumdb/note:
# a signer key, its verifier key, a text, and the exact signed note Go produces.
# Ed25519 signatures are deterministic, so ours must be byte-identical.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = (GO_TEXT + "\n"
           "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
           "fqdngotpRZb6KE6RyyBwJnAM=\n")

ORIGIN = "archive.example.org/custody"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key()
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _go_private_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 0x01  # Ed25519
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


def _checkpoint(size: int = 5) -> Checkpoint:
    leaves = [leaf_hash(str(i).encode()) for i in range(size)]
    return Checkpoint(ORIGIN, size, MerkleTree(leaves).root())


def _lines(note: str) -> list[str]:
    return note.split("\n")


def _reject(note: str | bytes, *fragments: str, **kwargs: str) -> str:
    with pytest.raises(IntegrityError) as info:
        parse_and_verify(note, PUB, ORIGIN, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ------------------------------------------------------------- interoperability

def test_signed_note_matches_go_sumdb_note_byte_for_byte() -> None:
    key = _go_private_key()
    assert vkey("PeterNeumann", key.public_key()) == GO_VKEY
    assert key_id("PeterNeumann", key.public_key()).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, key, "PeterNeumann") == GO_NOTE
    assert open_note(GO_NOTE, key.public_key(), "PeterNeumann") == GO_TEXT
    assert open_note(GO_NOTE.encode(), key.public_key(), "PeterNeumann") == GO_TEXT
    name, public = parse_vkey(GO_VKEY)
    assert name == "PeterNeumann"
    assert public_key_bytes(public) == public_key_bytes(key.public_key())


def test_key_id_is_truncated_sha256_of_name_newline_type_and_key() -> None:
    raw = public_key_bytes(PUB)
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert key_id(ORIGIN, PUB) == expected
    typed_key = base64.b64encode(bytes([1]) + raw).decode()
    assert vkey(ORIGIN, PUB) == f"{ORIGIN}+{expected.hex()}+{typed_key}"


def test_note_layout() -> None:
    cp = _checkpoint(5)
    note = sign(cp, KEY, ORIGIN)
    lines = _lines(note)
    assert lines[:3] == [ORIGIN, "5", base64.b64encode(cp.root).decode()]
    assert lines[3] == ""                                   # the blank separator
    assert lines[4].startswith("\u2014 " + ORIGIN + " ")   # em dash, space, name, space
    assert lines[5:] == [""]                                # ends with one newline
    blob = base64.b64decode(lines[4].split(" ")[2])
    assert len(blob) == 4 + 64
    assert blob[:4] == key_id(ORIGIN, PUB)
    PUB.verify(blob[4:], cp.to_text().encode())             # signs the text incl. newline
    assert cp.to_text() == f"{ORIGIN}\n5\n{lines[2]}\n"


# --------------------------------------------------------------------- round trip

def test_round_trip() -> None:
    cp = _checkpoint(5)
    assert parse_and_verify(sign(cp, KEY, ORIGIN), PUB, ORIGIN) == cp
    assert parse_and_verify(sign(cp, KEY, ORIGIN), PUB, ORIGIN, origin=ORIGIN) == cp


def test_round_trip_edge_values() -> None:
    for cp in (Checkpoint(ORIGIN, 0, EMPTY_ROOT),
               Checkpoint(ORIGIN, MAX_TREE_SIZE, b"\xff" * 32),
               Checkpoint("é/ünïcode log", 1, b"\x00" * 32, ("ext one", "ext+2"))):
        assert parse_and_verify(sign(cp, KEY, "k"), PUB, "k") == cp


@settings(max_examples=100, deadline=None)
@given(origin=st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]),
                      min_size=1, max_size=40),
       size=st.integers(0, MAX_TREE_SIZE),
       root=st.binary(min_size=32, max_size=32))
def test_round_trip_property(origin: str, size: int, root: bytes) -> None:
    cp = Checkpoint(origin, size, root)
    assert parse_and_verify(sign(cp, KEY, ORIGIN), PUB, ORIGIN) == cp


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_single_character_change_is_rejected(data: st.DataObject) -> None:
    note = sign(_checkpoint(1234), KEY, ORIGIN)
    pos = data.draw(st.integers(0, len(note) - 1), label="position")
    action = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="action")
    char = data.draw(st.characters(exclude_categories=["Cs"]), label="char")
    if action == "replace":
        if char == note[pos]:
            return
        tampered = note[:pos] + char + note[pos + 1:]
    elif action == "delete":
        tampered = note[:pos] + note[pos + 1:]
    else:
        tampered = note[:pos] + char + note[pos:]
    with pytest.raises(IntegrityError):
        parse_and_verify(tampered, PUB, ORIGIN)


# -------------------------------------------------------------------- tampering

def test_tampered_origin() -> None:
    note = sign(_checkpoint(), KEY, ORIGIN)
    tampered = note.replace(ORIGIN + "\n", "evil.example/log\n", 1)
    _reject(tampered, "bad signature on line 5", f"{ORIGIN}+{key_id(ORIGIN, PUB).hex()}",
            "origin 'evil.example/log'", "changed after signing")
    _reject(tampered, "origin 'evil.example/log' (line 1) is not the expected",
            origin=ORIGIN)


def test_checkpoint_of_another_log_signed_by_the_same_key() -> None:
    note = sign(Checkpoint("other.example/log", 3, b"\x01" * 32), KEY, ORIGIN)
    _reject(note, "is not the expected 'archive.example.org/custody'", origin=ORIGIN)


def test_tampered_size() -> None:
    cp = _checkpoint(5)
    lines = _lines(sign(cp, KEY, ORIGIN))
    lines[1] = "6"
    _reject("\n".join(lines), "bad signature on line 5", "size 6", cp.root.hex())
    for bad, why in (("abc", "tree size 'abc' is not a decimal number"),
                     ("-5", "tree size '-5' is not a decimal number"),
                     ("5.0", "is not a decimal number"),
                     ("", "tree size '' is not a decimal number"),
                     ("٥", "is not a decimal number"),          # an Arabic-Indic five
                     ("05", "tree size '05' has leading zeros"),
                     (str(MAX_TREE_SIZE + 1), "is over 2^64-1")):
        lines[1] = bad
        _reject("\n".join(lines), "malformed line 2 of the checkpoint", why)


def test_tampered_root() -> None:
    cp = _checkpoint(5)
    lines = _lines(sign(cp, KEY, ORIGIN))
    other_root = _checkpoint(6).root
    lines[2] = base64.b64encode(other_root).decode()
    _reject("\n".join(lines), "bad signature on line 5", f"root {other_root.hex()}")
    for bad, why in (("not base64!", "is not valid (canonical, padded) base64"),
                     (lines[2].rstrip("="), "is not valid (canonical, padded) base64"),
                     (base64.b64encode(b"\x00" * 31).decode(), "root hash has 31 bytes"),
                     (base64.b64encode(b"\x00" * 48).decode(), "root hash has 48 bytes")):
        lines[2] = bad
        _reject("\n".join(lines), "malformed line 3 of the checkpoint", why)
    # unused low bits of the last base64 character: decodes to the same root, but the
    # text is not what was signed; refused before the signature is even looked at
    canonical = base64.b64encode(cp.root).decode()
    last = canonical[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    lines[2] = canonical[:-2] + alphabet[alphabet.index(last) ^ 1] + "="
    assert base64.b64decode(lines[2]) == cp.root
    _reject("\n".join(lines), "malformed line 3", "canonical")


def test_tampered_signature() -> None:
    note = sign(_checkpoint(), KEY, ORIGIN)
    lines = _lines(note)
    prefix, name, b64 = lines[4].split(" ")
    blob = bytearray(base64.b64decode(b64))

    blob[40] ^= 0x01                                     # a bit of the signature
    lines[4] = f"{prefix} {name} {base64.b64encode(bytes(blob)).decode()}"
    _reject("\n".join(lines), "bad signature on line 5", "does not match the checkpoint text")

    blob[40] ^= 0x01
    blob[0] ^= 0x01                                      # a bit of the key ID
    lines[4] = f"{prefix} {name} {base64.b64encode(bytes(blob)).decode()}"
    _reject("\n".join(lines), "not signed by the expected key", "unknown key(s)")

    lines[4] = f"{prefix} {name} {b64[:-3]}"            # cut short: broken base64
    _reject("\n".join(lines), "malformed signature line 5", "base64")

    blob[0] ^= 0x01
    short = bytes(blob[:-1])                             # 63-byte signature, valid base64
    lines[4] = f"{prefix} {name} {base64.b64encode(short).decode()}"
    _reject("\n".join(lines), "bad signature on line 5", "has 63 bytes")

    lines[4] = f"- {name} {b64}"                         # hyphen for the em dash
    _reject("\n".join(lines), "malformed signature line 5", "em dash")

    lines[4] = f"{prefix} {name}"                        # no signature at all
    _reject("\n".join(lines), "malformed signature line 5", "base64")

    lines[4] = f"{prefix} {b64}"                         # no key name
    _reject("\n".join(lines), "malformed signature line 5")


def test_missing_or_cut_signature_block() -> None:
    note = sign(_checkpoint(), KEY, ORIGIN)
    body = _checkpoint().to_text()
    _reject(body, "no signature block")
    _reject(body + "\n", "no signature lines")
    _reject(note[:-1], "does not end with a newline")
    _reject(note + "\n", "no signature lines")


def test_signature_by_another_key_is_not_accepted() -> None:
    cp = _checkpoint()
    _reject(sign(cp, OTHER, ORIGIN), "not signed by the expected key",
            f"unknown key(s) {ORIGIN}+{key_id(ORIGIN, OTHER.public_key()).hex()}")
    _reject(sign(cp, KEY, "someone.else/log"), "not signed by the expected key",
            "someone.else/log+")


def test_unknown_signatures_are_ignored_and_cosignatures_accepted() -> None:
    cp = _checkpoint()
    ours = _lines(sign(cp, KEY, ORIGIN))[4]
    witness = _lines(sign(cp, OTHER, "witness.example/w1"))[4]
    text = cp.to_text()
    assert parse_and_verify(f"{text}\n{witness}\n{ours}\n", PUB, ORIGIN) == cp
    assert parse_and_verify(f"{text}\n{ours}\n{witness}\n", PUB, ORIGIN) == cp
    # a known key whose signature fails rejects the note, even if a good copy follows
    bad = ours[:-8] + ("A" if ours[-8] != "A" else "B") + ours[-7:]
    _reject(f"{text}\n{bad}\n{ours}\n", "bad signature on line 5")


def test_malformed_notes() -> None:
    cp = _checkpoint()
    sig = _lines(sign(cp, KEY, ORIGIN))[4]
    b64root = base64.b64encode(cp.root).decode()
    _reject(f"{ORIGIN}\n5\n\n{sig}\n", "has 2 line(s) before the signatures")
    _reject(f"\n5\n{b64root}\n\n{sig}\n", "malformed line 1 of the checkpoint: the origin is empty")
    _reject(f"{ORIGIN}\n5\n{b64root}\n\next\n\n{sig}\n",
            "malformed line 4 of the checkpoint: extension lines must not be empty")
    _reject(f"{ORIGIN}\r\n5\n{b64root}\n\n{sig}\n", "malformed line 1", "U+000D")
    _reject(f"{ORIGIN}\n5\n{b64root}\n\n{sig}\n\t\n", "malformed line 6", "U+0009")
    _reject(sign(cp, KEY, ORIGIN).encode() + b"\xff", "not valid UTF-8 (byte")
    _reject("\ud800" + sign(cp, KEY, ORIGIN), "not valid UTF-8")
    many = "".join(f"\u2014 w{i} {base64.b64encode(bytes(68)).decode()}\n" for i in range(101))
    _reject(f"{cp.to_text()}\n{many}", "101 signature lines, over the limit of 100")
    _reject("x" * (1 << 20) + "\n\n" + sig + "\n", "over the 1048576-byte limit")


# ------------------------------------------------------------------- vkeys

def test_vkey_round_trip_and_errors() -> None:
    text = vkey(ORIGIN, PUB)
    name, public = parse_vkey(text + "\n")
    assert name == ORIGIN
    assert public_key_bytes(public) == public_key_bytes(PUB)
    name_part, id_part, key_part = text.split("+", 2)
    wrong_id = "00000000" if id_part != "00000000" else "11111111"
    with pytest.raises(ConfigError, match=f"has key ID {wrong_id} but"):
        parse_vkey(f"{name_part}+{wrong_id}+{key_part}")
    with pytest.raises(ConfigError, match="altered or mistyped"):
        parse_vkey(f"other.name+{id_part}+{key_part}")
    ecdsa_like = base64.b64encode(b"\x02" + public_key_bytes(PUB)).decode()
    with pytest.raises(ConfigError, match="key type 0x02; only Ed25519"):
        parse_vkey(f"{name_part}+{id_part}+{ecdsa_like}")
    short = base64.b64encode(b"\x01" + bytes(31)).decode()
    with pytest.raises(ConfigError, match="32 bytes"):
        parse_vkey(f"{name_part}+{id_part}+{short}")
    for bad in ("", "name", "name+abc+AAAA", f"na me+{id_part}+{key_part}",
                f"{name_part}+{id_part.upper()}+{key_part}", f"{name_part}+{id_part}+!!"):
        with pytest.raises(ConfigError, match="a verifier key looks like"):
            parse_vkey(bad)


# ------------------------------------------------------------ invalid arguments

def test_checkpoint_rejects_invalid_fields() -> None:
    for kwargs in ({"origin": "", "size": 1, "root": EMPTY_ROOT},
                   {"origin": "a\nb", "size": 1, "root": EMPTY_ROOT},
                   {"origin": "a\tb", "size": 1, "root": EMPTY_ROOT},
                   {"origin": "a", "size": -1, "root": EMPTY_ROOT},
                   {"origin": "a", "size": True, "root": EMPTY_ROOT},
                   {"origin": "a", "size": MAX_TREE_SIZE + 1, "root": EMPTY_ROOT},
                   {"origin": "a", "size": 1, "root": EMPTY_ROOT[:31]},
                   {"origin": "a", "size": 1, "root": EMPTY_ROOT.hex()},
                   {"origin": "a", "size": 1, "root": EMPTY_ROOT, "extensions": ("",)},
                   {"origin": "a", "size": 1, "root": EMPTY_ROOT, "extensions": ["x"]}):
        with pytest.raises(ValueError):
            Checkpoint(**kwargs)  # type: ignore[arg-type]


def test_signing_rejects_invalid_key_names_and_texts() -> None:
    cp = _checkpoint()
    for name in ("", "has space", "has+plus", "tab\tname", "nbsp\u00a0name"):
        with pytest.raises(ValueError, match="key name"):
            sign(cp, KEY, name)
    for text in ("no newline", "blank end\n\n", "\n", "ctrl\x01\n"):
        with pytest.raises(ValueError, match="note text"):
            sign_note(text, KEY, ORIGIN)


# ------------------------------------- issue 12.3: signed notes kept outside the database

def _ingest(arc, tmp_path, name: str) -> None:
    p = tmp_path / name
    p.write_text(f"document {name}\n")
    arc.ingest([p])


def _notes(directory) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.glob("*.note"))}


def _checkpoint_problems(arc) -> list[str]:
    return [p.message for p in arc.verify().problems if p.kind == "checkpoint"]


def test_every_signed_checkpoint_is_filed_in_home_and_mirror(db_url: str, tmp_path) -> None:
    from archive.api import Archive
    from archive.core.config import Settings

    mirror = tmp_path / "mirror"
    settings = Settings.from_env({"ARCHIVE_HOME": str(tmp_path / "home"),
                                  "ARCHIVE_DATABASE_URL": db_url,
                                  "ARCHIVE_CHECKPOINT_MIRROR": str(mirror)})
    assert settings.note_dirs == (tmp_path / "home" / "checkpoints", mirror)
    with Archive.open(settings) as arc:
        _check_filing(arc, tmp_path, mirror)


def _check_filing(arc, tmp_path, mirror) -> None:
    arc.init()
    _ingest(arc, tmp_path, "a.txt")
    first = arc.checkpoint()
    _ingest(arc, tmp_path, "b.txt")
    second = arc.checkpoint()
    home_dir = arc.settings.home / "checkpoints"
    for directory in (home_dir, mirror):
        assert sorted(_notes(directory).values()) == sorted([first.note, second.note])
        assert all((p.stat().st_mode & 0o777) == 0o444 for p in directory.glob("*.note"))
    assert arc.verify().ok and arc.check_custody().ok
    # a note rewritten in the mirror is caught there
    (mine,) = [p for p in mirror.glob("*.note") if p.read_text() == first.note]
    mine.chmod(0o644)
    mine.write_text(second.note)
    assert any(str(mine) in m and "not the note its name commits to" in m
               for m in _checkpoint_problems(arc))


def test_checkpoints_deleted_from_the_database_are_caught_by_the_files(arc, tmp_path) -> None:
    """FAULTS 38: DELETE FROM checkpoints (after rewriting the log) leaves the notes."""
    arc.init()
    _ingest(arc, tmp_path, "a.txt")
    arc.checkpoint()
    _ingest(arc, tmp_path, "b.txt")
    arc.checkpoint()
    with arc.engine.begin() as c:
        c.execute(sql("DELETE FROM checkpoints"))
    problems = _checkpoint_problems(arc)
    assert len([m for m in problems if "has no checkpoint in the database" in m]) == 2
    assert not arc.check_custody().ok
    # rewrite the log's history (a middle event forged with consistent hashes all the way
    # to the head) and sign it anew with the archive's own key: only the files still
    # remember what was signed before
    _rewrite_event(arc, seq=1)
    assert not [p for p in arc.verify().problems if p.kind == "chain"]
    arc.checkpoint()
    problems = _checkpoint_problems(arc)
    assert sum("no longer hash to its signed root" in m for m in problems) == 2
    assert sum("has no checkpoint in the database" in m for m in problems) == 2


def _rewrite_event(arc, seq: int) -> None:
    from archive.core.hashing import hex_part
    from archive.ledger.custody import entry_hash, entry_leaf_hash, iter_events

    with arc.engine.begin() as c:
        evs = list(iter_events(c))
        prev = evs[seq - 1].entry_hash
        for ev in evs[seq:]:
            detail = {**ev.detail, "forged": True} if ev.seq == seq else ev.detail
            new = replace_event(ev, detail=detail, prev_hash=prev)
            data = new.entry_bytes()
            c.execute(sql("UPDATE events SET detail = :d, prev_hash = :p, entry_hash = :h, "
                           "leaf_hash = :l WHERE seq = :s"),
                      {"d": json.dumps(new.detail), "p": hex_part(prev),
                       "h": hex_part(entry_hash(data)), "l": hex_part(entry_leaf_hash(data)),
                       "s": ev.seq})  # raw SQL: the columns' bare hex
            prev = entry_hash(data)
        c.execute(sql("UPDATE log_head SET head_hash = :h"), {"h": hex_part(prev)})


def replace_event(ev, **changes):
    from dataclasses import replace

    return replace(ev, **changes)


def test_a_rewritten_checkpoint_row_is_caught_by_its_file(arc, tmp_path) -> None:
    arc.init()
    _ingest(arc, tmp_path, "a.txt")
    arc.checkpoint()
    _ingest(arc, tmp_path, "b.txt")
    second = arc.checkpoint()
    with arc.engine.begin() as c:  # the second row replaced by a copy of the first
        c.execute(sql("UPDATE checkpoints SET note = (SELECT note FROM checkpoints WHERE "
                       "id = :a), size = (SELECT size FROM checkpoints WHERE id = :a), "
                       "root_hash = (SELECT root_hash FROM checkpoints WHERE id = :a) "
                       "WHERE id = :b"), {"a": second.id - 1, "b": second.id})
    problems = _checkpoint_problems(arc)
    assert any(f"size {second.size}) has no checkpoint in the database" in m
               for m in problems), problems


def test_a_crash_between_the_row_and_the_file_is_not_a_problem(arc, tmp_path,
                                                               capsys, monkeypatch) -> None:
    """The row commits first; a note not yet filed is pending, filed by the next
    checkpoint or reconcile. A note removed once a later one is filed is reported."""
    from archive.cli import main

    arc.init()
    _ingest(arc, tmp_path, "a.txt")
    first = arc.checkpoint()
    notes_dir = arc.settings.home / "checkpoints"
    (path,) = notes_dir.glob("*.note")
    path.unlink()  # as if the process died after COMMIT, before writing the file
    assert arc.verify().ok and arc.check_custody().ok
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    monkeypatch.setenv("ARCHIVE_LOG_ORIGIN", arc.origin)
    assert main(["verify"]) == 0  # reconcile files it first
    assert f"FILED {path}" in capsys.readouterr().out
    assert path.read_text() == first.note
    path.chmod(0o644)
    path.unlink()
    _ingest(arc, tmp_path, "b.txt")
    arc.checkpoint()  # files the pending note too
    assert sorted(_notes(notes_dir)) == sorted([path.name, *(
        n for n in _notes(notes_dir) if n != path.name)])
    assert path.exists() and arc.verify().ok
    path.chmod(0o644)
    path.unlink()  # now a later note is filed: this one was removed
    (problem,) = _checkpoint_problems(arc)
    assert f"checkpoint {first.id} (size {first.size}) has no note file" in problem
    assert "the file was removed" in problem
