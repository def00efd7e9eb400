"""The store an archive's settings name: the one place a :class:`WarcStore` is chosen.

``ARCHIVE_STORE_URL`` unset: the local folder ``$ARCHIVE_HOME/warcs``
(:class:`~archive.warc.localstore.DirectoryStore`). ``s3://bucket/prefix``: that
bucket (:class:`~archive.warc.s3store.S3Store`), reached at ``AWS_ENDPOINT_URL`` in
``AWS_REGION`` with boto3's usual credentials, files staged in
``$ARCHIVE_HOME/staging`` and written under Object Lock when ``ARCHIVE_RETENTION`` is
set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from archive.core.config import Settings
from archive.errors import ConfigError
from archive.warc.localstore import DirectoryStore
from archive.warc.store import WarcStore, warc_filename


def open_store(settings: Settings, *,
               namer: Callable[[datetime, str], str] | None = None) -> WarcStore:
    """The store ``settings`` name (see the module doc)."""
    name = namer or warc_filename
    if settings.store_url is None:
        if settings.retention is not None:
            raise ConfigError("ARCHIVE_RETENTION needs an object store with Object Lock "
                              "(ARCHIVE_STORE_URL=s3://...); a local folder cannot enforce it")
        return DirectoryStore(settings.warc_dir, quarantine_dir=settings.quarantine_dir,
                              namer=name)
    from archive.warc.s3io import make_client
    from archive.warc.s3store import S3Store

    bucket, _, prefix = settings.store_url.removeprefix("s3://").partition("/")
    return S3Store(make_client(settings.store_endpoint, settings.store_region), bucket,
                   prefix, staging_dir=settings.staging_dir, retention=settings.retention,
                   namer=name)


__all__ = ["open_store"]
