"""The software's name and version, as every record, manifest and event names it.

Kept apart from ``archive/__init__.py`` (the public API, which imports the whole
library) so that the lowest layer can name the software without importing the façade.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("provenance-archive")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

SOFTWARE_NAME = "provenance-archive"
SOFTWARE = f"{SOFTWARE_NAME}/{__version__}"

__all__ = ["SOFTWARE", "SOFTWARE_NAME", "__version__"]
