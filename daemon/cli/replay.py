"""``whatchanged replay``: a scenario folder (or, with ``--prometheus``, a window of history) through
the core; prints what would have paged as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", help="replay a scenario folder through the core and print what would have paged (JSON)",
        description="Read a scenario folder (scenario.json, metrics.csv, health.csv, changes.jsonl) and print "
                    "the incidents the daemon would have opened and paged, as one JSON document on stdout. "
                    "Logs go to stderr.")
    p.add_argument("--scenario", action="append", metavar="DIR",
                   help="scenario folder (repeat for several; one JSON document per line then)")
    p.add_argument("--prometheus", metavar="URL",
                   help="backtest instead: fetch the config's signals from this Prometheus-compatible API over "
                        "--from..--to and replay them with the stored change log (needs --config)")
    p.add_argument("--from", dest="start", metavar="TIME", help="backtest start (RFC 3339 or Unix seconds)")
    p.add_argument("--to", dest="end", metavar="TIME", help="backtest end (RFC 3339 or Unix seconds)")
    p.add_argument("--history-until", dest="history_until", metavar="TIME",
                   help="backtest: samples before TIME are history, as a live daemon's catch-up at start-up reads "
                        "them (they warm the detectors and are recorded; only incidents still open at TIME page)")
    p.add_argument("--config", metavar="FILE", help="the daemon's YAML config (signals, services, store)")
    p.add_argument("--indent", type=int, default=None, help="pretty-print the JSON with this indent")
    p.add_argument("--batches", action="store_true",
                   help="feed each timestamp's samples as one batch per signal, as the live daemon does "
                        "(vectorised detectors; the same incidents, about twice as fast)")
    p.set_defaults(func=run)


def _run_backtest(args: argparse.Namespace) -> int:
    import asyncio

    from ..config import ConfigError, load_config
    from ..core.schema import parse_ts
    from ..runtime.backtest import backtest
    from ..sources.prometheus import PrometheusError
    missing = [o for o, v in (("--config", args.config), ("--from", args.start), ("--to", args.end)) if not v]
    if missing:
        print(f"whatchanged replay: --prometheus needs {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        start, end = parse_ts(args.start), parse_ts(args.end)
        history = parse_ts(args.history_until) if args.history_until else None
    except ValueError as e:
        print(f"whatchanged replay: --from/--to/--history-until: {e}", file=sys.stderr)
        return 2
    if end <= start:
        print("whatchanged replay: --to must be after --from", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
        doc = asyncio.run(backtest(cfg, start, end, url=args.prometheus, history_until=history))
    except ConfigError as e:
        print(f"whatchanged replay: bad config: {e}", file=sys.stderr)
        return 2
    except (PrometheusError, ValueError) as e:
        print(f"whatchanged replay: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"incidents": doc["incidents"]}, indent=args.indent))
    return 0


def run(args: argparse.Namespace) -> int:
    from ..core.replay import InSteps, replay
    from ..sources.scenario import ScenarioError, load_scenario
    if args.prometheus:
        return _run_backtest(args)
    if not args.scenario:
        print("whatchanged replay: give --scenario DIR, or --prometheus URL --from T1 --to T2 --config FILE",
              file=sys.stderr)
        return 2
    dirs: list[str] = args.scenario
    show_progress = sys.stderr.isatty() and len(dirs) > 1
    for i, d in enumerate(dirs, 1):
        started = time.perf_counter()
        try:
            scenario = load_scenario(d)
            doc = replay(InSteps(scenario) if args.batches else scenario)
        except ScenarioError as e:
            print(f"whatchanged replay: {e}\n  fix the scenario folder (see shared/scenario-format.md) and retry",
                  file=sys.stderr)
            return 2
        except OSError as e:
            print(f"whatchanged replay: cannot read {d}: {e.strerror or e}", file=sys.stderr)
            return 2
        if len(dirs) == 1:
            print(json.dumps({"incidents": doc["incidents"]}, indent=args.indent))
        else:
            print(json.dumps({"scenario": d, "incidents": doc["incidents"]}))
        if show_progress:
            print(f"\r[{i}/{len(dirs)}] {scenario.name} in {time.perf_counter() - started:.1f}s",
                  end="" if i < len(dirs) else "\n", file=sys.stderr)
    return 0


