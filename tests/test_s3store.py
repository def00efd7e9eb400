"""What only the object store does: the server checks each upload's SHA-256, large
files go up in parts, Object Lock retention, the grace period for other machines'
writers, orphan objects quarantined; and a capture on S3 end to end: verify, bundle,
import, metadata, and ``archive serve`` reading single records by range."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from helpers import free_port
from servekit import serving
from servers import TestServer, article_html
from storefixtures import ObjectStore
from test_reconcile import assert_invariants
from warcio.archiveiterator import ArchiveIterator

from archive.api import Archive
from archive.cli.parser import main
from archive.core.config import Settings
from archive.core.hashing import sha256_bytes, sha256_stream
from archive.errors import ConfigError, StorageError
from archive.proof.bundle_verify import verify_bundle
from archive.serve.memento import timestamp
from archive.warc.s3io import Uploads, make_client
from archive.warc.s3store import S3Store

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def s3store(os_: ObjectStore, tmp_path: Path, *, bucket: str | None = None,
            **kwargs: object) -> S3Store:
    return S3Store(os_.client(), bucket or os_.bucket, f"t-{tmp_path.name[-20:]}",
                   staging_dir=tmp_path / "staging", **kwargs)  # type: ignore[arg-type]


def test_the_server_refuses_bytes_that_do_not_match_their_checksum(
        objectstore: ObjectStore, tmp_path: Path) -> None:
    store = s3store(objectstore, tmp_path)
    src = tmp_path / "a.warc.gz"
    src.write_bytes(b"the bytes we send" * 100)
    wrong = sha256_bytes(b"the bytes we hashed")
    with pytest.raises(StorageError, match="BadDigest") as err:
        store.copy_in(src, "2026/01/02/a.warc.gz", wrong)
    assert "nothing was recorded" in str(err.value)
    assert not store.exists("2026/01/02/a.warc.gz") and not store.in_use("2026/01/02/a.warc.gz")
    store.copy_in(src, "2026/01/02/a.warc.gz", sha256_bytes(src.read_bytes()))  # the right one
    assert store.read_range("2026/01/02/a.warc.gz", 0, 9) == b"the bytes"


def test_a_large_file_goes_up_in_parts_each_checked(objectstore: ObjectStore,
                                                    tmp_path: Path) -> None:
    mib = 1024 * 1024
    store = s3store(objectstore, tmp_path, uploads=Uploads(threshold=5 * mib, chunk=5 * mib))
    body = hashlib.sha256(b"seed").digest() * (11 * mib // 32)  # 11 MiB: 3 parts
    with store.new_file(NOW, "host") as f:
        f.write(body)
    rel = f.stored.relpath  # type: ignore[union-attr]
    head = store.client.head_object(Bucket=store.bucket, Key=store.key(rel),
                                    ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"]["sha256"] == sha256_bytes(body)
    parts = [body[i:i + 5 * mib] for i in range(0, len(body), 5 * mib)]
    composite = base64.b64encode(hashlib.sha256(b"".join(
        hashlib.sha256(p).digest() for p in parts)).digest()).decode()
    assert head["ChecksumSHA256"] == f"{composite}-3"  # the parts' SHA-256, composed
    with store.open(rel) as fh:
        assert sha256_stream(fh) == (sha256_bytes(body), len(body))
    assert not list((tmp_path / "staging").rglob("*.open"))
    # and the server checks each part: one whose bytes differ from its checksum is refused
    up = store.client.create_multipart_upload(Bucket=store.bucket, Key=store.key("p.warc.gz"),
                                              ChecksumAlgorithm="SHA256")
    wrong = base64.b64encode(hashlib.sha256(b"not this part").digest()).decode()
    try:
        with pytest.raises(ClientError, match="BadDigest"):
            store.client.upload_part(Bucket=store.bucket, Key=store.key("p.warc.gz"),
                                     UploadId=up["UploadId"], PartNumber=1, Body=parts[0],
                                     ChecksumSHA256=wrong)
    finally:
        store.client.abort_multipart_upload(Bucket=store.bucket, Key=store.key("p.warc.gz"),
                                            UploadId=up["UploadId"])


def test_retention_locks_each_object_so_it_cannot_be_deleted(objectstore: ObjectStore,
                                                             tmp_path: Path) -> None:
    store = s3store(objectstore, tmp_path, retention=timedelta(days=1))
    with store.new_file(NOW, "host") as f:
        f.write(b"evidence")
    key = store.key(f.stored.relpath)  # type: ignore[union-attr]
    got = store.client.get_object_retention(Bucket=store.bucket, Key=key)["Retention"]
    assert got["Mode"] == "COMPLIANCE"
    until = got["RetainUntilDate"]
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(days=1)
    version = store.client.head_object(Bucket=store.bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        store.client.delete_object(Bucket=store.bucket, Key=key, VersionId=version)
    assert store.client.get_object(Bucket=store.bucket, Key=key,
                                   VersionId=version)["Body"].read() == b"evidence"


def test_retention_on_a_bucket_without_object_lock_is_refused(objectstore: ObjectStore,
                                                              tmp_path: Path) -> None:
    client = objectstore.client()
    try:
        client.create_bucket(Bucket="no-lock")
    except ClientError as exc:
        assert "BucketAlready" in str(exc)
    with pytest.raises(ConfigError, match="no Object Lock"):
        s3store(objectstore, tmp_path, bucket="no-lock", retention=timedelta(days=1))


def test_an_unrecorded_object_without_a_writer_here_waits_out_the_grace_period(
        objectstore: ObjectStore, tmp_path: Path) -> None:
    """A writer on another machine holds no lock here: its object is in flight for
    ``grace`` after it was stored, then an orphan like any other."""
    store = s3store(objectstore, tmp_path)
    with store.new_file(datetime.now(UTC), "host") as f:
        f.write(b"x")
    rel = f.stored.relpath  # type: ignore[union-attr]
    (tmp_path / "staging" / (rel + ".lock")).unlink()  # as seen from another machine
    assert store.in_use(rel)
    store.grace = timedelta(0)
    assert not store.in_use(rel)


def test_an_orphan_object_that_is_no_warc_is_quarantined_in_the_bucket(
        objectstore: ObjectStore, tmp_path: Path) -> None:
    settings = objectstore.settings(tmp_path / "home", f"sqlite:///{tmp_path / 'c.sqlite'}")
    with Archive.open(settings) as arc:
        store: S3Store = arc.store  # type: ignore[assignment]
        store.grace = timedelta(0)
        body = b"not a WARC file"
        store.client.put_object(Bucket=store.bucket, Key=store.key("2026/01/02/x.warc.gz"),
                                Body=body)
        report = arc.reconcile()
        (q,) = report.quarantined
        assert q["path"] == "2026/01/02/x.warc.gz" and q["sha256"] == sha256_bytes(body)
        moved = store.client.get_object(Bucket=store.bucket,
                                        Key=store.quarantine_key(q["quarantined_as"]))
        assert moved["Body"].read() == body
        assert list(store.iter_files()) == []
        assert_invariants(arc)
        assert not arc.reconcile().changed


def test_store_url_and_retention_settings() -> None:
    s = Settings.from_env({"ARCHIVE_STORE_URL": "s3://my-bucket/some/prefix",
                           "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_REGION": "eu-west-1",
                           "ARCHIVE_RETENTION": "P1Y"})
    assert (s.store_url, s.store_endpoint, s.store_region) == \
        ("s3://my-bucket/some/prefix", "http://127.0.0.1:1", "eu-west-1")
    assert s.retention == timedelta(days=365)
    assert Settings.from_env({"ARCHIVE_RETENTION": "30d"}).retention == timedelta(days=30)
    for bad in ({"ARCHIVE_STORE_URL": "https://bucket/x"}, {"ARCHIVE_STORE_URL": "s3://A_B"},
                {"ARCHIVE_RETENTION": "thirty days"}, {"ARCHIVE_RETENTION": "0d"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


def test_retention_without_an_object_store_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env({"ARCHIVE_HOME": str(tmp_path), "ARCHIVE_RETENTION": "30d"})
    with pytest.raises(ConfigError, match="Object Lock"):
        Archive.open(settings)


def test_make_client_talks_to_the_endpoint_it_is_given(objectstore: ObjectStore) -> None:
    client = make_client(objectstore.env["AWS_ENDPOINT_URL"], "us-east-1")
    assert objectstore.bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]


# --------------------------------------------------------------------------- end to end

def _get(origin: str, path: str) -> tuple[int, bytes]:
    host, port = origin.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_capture_verify_bundle_import_and_serve_a_record_from_the_object_store(
        objectstore: ObjectStore, tmp_path: Path, http_server: TestServer) -> None:
    settings = objectstore.settings(tmp_path / "home", None, allow_private_networks=True,
                                    deadline=10.0)
    url = http_server.add_page("/s3/story", article_html(title="Stored in a bucket"))
    with Archive.open(settings) as arc:
        (cap,) = arc.capture([url])
        assert cap.warc_path.startswith(f"s3://{objectstore.bucket}/")
        arc.extract_metadata_many([cap.capture_id])
        arc.checkpoint()
        report = arc.verify(None, deep=True)
        assert report.ok, report.problems
        fixity = arc.fixity()
        assert fixity.ok == fixity.checked > 0 and not fixity.failures
        bundle = arc.bundle(cap.capture_id)
        assert verify_bundle(bundle, trusted_key=arc.identity().fingerprint).ok
        (shown,) = arc.show(cap.capture_id)
        warc = tmp_path / "one.warc.gz"
        warc.write_bytes(arc.record_members(shown))
        imported = arc.import_warc(warc)
        assert imported.captures and arc.verify(None, deep=True).ok
        assert not list(settings.staging_dir.rglob("*.warc.gz*"))  # nothing left on disk
        ts = timestamp(next(r.date for r in arc.records_for_uri(url)
                            if r.capture_id == cap.capture_id))
    with serving(settings) as run:
        status, body = _get(run.replay, f"/web/{ts}/{url}")
        assert status == 200 and b"Stored in a bucket" in body
        status, body = _get(run.app, f"/c/{cap.capture_id}/warc")
        ids = [r.rec_headers.get_header("WARC-Record-ID")
               for r in ArchiveIterator(io.BytesIO(body))]
        assert status == 200 and ids == [r.record_id for r in shown.records]


# --------------------------------------------------------------------------- FAULTS 49

def _ingested(objectstore: ObjectStore, tmp_path: Path) -> tuple[Archive, str]:
    settings = objectstore.settings(tmp_path / "home", f"sqlite:///{tmp_path / 'c.sqlite'}")
    arc = Archive.open(settings)
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"a document in a bucket\n" * 40)
    (res,) = arc.ingest([doc])
    rel = res.warc_path.removeprefix(f"s3://{objectstore.bucket}/").split("/warcs/", 1)[1]
    return arc, rel


def test_an_object_deleted_or_altered_in_the_bucket_is_named_by_verify_and_fixity(
        objectstore: ObjectStore, tmp_path: Path) -> None:
    arc, rel = _ingested(objectstore, tmp_path)
    store: S3Store = arc.store  # type: ignore[assignment]
    with arc:
        assert arc.verify(None).ok
        key = store.key(rel)
        original = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
        flipped = original[:100] + bytes([original[100] ^ 1]) + original[101:]
        store.client.put_object(Bucket=store.bucket, Key=key, Body=flipped)
        problems = arc.verify(None).problems  # the file, and the record the flip hit
        assert {(p.kind, p.path) for p in problems} == {("file-changed", rel),
                                                        ("record-changed", rel)}
        store.client.delete_object(Bucket=store.bucket, Key=key)
        problems = arc.verify(None).problems
        assert [(p.kind, p.path) for p in problems] == [("file-missing", rel)]
        fixity = arc.fixity()
        assert [(f["path"], f["state"]) for f in fixity.failures] == [(rel, "missing")]


def test_an_unreachable_store_is_one_clear_line_and_nothing_is_recorded(
        objectstore: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    arc, _ = _ingested(objectstore, tmp_path)
    arc.close()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("ARCHIVE_HOME", str(arc.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", arc.settings.database_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", arc.settings.store_url or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    doc = tmp_path / "second.txt"
    doc.write_bytes(b"never stored\n")
    for argv in (["ingest", str(doc)], ["verify"], ["fixity"]):
        assert main(argv) == StorageError.exit_code, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "127.0.0.1" in err or "object store" in err, err
    monkeypatch.setenv("AWS_ENDPOINT_URL", objectstore.env["AWS_ENDPOINT_URL"])
    with Archive.open(Settings.from_env()) as again:
        assert again.verify(None, deep=True).ok  # the first capture, and nothing else
        assert again.count_captures() == 1
        assert not list(again.settings.staging_dir.rglob("*.open"))
