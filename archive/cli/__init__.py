"""The ``archive`` command: argument parsing, commands, text and JSON output, the demo.

``archive.cli:main`` is the console script; ``python -m archive.cli`` runs it too.
"""

from archive.cli.parser import main

__all__ = ["main"]
