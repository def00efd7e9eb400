"""WARC files in S3-compatible object storage (``ARCHIVE_STORE_URL=s3://bucket/prefix``).

The same guarantees as :class:`~archive.warc.localstore.DirectoryStore`, on an object
store:

- **Durable before recorded.** A file is written to a local staging file
  (``$ARCHIVE_HOME/staging/<relpath>.open``), then uploaded whole under
  ``<prefix>warcs/<relpath>`` with a SHA-256 checksum the server checks
  (:func:`archive.warc.s3io.upload`); only when the server has acknowledged it does
  :meth:`S3Store.new_file` return, and only then may the database refer to it. The
  staging file is removed as soon as the object is stored: no WARC stays on local
  disk.
- **In flight until committed.** From the first byte until :meth:`release`, the
  writer holds an ``flock`` on ``staging/<relpath>.lock``; the kernel drops it if the
  writer dies. A reconciler on the same machine sees the lock; an object with no lock
  file at all (written from another machine) counts as in flight for ``grace`` after
  it was stored, longer than any commit takes.
- **Orphans are adopted or quarantined, never deleted.** A leftover staging file
  (``<relpath>.open``) is listed like a local ``.open`` file; :meth:`finish` uploads it,
  :meth:`quarantine` uploads it under ``<prefix>quarantine/``. An orphan object is
  quarantined by a server-side copy to ``<prefix>quarantine/`` and a delete of its
  name, which under Object Lock only adds a delete marker: the locked version stays.
- **Retention.** With ``retention`` set (``ARCHIVE_RETENTION``), every object is
  written with Object Lock mode ``COMPLIANCE`` and a retain-until date ``retention``
  from now: nobody, not even the bucket's root account, can delete or overwrite that
  version before then. The bucket must have Object Lock enabled (checked once).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from archive.core.hashing import sha256_file
from archive.core.timeutil import utc_now
from archive.errors import ConfigError, IntegrityError, StorageError
from archive.warc.localstore import DirectoryStore, os_message
from archive.warc.s3io import ObjectReader, S3Errors, Uploads, error_code, read_error, upload
from archive.warc.store import OPEN_SUFFIX, CountingFile, StoredFile, day_folder, warc_filename

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCK_SUFFIX = ".lock"
GRACE = timedelta(minutes=15)
RETENTION_MODE = "COMPLIANCE"
_WARC_NAMES = (".warc.gz", ".warc")
DEFAULT_UPLOADS = Uploads()


class S3Store:
    def __init__(self, client: S3Client, bucket: str, prefix: str, *, staging_dir: Path,
                 retention: timedelta | None = None, grace: timedelta = GRACE,
                 namer: Callable[[datetime, str], str] = warc_filename,
                 uploads: Uploads = DEFAULT_UPLOADS,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.staging_dir = staging_dir
        self.retention = retention
        self.grace = grace
        self.uploads = uploads
        self._namer = namer
        self._clock = clock
        self._held: dict[str, int] = {}  # relpath -> fd holding its staging lock
        self._guard = threading.Lock()
        if retention is not None:
            self._check_object_lock()

    # -- names --------------------------------------------------------------------

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, relpath: str) -> str:
        parts = PurePosixPath(relpath).parts
        if not parts or relpath.startswith("/") or any(p in ("..", ".") for p in parts):
            raise StorageError(f"refusing a path outside the store: {relpath!r}")
        return f"{self.prefix}warcs/{relpath}"

    def quarantine_key(self, name: str) -> str:
        return f"{self.prefix}quarantine/{name}"

    def locate(self, relpath: str) -> str:
        return f"s3://{self.bucket}/{self.key(relpath)}"

    def staged(self, relpath: str) -> Path:
        """The local staging path of ``relpath`` (a ``.open`` file or a ``.lock``)."""
        self.key(relpath)  # the same refusal of paths outside the store
        return self.staging_dir / relpath

    # -- writing ------------------------------------------------------------------

    @contextmanager
    def new_file(self, moment: datetime, hostname: str) -> Iterator[CountingFile]:
        name = self._namer(moment, hostname)
        rel = f"{day_folder(moment)}/{name}"
        tmp = self.staged(rel + OPEN_SUFFIX)
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            self._hold(rel)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            self.release(rel)
            raise StorageError(os_message("cannot create WARC staging file", tmp, exc),
                               path=tmp) from exc
        f = os.fdopen(fd, "wb", buffering=1 << 20)
        counting = CountingFile(f, name)
        try:
            yield counting
            f.close()
            self._upload(tmp, rel, counting.digest, counting.size)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                f.close()
            tmp.unlink(missing_ok=True)
            self.release(rel)
            if isinstance(exc, OSError):
                raise StorageError(os_message("writing WARC failed", tmp, exc),
                                   path=tmp) from exc
            raise
        tmp.unlink()  # stored: no WARC stays on local disk
        counting.stored = StoredFile(relpath=rel, name=name, sha256=counting.digest,
                                     size=counting.size)

    def copy_in(self, src: Path, relpath: str, sha256: str) -> None:
        self.staged(relpath).parent.mkdir(parents=True, exist_ok=True)
        self._hold(relpath)
        try:
            self._upload(src, relpath, sha256, src.stat().st_size)
        except BaseException as exc:
            self.release(relpath)
            if isinstance(exc, OSError):
                raise StorageError(os_message(f"cannot store a copy of {src.name}", src, exc),
                                   path=src) from exc
            raise

    def _upload(self, src: Path, relpath: str, sha256: str, size: int, *,
                key: str | None = None) -> None:
        target = key or self.key(relpath)
        try:
            upload(self.client, src, self.bucket, target, sha256, size, self._lock_args(),
                   self.uploads)
        except S3Errors as exc:
            raise StorageError(f"storing {relpath} as s3://{self.bucket}/{target} failed: "
                               f"{exc}; nothing was recorded", path=relpath) from exc
        except IntegrityError as exc:
            raise StorageError(f"{exc.message}; nothing was recorded", path=relpath) from exc

    def _lock_args(self) -> dict[str, Any]:
        if self.retention is None:
            return {}
        return {"ObjectLockMode": RETENTION_MODE,
                "ObjectLockRetainUntilDate": self._clock() + self.retention}

    def _check_object_lock(self) -> None:
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except S3Errors as exc:
            if error_code(exc) not in ("ObjectLockConfigurationNotFoundError", "NotFound"):
                raise StorageError(f"cannot read the Object Lock settings of bucket "
                                   f"{self.bucket}: {exc}") from exc
            enabled = None
        if enabled != "Enabled":
            raise ConfigError(f"ARCHIVE_RETENTION is set but bucket {self.bucket} has no "
                              "Object Lock: create the bucket with Object Lock enabled, or "
                              "unset ARCHIVE_RETENTION")

    # -- holding ------------------------------------------------------------------

    def _hold(self, relpath: str) -> None:
        lock = self.staged(relpath + LOCK_SUFFIX)
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._guard:
            self._held[relpath] = fd

    def release(self, relpath: str) -> None:
        rel = relpath.removesuffix(OPEN_SUFFIX)
        with self._guard:
            fd = self._held.pop(rel, None)
        if fd is not None:
            self.staged(rel + LOCK_SUFFIX).unlink(missing_ok=True)
            os.close(fd)

    def in_use(self, relpath: str) -> bool:
        with self.claim(relpath, cleanup=False) as free:
            return not free

    @contextmanager
    def claim(self, relpath: str, *, cleanup: bool = True) -> Iterator[bool]:
        rel = relpath.removesuffix(OPEN_SUFFIX)
        lock = self.staged(rel + LOCK_SUFFIX)
        fd = DirectoryStore.try_lock(lock)
        if fd is None and lock.exists():
            yield False  # a live writer on this machine
            return
        if fd is None and relpath == rel and not self._older_than_grace(rel):
            yield False  # perhaps a writer on another machine, before its commit
            return
        try:
            yield True
        finally:
            if fd is not None:
                if cleanup:  # the writer that left it is gone
                    lock.unlink(missing_ok=True)
                os.close(fd)

    def _older_than_grace(self, relpath: str) -> bool:
        try:
            return self._clock() - self.modified(relpath) >= self.grace
        except FileNotFoundError:
            return True

    # -- reading ------------------------------------------------------------------

    def _head(self, relpath: str) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket,
                                                                Key=self.key(relpath)))
        except S3Errors as exc:
            raise read_error(exc, self.locate(relpath)) from exc

    def exists(self, relpath: str) -> bool:
        if relpath.endswith(OPEN_SUFFIX):
            return self.staged(relpath).is_file()
        try:
            self._head(relpath)
        except FileNotFoundError:
            return False
        return True

    def size(self, relpath: str) -> int:
        if relpath.endswith(OPEN_SUFFIX):
            return self.staged(relpath).stat().st_size
        return int(self._head(relpath)["ContentLength"])

    def modified(self, relpath: str) -> datetime:
        if relpath.endswith(OPEN_SUFFIX):
            return datetime.fromtimestamp(self.staged(relpath).stat().st_mtime, UTC)
        stamp = self._head(relpath)["LastModified"]
        return cast(datetime, stamp).astimezone(UTC)

    @contextmanager
    def open(self, relpath: str) -> Iterator[BinaryIO]:
        if relpath.endswith(OPEN_SUFFIX):
            with self.staged(relpath).open("rb") as f:
                yield f
            return
        raw = ObjectReader(self.client, self.bucket, self.key(relpath))
        with io_buffered(raw) as f:
            yield f

    def read_range(self, relpath: str, offset: int, length: int) -> bytes:
        if relpath.endswith(OPEN_SUFFIX):
            with self.staged(relpath).open("rb") as f:
                f.seek(offset)
                return f.read(length)
        if length <= 0:
            return b""
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.key(relpath),
                                         Range=f"bytes={offset}-{offset + length - 1}")
            return got["Body"].read()
        except S3Errors as exc:
            if error_code(exc) == "InvalidRange":  # at or past the end, as a file reads
                return b""
            raise read_error(exc, self.locate(relpath)) from exc

    def iter_files(self) -> Iterator[str]:
        """Every WARC object, then every leftover staging file no live writer holds
        (one whose object was stored, at the same size, is removed: its upload
        finished)."""
        base = f"{self.prefix}warcs/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    rel = obj["Key"][len(base):]
                    if rel.endswith(_WARC_NAMES):
                        yield rel
        except S3Errors as exc:
            raise StorageError(f"cannot list {self.location}: {exc}") from exc
        if not self.staging_dir.exists():
            return
        for p in sorted(self.staging_dir.rglob("*" + OPEN_SUFFIX)):
            rel = p.relative_to(self.staging_dir).as_posix()
            with self.claim(rel, cleanup=False) as free:
                if free and self._uploaded(rel):
                    p.unlink()
                    continue
            yield rel

    def _uploaded(self, staged_rel: str) -> bool:
        final = staged_rel.removesuffix(OPEN_SUFFIX)
        try:
            return self.size(final) == self.size(staged_rel)
        except FileNotFoundError:
            return False

    # -- reconciling --------------------------------------------------------------

    def finish(self, relpath: str) -> str:
        final = relpath.removesuffix(OPEN_SUFFIX)
        tmp = self.staged(relpath)
        digest, size = sha256_file(tmp)
        self._upload(tmp, final, digest, size)
        tmp.unlink()
        return final

    def quarantine(self, relpath: str, name: str) -> str:
        target = name
        if self._quarantined(target):  # the same bytes were quarantined before: keep both
            target = f"{name}.{os.getpid()}-{secrets.token_hex(4)}"
        if relpath.endswith(OPEN_SUFFIX):
            tmp = self.staged(relpath)
            digest, size = sha256_file(tmp)
            self._upload(tmp, relpath, digest, size, key=self.quarantine_key(target))
            tmp.unlink()
            return target
        try:
            self.client.copy({"Bucket": self.bucket, "Key": self.key(relpath)}, self.bucket,
                             self.quarantine_key(target), ExtraArgs=self._lock_args() or None)
            self.client.delete_object(Bucket=self.bucket, Key=self.key(relpath))
        except S3Errors as exc:
            raise StorageError(f"cannot move {self.locate(relpath)} to the quarantine: "
                               f"{exc}", path=relpath) from exc
        return target

    def _quarantined(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.quarantine_key(name))
        except S3Errors:
            return False
        return True


def io_buffered(raw: ObjectReader) -> BinaryIO:
    """``raw`` behind a 1 MiB read buffer, typed as the binary stream callers expect."""
    return cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 20))


__all__ = ["GRACE", "RETENTION_MODE", "S3Store"]
