"""``whatchanged run``: the live daemon from a YAML config.

Nothing heavy is imported here (the daemon, the store, numpy): ``whatchanged run --help`` answers
at once; the composition root (:mod:`daemon.config.compose`) is imported when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .options import listen_address

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    from ..config import load_config_or_report
    from ..config.compose import run_from_config
    cfg = load_config_or_report(args.config)
    if cfg is None:
        return 2
    if args.listen:
        cfg = cfg.model_copy(update={"listen": args.listen})
    return asyncio.run(run_from_config(cfg))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the live daemon from a YAML config",
                       description="Start the daemon: poll Prometheus, watch changes and dependency health, "
                                   "detect, rank and page. A bad config is refused at start.")
    p.add_argument("--config", required=True, metavar="FILE", help="YAML config (see README.md)")
    p.add_argument("--listen", type=listen_address, default=None, metavar="HOST:PORT",
                   help="override the config's listen address")
    p.set_defaults(func=run)
