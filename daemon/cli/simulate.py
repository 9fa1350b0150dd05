"""``whatchanged simulate``: write sets of simulated scenario folders.

The daemon's CLI registers it with :func:`add_parser` (which sets ``func=run``) and calls
``args.func(args)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..demo.scenario import SCENARIO_KINDS, parse_kinds, required_hours, write_set

__all__ = ["add_parser", "run"]

_PROG = "whatchanged simulate"
_MAX_HOURS = 24.0 * 14
_MAX_COUNT = 10_000


class OptionError(ValueError):
    """A bad command-line option; the message names it."""


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """The validated options of one ``simulate`` run."""

    out: Path
    seed: int
    plan: list[list[str]]
    hours: float
    step: float
    count: int
    topology: str
    services: int | None
    versions: bool = False
    decoys: int = 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``simulate`` subcommand.

    Parameters
    ----------
    subparsers
        What ``ArgumentParser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser (its defaults carry ``func=run``).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate", help="write simulated incident scenario folders",
        description="Write K simulated scenarios (scenario.json, metrics.csv, health.csv, "
                    "changes.jsonl, truth.json) in the shared scenario format.",
    )
    # Options are read as text and validated by run(), so that a bad value gives one clear line.
    parser.add_argument("--out", metavar="DIR", help="parent folder of the scenarios (required)")
    parser.add_argument("--seed", metavar="N", default="0", help="seed of the set (default 0)")
    parser.add_argument("--kinds", metavar="LIST", default=",".join(SCENARIO_KINDS),
                        help="comma-separated kinds used in turn; 'a+b' puts two incidents in one "
                             f"scenario (default: {', '.join(SCENARIO_KINDS)})")
    parser.add_argument("--hours", metavar="H", default="6", help="length of each scenario (default 6)")
    parser.add_argument("--step", metavar="S", default="30", help="seconds between samples (default 30)")
    parser.add_argument("--count", metavar="K", default=None,
                        help="number of scenarios (default: one per entry of --kinds)")
    parser.add_argument("--topology", metavar="T", default="random",
                        help="'random' (a random DAG per scenario, default) or 'shop' (the demo shop)")
    parser.add_argument("--services", metavar="N", default=None,
                        help="services per random topology (default: 6-20 at random)")
    parser.add_argument("--versions", action="store_true",
                        help="also write per-version series (metrics.csv's labels column: old and new pods side by "
                             "side while a change rolls out), for the confirm tests (default off)")
    parser.add_argument("--decoys", metavar="N", default="0",
                        help="harmless deploys of N other services at the moment of each incident's cause "
                             "(default 0)")
    parser.set_defaults(func=run)
    return parser


def _number(args: argparse.Namespace, name: str, kind: Callable[[str], Any], low: float, high: float) -> Any:
    text = getattr(args, name, None)
    try:
        value = kind(str(text))
    except ValueError:
        raise OptionError(f"--{name}: expected a number, got {text!r}") from None
    if not low <= value <= high:  # also rejects NaN
        raise OptionError(f"--{name}: must be between {low:g} and {high:g}, got {text!r}")
    return value


def _options(args: argparse.Namespace) -> SimulateOptions:
    if not getattr(args, "out", None):
        raise OptionError("--out: missing; give the folder to write the scenarios to")
    try:
        plan = parse_kinds(str(getattr(args, "kinds", ",".join(SCENARIO_KINDS))))
    except ValueError as exc:
        raise OptionError(f"--kinds: {exc}") from None
    topology = str(getattr(args, "topology", "random"))
    if topology not in {"random", "shop"}:
        raise OptionError(f"--topology: expected 'random' or 'shop', got {topology!r}")
    count = len(plan) if getattr(args, "count", None) is None else _number(args, "count", int, 1, _MAX_COUNT)
    services = None if getattr(args, "services", None) is None else _number(args, "services", int, 2, 500)
    if services is not None and topology == "shop":
        raise OptionError("--services: only applies to --topology random")
    hours, step = _number(args, "hours", float, 0.05, _MAX_HOURS), _number(args, "step", float, 1, 3600)
    if hours * 3600.0 < 20 * step:
        raise OptionError(f"--step: {step:g} s leaves fewer than 20 samples in {hours:g} h")
    needed = required_hours(max(len(kinds) for kinds in plan))
    if hours < needed:
        raise OptionError(f"--hours: {hours:g} h cannot hold the incidents of --kinds; "
                          f"give at least {needed:.2f}")
    return SimulateOptions(out=Path(args.out), seed=_number(args, "seed", int, 0, 2**63 - 1), plan=plan,
                           hours=hours, step=step, count=count, topology=topology, services=services,
                           versions=bool(getattr(args, "versions", False)),
                           decoys=_number(args, "decoys", int, 0, 50) if getattr(args, "decoys", None) else 0)


def _progress(done: int, count: int, path: Path) -> None:
    end = "\n" if done == count else ""
    print(f"\r[{done}/{count}] {path}\033[K", end=end, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Write the scenarios the options ask for.

    Parameters
    ----------
    args
        The parsed options of :func:`add_parser`'s parser.

    Returns
    -------
    int
        0 on success, 2 for a bad option (one line on stderr naming it), 1 if writing failed.
    """
    try:
        opts = _options(args)
        paths = write_set(opts.out, opts.seed, opts.plan, opts.count, opts.hours, opts.step,
                          topology=opts.topology, n_services=opts.services,
                          progress=_progress if sys.stderr.isatty() else None,
                          versions=opts.versions, decoys=opts.decoys)
    except OptionError as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{_PROG}: error: --out: cannot write {exc.filename or args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    print(f"wrote {len(paths)} scenario(s) to {opts.out}")
    return 0
