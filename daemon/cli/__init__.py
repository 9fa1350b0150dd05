"""The ``whatchanged`` command line: argparse only, one module per command.

``main`` (the console script ``whatchanged``) lists the commands without importing them; each
command's module is imported only when it runs. A command module parses its arguments and calls
into the composition root (:mod:`daemon.config.compose`), the core or an adapter; it holds no
logic of its own that another entry point would need. Nothing else imports the CLI.
"""

from .console import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
