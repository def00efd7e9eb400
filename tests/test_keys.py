"""Ed25519 key files: created 0600 from the start, never overwritten, checked on load."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.errors import ConfigError
from archive.proof.keys import (
    KeyPair,
    fingerprint,
    generate_key,
    key_paths,
    load_private_key,
    load_public_key,
    public_key_bytes,
    public_key_from_bytes,
    public_key_from_pem,
    public_key_pem,
)

# RFC 8032 §7.1 TEST 1: a fixed key, so the fingerprint definition cannot drift.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_FINGERPRINT = "sha256:21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_generate_writes_a_0600_private_key_and_a_public_key(
    tmp_path: Path, umask_022: None
) -> None:
    pair = generate_key(tmp_path / "keys", "archive")
    assert isinstance(pair, KeyPair)
    assert pair.private_path == tmp_path / "keys" / "archive.key"
    assert pair.public_path == tmp_path / "keys" / "archive.pub"
    assert (pair.private_path, pair.public_path) == key_paths(tmp_path / "keys", "archive")
    assert _mode(pair.private_path) == 0o600
    assert _mode(pair.public_path) == 0o644
    assert _mode(tmp_path / "keys") == 0o700
    assert pair.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS8
    assert pair.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    # nothing else left behind (no temporary files)
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["archive.key", "archive.pub"]

    private = load_private_key(pair.private_path)
    public = load_public_key(pair.public_path)
    assert public_key_bytes(private.public_key()) == public_key_bytes(public)
    assert public_key_bytes(pair.public_key) == public_key_bytes(public)
    signature = private.sign(b"checkpoint")
    public.verify(signature, b"checkpoint")  # raises if the pair does not match


def test_private_key_mode_does_not_depend_on_umask_or_chmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0600 comes from open(2) itself: no chmod afterwards, even with umask 0."""
    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("chmod must not be used to protect a key")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    old = os.umask(0)
    try:
        pair = generate_key(tmp_path, "k")
    finally:
        os.umask(old)
    assert _mode(pair.private_path) == 0o600


def test_refuses_to_overwrite_an_existing_key(tmp_path: Path) -> None:
    pair = generate_key(tmp_path, "archive")
    before = pair.private_path.read_bytes(), pair.public_path.read_bytes()
    with pytest.raises(ConfigError, match="refusing to overwrite existing key file"):
        generate_key(tmp_path, "archive")
    assert (pair.private_path.read_bytes(), pair.public_path.read_bytes()) == before

    (tmp_path / "other.pub").write_text("left over")
    with pytest.raises(ConfigError, match=r"other\.pub"):
        generate_key(tmp_path, "other")
    assert not (tmp_path / "other.key").exists()

    (tmp_path / "dangling.key").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        generate_key(tmp_path, "dangling")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
def test_refuses_a_private_key_others_can_access(tmp_path: Path, mode: int) -> None:
    pair = generate_key(tmp_path, "archive")
    pair.private_path.chmod(mode)
    with pytest.raises(ConfigError) as info:
        load_private_key(pair.private_path)
    message = str(info.value)
    assert f"has mode {mode:04o}" in message
    assert "group or others" in message
    assert f"chmod 600 {pair.private_path}" in message
    assert "\n" not in message


def test_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    pair = generate_key(tmp_path, "archive")
    pair.private_path.chmod(0o400)
    load_private_key(pair.private_path)


def test_refuses_a_symlinked_private_key(tmp_path: Path) -> None:
    pair = generate_key(tmp_path, "archive")
    link = tmp_path / "link.key"
    link.symlink_to(pair.private_path)
    with pytest.raises(ConfigError, match="cannot open private key"):
        load_private_key(link)


