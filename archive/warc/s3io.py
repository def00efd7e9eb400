"""The S3 calls of :mod:`archive.warc.s3store`: a client, one verified upload, reads.

Everything goes through boto3 (signing, retries, multipart); nothing here speaks the
protocol by hand. An upload is *verified by the server*: a file below the multipart
threshold goes in one ``PutObject`` carrying ``x-amz-checksum-sha256`` of the SHA-256
the writer computed while writing, so the server refuses bytes that differ from what
was hashed; a larger file goes up in parts (boto3's ``TransferConfig``), each part
with its own SHA-256 the server checks, after the staging file was re-read once to
prove it still hashes to the writer's digest, and the server's composite checksum is
compared with the parts' digests computed locally. A read of a missing object raises
``FileNotFoundError``, as a local file would; any other failure a StorageError.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from archive.core.hashing import digest_bytes, format_digest
from archive.errors import IntegrityError, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectOutputTypeDef

S3Errors = (ClientError, BotoCoreError)
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}


@dataclass(frozen=True)
class Uploads:
    """How files go up: one request below ``threshold`` bytes, else parts of ``chunk``."""

    threshold: int = 64 * 1024 * 1024
    chunk: int = 16 * 1024 * 1024


def make_client(endpoint: str | None, region: str | None) -> S3Client:
    """An S3 client; credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, profiles, roles). A custom endpoint (SeaweedFS, MinIO,
    another provider) is addressed by path, as they expect."""
    config = Config(
        s3={"addressing_style": "path"} if endpoint else {},
        retries={"max_attempts": 5, "mode": "standard"},
        # checksums are ours to choose: SHA-256 where we send one, nothing added
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required")
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint or None, region_name=region or None, config=config)


def b64_sha256(digest: str) -> str:
    """``sha256:<hex>`` as S3 wants it in ``x-amz-checksum-sha256``: base64 of the bytes."""
    return base64.b64encode(digest_bytes(digest)).decode("ascii")


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def read_error(exc: Exception, where: str) -> Exception:
    """An S3 failure of a read: a missing object is the FileNotFoundError a local read
    would raise; anything else (the store unreachable, refusing, failing) is a
    StorageError (exit 4) naming the object, never mistaken for a bad file."""
    code = error_code(exc)
    if code in _MISSING:
        return FileNotFoundError(errno.ENOENT, f"no such object ({code})", where)
    return StorageError(f"reading {where} from the object store failed: {exc}", path=where)


def upload(client: S3Client, path: Path, bucket: str, key: str, sha256: str, size: int,
           extra: Mapping[str, Any], uploads: Uploads) -> None:
    """Store the file at ``path`` (``size`` bytes hashing to ``sha256``) as ``key``,
    verified by the server (see the module doc). Raises ClientError/BotoCoreError or
    IntegrityError; a failed multipart upload is aborted by boto3."""
    args = {**extra, "Metadata": {"sha256": sha256}}
    if size < uploads.threshold:
        with path.open("rb") as f:
            client.put_object(Bucket=bucket, Key=key, Body=f, ContentLength=size,
                              ChecksumSHA256=b64_sha256(sha256), **args)
        return
    whole, composite = _part_digests(path, uploads.chunk)
    if whole != sha256:
        raise IntegrityError(f"{path.name}: the staged file hashes to {whole}, not the "
                             f"{sha256} computed while writing it", path=str(path))
    client.upload_file(str(path), bucket, key, ExtraArgs={**args, "ChecksumAlgorithm": "SHA256"},
                       Config=TransferConfig(multipart_threshold=uploads.threshold,
                                             multipart_chunksize=uploads.chunk))
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    stored = head.get("ChecksumSHA256")
    if head["ContentLength"] != size or (stored and stored.split("-")[0] != composite):
        raise IntegrityError(f"s3://{bucket}/{key}: the stored object ({head['ContentLength']} "
                             f"bytes, checksum {stored}) is not the {size}-byte file uploaded",
                             path=f"s3://{bucket}/{key}")


def _part_digests(path: Path, chunk: int) -> tuple[str, str]:
    """The file's SHA-256 and S3's composite checksum of its parts of ``chunk`` bytes."""
    whole, parts = hashlib.sha256(), hashlib.sha256()
    with path.open("rb") as f:
        while part := f.read(chunk):
            whole.update(part)
            parts.update(hashlib.sha256(part).digest())
    return format_digest(whole.digest()), base64.b64encode(parts.digest()).decode("ascii")


class ObjectReader(io.RawIOBase):
    """A seekable read-only view of one object: reading on from where the last read
    stopped continues one streamed GET; a seek elsewhere starts a new ranged GET. The
    size comes with the first answer (no HEAD before reading); a missing object raises
    FileNotFoundError at the first read."""

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._size: int | None = None
        self._pos = 0
        self._body: GetObjectOutputTypeDef | None = None
        self._body_pos = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END and self._size is None:
            try:
                head = self._client.head_object(Bucket=self._bucket, Key=self._key)
            except S3Errors as exc:
                raise read_error(exc, f"s3://{self._bucket}/{self._key}") from exc
            self._size = head["ContentLength"]
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos,
                io.SEEK_END: self._size or 0}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view) or (self._size is not None and self._pos >= self._size):
            return 0
        if self._body is None or self._body_pos != self._pos:
            self._drop()
            if not self._get():
                return 0
        assert self._body is not None
        try:
            data = self._body["Body"].read(len(view))
        except S3Errors as exc:
            self._drop()
            raise read_error(exc, f"s3://{self._bucket}/{self._key}") from exc
        view[:len(data)] = data
        self._pos += len(data)
        self._body_pos = self._pos
        return len(data)

    def _get(self) -> bool:
        """Start a GET at the current position; False when that is past the end."""
        where = f"s3://{self._bucket}/{self._key}"
        try:
            if self._pos == 0:
                self._body = self._client.get_object(Bucket=self._bucket, Key=self._key)
            else:
                self._body = self._client.get_object(Bucket=self._bucket, Key=self._key,
                                                     Range=f"bytes={self._pos}-")
        except S3Errors as exc:
            if error_code(exc) == "InvalidRange":
                return False
            raise read_error(exc, where) from exc
        if self._size is None:
            total = self._body.get("ContentRange", "").rpartition("/")[2]
            self._size = int(total) if total.isdigit() else \
                self._pos + self._body["ContentLength"]
        self._body_pos = self._pos
        return True

    def _drop(self) -> None:
        if self._body is not None:
            self._body["Body"].close()
        self._body = None

    def close(self) -> None:
        self._drop()
        super().close()


__all__ = ["ObjectReader", "S3Errors", "Uploads", "b64_sha256", "error_code",
           "make_client", "read_error", "upload"]
