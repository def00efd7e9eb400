"""``python -m archive.cli``: the ``archive`` command."""

import sys

from archive.cli.commands import main

sys.exit(main())
