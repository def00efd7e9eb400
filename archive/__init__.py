"""Provenance-aware archiving: capture to WARC, hash, extract metadata, keep custody.

This module is the public API: :class:`Archive` (the façade the CLI and the pipeline
use), the result types its methods return, the offline bundle verifier, and every
exception (one tree, rooted at :class:`ArchiveError`). Everything else is
implementation, laid out along the path a capture travels (``docs/architecture.md``)
and free to change. The package is a plain library: no Dagster imports here (see
``pipelines/``).

Names other than the exceptions and the version are loaded on first use, so that
importing one low-level module (``archive.core.hashing``, the bundle verifier) does
not load the database layer behind the façade.
"""

import importlib as _importlib
import typing as _typing

from archive.core.version import SOFTWARE, SOFTWARE_NAME, __version__
from archive.errors import (
    AmbiguousHashError,
    ArchiveError,
    BrowserError,
    ConfigError,
    ConnectError,
    DatabaseError,
    DNSError,
    FetchError,
    FetchTimeoutError,
    IntegrityError,
    MetadataError,
    NotFoundError,
    ProtocolError,
    RedirectError,
    RefusedURLError,
    StorageError,
    TLSError,
    WarcFormatError,
    WorkerLost,
)

if _typing.TYPE_CHECKING:
    from archive.api import Archive
    from archive.audit.fixity import FixityReport
    from archive.audit.importer import ImportResult
    from archive.audit.reconcile import ReconcileReport
    from archive.audit.verify import Problem, VerifyReport
    from archive.capture.results import CaptureFailure, CaptureResult, Outcome
    from archive.capture.scheduler import CaptureSession
    from archive.catalog import CatalogRow
    from archive.core.config import FetchPolicy, Settings
    from archive.ledger.custody import Agent, Event, Withdrawal
    from archive.ledger.queries import (
        CaptureSummary,
        Counts,
        ListedCapture,
        RecordEntry,
        RequisiteEntry,
        Requisites,
        ShownCapture,
    )
    from archive.ledger.replayed import ReplayRecord
    from archive.metadata.store import (
        CaptureMetadata,
        ExtractedMetadata,
        MetadataVersion,
        RecordedComparison,
    )
    from archive.proof.bundle_format import BundleReport, Check
    from archive.proof.bundle_verify import verify_bundle
    from archive.proof.identity import LogIdentity
    from archive.proof.status import CustodyStatus

_LAZY = {
    "Archive": "archive.api",
    "FixityReport": "archive.audit.fixity",
    "ImportResult": "archive.audit.importer",
    "ReconcileReport": "archive.audit.reconcile",
    "Problem": "archive.audit.verify",
    "VerifyReport": "archive.audit.verify",
    "CaptureFailure": "archive.capture.results",
    "CaptureResult": "archive.capture.results",
    "Outcome": "archive.capture.results",
    "CaptureSession": "archive.capture.scheduler",
    "CatalogRow": "archive.catalog",
    "FetchPolicy": "archive.core.config",
    "Settings": "archive.core.config",
    "Agent": "archive.ledger.custody",
    "Event": "archive.ledger.custody",
    "Withdrawal": "archive.ledger.custody",
    "CaptureSummary": "archive.ledger.queries",
    "Counts": "archive.ledger.queries",
    "ListedCapture": "archive.ledger.queries",
    "RecordEntry": "archive.ledger.queries",
    "ReplayRecord": "archive.ledger.replayed",
    "RequisiteEntry": "archive.ledger.queries",
    "Requisites": "archive.ledger.queries",
    "ShownCapture": "archive.ledger.queries",
    "CaptureMetadata": "archive.metadata.store",
    "ExtractedMetadata": "archive.metadata.store",
    "MetadataVersion": "archive.metadata.store",
    "RecordedComparison": "archive.metadata.store",
    "BundleReport": "archive.proof.bundle_format",
    "Check": "archive.proof.bundle_format",
    "verify_bundle": "archive.proof.bundle_verify",
    "LogIdentity": "archive.proof.identity",
    "CustodyStatus": "archive.proof.status",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archive' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "SOFTWARE",
    "SOFTWARE_NAME",
    "Agent",
    "AmbiguousHashError",
    "Archive",
    "ArchiveError",
    "BrowserError",
    "BundleReport",
    "CaptureFailure",
    "CaptureMetadata",
    "CaptureResult",
    "CaptureSession",
    "CaptureSummary",
    "CatalogRow",
    "Check",
    "ConfigError",
    "ConnectError",
    "Counts",
    "CustodyStatus",
    "DNSError",
    "DatabaseError",
    "Event",
    "ExtractedMetadata",
    "FetchError",
    "FetchPolicy",
    "FetchTimeoutError",
    "FixityReport",
    "ImportResult",
    "IntegrityError",
    "ListedCapture",
    "LogIdentity",
    "MetadataError",
    "MetadataVersion",
    "NotFoundError",
    "Outcome",
    "Problem",
    "ProtocolError",
    "ReconcileReport",
    "RecordEntry",
    "RecordedComparison",
    "RedirectError",
    "RefusedURLError",
    "ReplayRecord",
    "RequisiteEntry",
    "Requisites",
    "Settings",
    "ShownCapture",
    "StorageError",
    "TLSError",
    "VerifyReport",
    "WarcFormatError",
    "Withdrawal",
    "WorkerLost",
    "__version__",
    "verify_bundle",
]
