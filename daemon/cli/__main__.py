"""``python -m daemon.cli``: the ``whatchanged`` command."""

import sys

from .main import main

sys.exit(main())
