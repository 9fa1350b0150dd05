"""``python -m daemon.cli``: the ``whatchanged`` command."""

import sys

from .console import main

sys.exit(main())
