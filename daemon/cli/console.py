"""The ``whatchanged`` command line.

Each command's module is imported only when that command is used: ``whatchanged --help``
lists the commands from the table below without importing the daemon, so it answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "CommandUnavailable", "build_parser", "main"]

DESCRIPTION = ("whatchanged asks 'what changed?' when error rates spike: it detects shifts in error, latency and "
               "traffic online, lines them up against deploys, config, flags, dependency health and traffic, "
               "ranks the causes with testable hypotheses, and pages once.")

# command: (module whose registration function adds it, that function, one line of help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("daemon.cli.run", "add_parser", "run the live daemon from a YAML config"),
    "demo": ("daemon.cli.demo", "add_parser",
             "run the daemon on the built-in simulated shop (SQLite, no other server)"),
    "check-config": ("daemon.cli.check_config", "add_parser", "validate a YAML config and exit"),
    "drill": ("daemon.cli.drill", "add_parser",
              "send a marked drill page to every receiver and report each delivery"),
    "replay": ("daemon.cli.replay", "add_parser",
               "replay a scenario folder through the core and print what would have paged (JSON)"),
    "incidents": ("daemon.cli.incidents", "add_parser", "list incidents of a running daemon (open first)"),
    "incident": ("daemon.cli.incidents", "add_parser", "show one incident of a running daemon"),
    "simulate": ("daemon.cli.simulate", "add_parser", "write simulated incident scenario folders"),
    "detect": ("daemon.cli.detect", "add_parser",
               "score timestamp,value CSV files online (Numenta Anomaly Benchmark format)"),
}


class CommandUnavailable(Exception):
    """A command's module failed to import: never a command silently missing from the parser."""

    def __init__(self, command: str, module: str, error: ImportError) -> None:
        missing = f" (missing: {error.name})" if error.name else ""
        super().__init__(f"the {command!r} command is unavailable: importing {module} failed: {error}{missing}. "
                         "Reinstall whatchanged with its dependencies (pip install whatchanged, or "
                         "pip install -e . in a checkout) and retry.")
        self.command, self.module = command, module


def _top() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog="whatchanged", description=DESCRIPTION)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log verbosity (logs go to stderr)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser, sub


def build_parser(only: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """The parser with every command; ``lazy``: only ``only``'s real parser (if any), the others listed by name."""
    parser, sub = _top()
    wanted = list(COMMANDS) if not lazy else ([only] if only in COMMANDS else [])
    for name in wanted:
        if name in sub.choices:
            continue
        module, func, _ = COMMANDS[name]
        try:
            loaded = importlib.import_module(module)
        except ImportError as e:
            raise CommandUnavailable(name, module, e) from e
        getattr(loaded, func)(sub)
    for name, (_, _, text) in COMMANDS.items():  # the rest: listed in the help, not loaded
        if name not in sub.choices:
            sub.add_parser(name, help=text, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (skipping ``--log-level VALUE``), or None."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--log-level":
            skip = True
            continue
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_command_of(argv), lazy=True)
    except CommandUnavailable as e:
        print(f"whatchanged: {e}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    from ..telemetry.logs import setup_logging  # after parsing: --help answers without it
    setup_logging(args.log_level)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
