"""Provenance-aware archiving: capture to WARC, hash, extract metadata, keep custody.

The package is a plain library: no Dagster imports here (see ``pipelines/``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("provenance-archive")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

SOFTWARE_NAME = "provenance-archive"
SOFTWARE = f"{SOFTWARE_NAME}/{__version__}"

__all__ = ["SOFTWARE", "SOFTWARE_NAME", "__version__"]
