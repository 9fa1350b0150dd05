"""The ``whatchanged`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whatchanged",
        description="whatchanged asks 'what changed?' when error rates spike: it detects shifts in error, "
                    "latency and traffic online, lines them up against deploys, config, flags, dependency "
                    "health and traffic, ranks the causes with testable hypotheses, and pages once.",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log verbosity (logs go to stderr)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import replay, service
    service.add_parsers(sub)
    replay.add_parser(sub)
    for optional in ("daemon.detect", "daemon.demo.simulate", "daemon.cli_views"):
        try:
            module = __import__(optional, fromlist=["add_parser"])
        except ImportError:
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    from .logs import setup_logging
    setup_logging(args.log_level)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