def test_load_errors_are_one_line_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no private key at .*archive init"):
        load_private_key(tmp_path / "missing.key")
    with pytest.raises(ConfigError, match="no public key at"):
        load_public_key(tmp_path / "missing.pub")

    garbage = tmp_path / "garbage.key"
    fd = os.open(garbage, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(ConfigError, match="is not a readable PKCS #8 PEM key"):
        load_private_key(garbage)

    ed448 = tmp_path / "ed448.key"
    fd = os.open(ed448, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, Ed448PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    os.close(fd)
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        load_private_key(ed448)

    pair = generate_key(tmp_path, "archive")
    with pytest.raises(ConfigError, match="is not a PEM public key"):
        load_public_key(pair.private_path)
    with pytest.raises(ConfigError, match="not an Ed25519 public key"):
        public_key_from_pem(Ed448PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_private_key(tmp_path)


def test_passphrase_protected_key(tmp_path: Path) -> None:
    pair = generate_key(tmp_path, "archive", passphrase=b"correct horse")
    assert b"ENCRYPTED" in pair.private_path.read_bytes()
    key = load_private_key(pair.private_path, passphrase=b"correct horse")
    assert public_key_bytes(key.public_key()) == public_key_bytes(pair.public_key)
    with pytest.raises(ConfigError, match="passphrase"):
        load_private_key(pair.private_path, passphrase=b"wrong")
    with pytest.raises(ConfigError):
        load_private_key(pair.private_path)
    with pytest.raises(ConfigError, match="empty passphrase"):
        generate_key(tmp_path, "other", passphrase=b"")


@pytest.mark.parametrize("name", ["", ".hidden", "../up", "a/b", "a b", "-x", "x" * 101, "é"])
def test_rejects_key_names_that_are_not_plain_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="key name"):
        generate_key(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_fingerprint_is_sha256_of_the_raw_public_key() -> None:
    private = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    public = private.public_key()
    assert public_key_bytes(public) == RFC8032_PUBLIC
    assert fingerprint(public) == RFC8032_FINGERPRINT
    assert fingerprint(public) == "sha256:" + hashlib.sha256(RFC8032_PUBLIC).hexdigest()
    # same key, any route: raw bytes, PEM text, a key file
    assert fingerprint(public_key_from_bytes(RFC8032_PUBLIC)) == RFC8032_FINGERPRINT
    assert fingerprint(public_key_from_pem(public_key_pem(public))) == RFC8032_FINGERPRINT


def test_fingerprint_is_stable_across_loads(tmp_path: Path) -> None:
    pair = generate_key(tmp_path, "archive")
    first = pair.fingerprint
    assert first.startswith("sha256:") and len(first) == 7 + 64
    assert fingerprint(load_public_key(pair.public_path)) == first
    assert fingerprint(load_private_key(pair.private_path).public_key()) == first
    assert generate_key(tmp_path, "second").fingerprint != first


def test_public_key_from_bytes_rejects_wrong_lengths() -> None:
    with pytest.raises(ConfigError, match="32 bytes, got 31"):
        public_key_from_bytes(RFC8032_PUBLIC[:31])


# ------------------------------------------------------------------ `archive init` (CLI)

def test_cli_init_after_the_demo_made_the_key_reports_it_and_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """README: `archive init` after `scripts/demo`. The demo signs a checkpoint, which
    creates the key; init then says the key exists, shows its fingerprint, exits 0 and
    leaves the key files as they were."""
    import json

    from archive.api import Archive
    from archive.cli import main
    from archive.core.config import Settings

    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARCHIVE_DATABASE_URL", raising=False)
    with Archive.open(Settings.from_env()) as arc:  # what `archive demo` does last
        arc.checkpoint()
        key_dir = arc.settings.key_dir
    before = {p.name: p.read_bytes() for p in key_dir.iterdir()}
    assert main(["key", "--json"]) == 0
    fp = json.loads(capsys.readouterr().out)["fingerprint"]

    assert main(["init"]) == 0
    captured = capsys.readouterr()
    assert "already exists" in captured.out and f"fingerprint {fp}" in captured.out
    assert captured.err == ""
    assert main(["init", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["created"] is False and shown["fingerprint"] == fp
    assert {p.name: p.read_bytes() for p in key_dir.iterdir()} == before


def test_cli_init_on_a_fresh_home_creates_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from archive.cli import main

    monkeypatch.setenv("ARCHIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARCHIVE_DATABASE_URL", raising=False)
    assert main(["init", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["created"] is True and made["fingerprint"].startswith("sha256:")
    assert main(["key", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"] == made["fingerprint"]
