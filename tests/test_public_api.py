"""The public API: ``archive.__all__`` is locked (as httpx locks its own), every name
in it resolves, nothing public is left out of it, and no archive module imports Dagster."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
import types

import archive

EXPORTED = [
    "SOFTWARE", "SOFTWARE_NAME", "Agent", "AmbiguousHashError", "Archive", "ArchiveError",
    "BrowserError", "BundleReport", "CaptureFailure", "CaptureMetadata", "CaptureResult",
    "CaptureSession", "CaptureSummary", "CatalogRow", "Check", "ConfigError", "ConnectError",
    "Counts", "CustodyStatus", "DNSError", "DatabaseError", "Event", "ExtractedMetadata",
    "FetchError", "FetchPolicy", "FetchTimeoutError", "FixityReport", "ImportResult",
    "IntegrityError", "ListedCapture", "LogIdentity", "MetadataError", "MetadataVersion",
    "NotFoundError", "Outcome", "Problem", "ProtocolError", "ReconcileReport",
    "RecordEntry", "RecordedComparison", "RedirectError", "RefusedURLError", "ReplayRecord",
    "RequisiteEntry", "Requisites", "Settings", "ShownCapture", "StorageError", "TLSError",
    "VerifyReport", "WarcFormatError", "Withdrawal", "WorkerLost", "__version__",
    "verify_bundle",
]


def test_the_exported_names_are_exactly_these() -> None:
    assert archive.__all__ == EXPORTED


def test_every_exported_name_resolves_and_nothing_public_is_left_out() -> None:
    for name in archive.__all__:
        assert getattr(archive, name) is not None, name
    public = {n for n in dir(archive) if not n.startswith("_")
              and not isinstance(getattr(archive, n), types.ModuleType)}
    assert public | {"__version__"} == set(archive.__all__)


RESULT_TYPES = ["CaptureMetadata", "CaptureSummary", "CatalogRow", "Counts",
                "ExtractedMetadata", "ListedCapture", "MetadataVersion", "RecordEntry",
                "RecordedComparison", "ReplayRecord", "RequisiteEntry", "Requisites",
                "ShownCapture"]


def test_the_result_types_are_frozen_dataclasses_with_a_json_form() -> None:
    for name in RESULT_TYPES:
        cls = getattr(archive, name)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name
        assert callable(getattr(cls, "to_json", None)), name


def test_no_facade_method_returns_a_bare_dict_of_anything() -> None:
    """Issue 13: what the façade returns is a named type (a dict only as a mapping of
    ids to such types), so a caller's typo is a type error, not a KeyError at run time."""
    returns = {name: str(inspect.signature(fn).return_annotation)
               for name, fn in vars(archive.Archive).items()
               if inspect.isfunction(fn) and not name.startswith("_")}
    assert returns["show"] == "list[ShownCapture]"
    assert [n for n, r in returns.items() if "Any" in r] == []


def test_every_error_is_an_archive_error_with_an_exit_code() -> None:
    errors = [getattr(archive, n) for n in archive.__all__ if n.endswith(("Error", "Lost"))]
    assert errors and all(issubclass(e, archive.ArchiveError) for e in errors)
    assert all(isinstance(e.exit_code, int) for e in errors)


_PROBE = """
import importlib, json, pkgutil, sys
import archive
names = sorted(m.name for m in pkgutil.walk_packages(archive.__path__, "archive.")
               if ".migrations" not in m.name and not m.name.endswith(".__main__"))
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names,
                  "dagster": sorted(m for m in sys.modules if m.split(".")[0] == "dagster")}))
"""


def test_importing_every_archive_module_does_not_import_dagster() -> None:
    """The library never imports Dagster; pipelines/ adapts it (a fresh interpreter, so
    nothing the test session imported counts)."""
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          check=True)
    found = json.loads(done.stdout)
    assert "archive.api" in found["modules"] and "archive.warc.scan.scanner" in found["modules"]
    assert len(found["modules"]) > 60
    assert found["dagster"] == []
