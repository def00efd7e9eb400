"""Provenance-aware archiving: capture to WARC, hash, extract metadata, keep custody.

The package is a plain library: no Dagster imports here (see ``pipelines/``).
"""

from archive.core.version import SOFTWARE, SOFTWARE_NAME, __version__

__all__ = ["SOFTWARE", "SOFTWARE_NAME", "__version__"]
