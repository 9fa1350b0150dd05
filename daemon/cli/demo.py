"""``whatchanged demo``: the daemon on the built-in simulated shop (SQLite, no other server).

Nothing heavy is imported here: ``whatchanged demo --help`` answers at once; the composition root
(:mod:`daemon.config.compose`) builds the demo when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..demo.kinds import DEMO_KINDS
from .options import listen_address

__all__ = ["DEMO_KINDS", "add_parser", "run"]




def run(args: argparse.Namespace) -> int:
    from ..config.compose import run_demo
    return asyncio.run(run_demo(listen=args.listen, db=args.db, seed=args.seed, step=args.step,
                                every=args.every, first_after=args.first_after, fresh=args.fresh))


def _demo_description() -> str:
    kinds = "; ".join(f"{words} ({kind})" for kind, words in DEMO_KINDS)
    return ("A simulated shop of seven services in real time, behind the same daemon as production. The last "
            "hour is backfilled so that the detectors are warm; then an incident is injected --first-after "
            "seconds after start and another every --every seconds, in this order: " + kinds + ". Each "
            "injection is logged with its truth (the cause and the affected services), so that you can check "
            "the answer on the incident page. The store is kept across restarts unless --fresh is given.")


def add_parser(sub: Any) -> None:
    d = sub.add_parser("demo", help="run the daemon on the built-in simulated shop (SQLite, no other server)",
                       description=_demo_description())
    d.add_argument("--listen", type=listen_address, default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="HTTP address (default 127.0.0.1:8080)")
    d.add_argument("--db", default="whatchanged-demo.db", metavar="PATH",
                   help="SQLite file (default %(default)s), kept across restarts")
    d.add_argument("--fresh", action="store_true", help="start from an empty store (deletes --db first)")
    d.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    d.add_argument("--step", type=float, default=10.0, help="seconds between samples (default 10)")
    d.add_argument("--first-after", type=float, default=90.0, metavar="SECONDS",
                   help="first injected incident this long after start (default 90)")
    d.add_argument("--every", type=float, default=360.0, metavar="SECONDS",
                   help="then an incident this often (default 360)")
    d.set_defaults(func=run)
