"""``python -m archive.cli``: the ``archive`` command."""

import sys

from archive.cli.parser import main

sys.exit(main())
