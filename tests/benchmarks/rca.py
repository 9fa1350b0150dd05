"""Root-cause ranking benchmark: whatchanged's ranking beside the naive 'most recent change'.

Usage: .venv/bin/python tests/benchmarks/rca.py [--batches] [SCENARIO_SET_DIR ...]
(default: ../shared/scenarios/dev; in a clone without it, simulated sets A and B of docs/ranking.md,
written once with ``whatchanged simulate`` under .bench/). ``--batches`` replays each step's samples as one batch per
signal (the live daemon's path into the signals' banks) instead of one sample at a time. Both rankings are scored on
the same replay, so detection is shared and only the ordering of causes differs. "without confirm tests" is the
order the evidence alone gave in that same replay (``ranked_without_tests``), before the tests on the scenario's
per-version series re-ranked it; the last line counts how often a test confirmed or refuted the true cause and the
other candidates.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from daemon.core.replay import InSteps, replay
from daemon.sources.scenario import load_scenario
from tests.benchmarks.evaluate import (
    TestTally,
    find_scenario_set,
    load_truth,
    naive_rank_of,
    score_scenario,
    summarise,
    tally_tests,
    untested_rank_of,
)

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".bench"
# simulated sets A and B of docs/ranking.md: (folder, ``whatchanged simulate`` options)
SIMULATED = (
    ("s301", ["--seed", "301", "--step", "30", "--count", "16", "--services", "20"]),
    ("s302", ["--seed", "302", "--step", "15", "--kinds",
              "callee_deploy+slow_creep,bad_flag+dependency_down,traffic_spike+callee_deploy,bad_deploy,bad_config,quiet"]),
)


def default_sets() -> list[Path]:
    """The dev set when this checkout has it; otherwise simulated sets, generated on first use."""
    dev = find_scenario_set("dev")
    if dev is not None:
        return [dev]
    from daemon.cli import main as whatchanged
    out = []
    for name, options in SIMULATED:
        target = BENCH / name
        if not any(target.glob("*/scenario.json")):
            print(f"no dev scenario set here (../shared/scenarios/dev): writing {target} with "
                  f"whatchanged simulate {' '.join(options)}", file=sys.stderr)
            if whatchanged(["--log-level", "WARNING", "simulate", "--out", str(target), *options]) != 0:
                raise SystemExit(f"whatchanged simulate failed for {target}")
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="*", type=Path, default=None)
    ap.add_argument("--verbose", "-v", action="store_true", help="one line per scenario")
    ap.add_argument("--batches", action="store_true", help="each step's samples as one batch per signal")
    args = ap.parse_args(argv)
    if not args.sets:
        args.sets = default_sets()
    dirs = sorted(d for s in args.sets for d in ([s] if (s / "scenario.json").exists() else s.iterdir())
                  if (d / "scenario.json").exists())
    if not dirs:
        print(f"no scenario folders under {', '.join(map(str, args.sets))}", file=sys.stderr)
        return 2
    ours, naive, untested, took = [], [], [], []
    tally = TestTally()
    tty = sys.stderr.isatty()
    for i, d in enumerate(dirs, 1):
        sc = load_scenario(d)
        t0 = time.perf_counter()
        doc = replay(InSteps(sc) if args.batches else sc)
        took.append(time.perf_counter() - t0)
        truth = load_truth(d)
        changes = [json.loads(line) for line in (d / "changes.jsonl").read_text().splitlines() if line.strip()]
        ours.append(score_scenario(sc.name, truth, doc["incidents"]))
        naive.append(score_scenario(sc.name, truth, doc["incidents"], naive_rank_of(changes)))
        untested.append(score_scenario(sc.name, truth, doc["incidents"], untested_rank_of))
        tally_tests(truth, doc["incidents"], tally)
        meta = json.loads((d / "scenario.json").read_text())
        days = max(0.0, float(meta["end"]) - float(meta["start"])) / 86400.0
        ours[-1].days = naive[-1].days = untested[-1].days = days
        if args.verbose:
            print(f"{sc.name:32s} truth={len(truth)} ours ranks={ours[-1].ranks} naive ranks={naive[-1].ranks} "
                  f"false_pages={ours[-1].false_pages} ttp={ours[-1].time_to_page} ({took[-1]:.1f}s)")
        if tty:
            print(f"\r[{i}/{len(dirs)}] {sc.name}", end="", file=sys.stderr)
    if tty:
        print(file=sys.stderr)
    print(f"{len(dirs)} scenarios, {sum(s.truth for s in ours)} true incidents, replay {sum(took):.1f}s total, "
          f"{max(took):.1f}s slowest")
    days = summarise(ours).days
    print(f"{days:.1f} system-days replayed; 'paged' is recall counting only paged incidents, 'false/day' false "
          f"pages per system-day")
    print(f"{'ranking':28s} {'hit@1':>6s} {'hit@3':>6s} {'recall':>6s} {'paged':>6s} {'false':>6s} {'false/day':>9s} "
          f"{'quiet':>6s} {'ttp(med)':>9s}")
    rows = [("whatchanged", ours), ("  without confirm tests", untested), ("naive most-recent-change", naive)]
    for label, scores in rows:
        s = summarise(scores)
        ttp = f"{s.median_time_to_page:.0f}s" if s.median_time_to_page is not None else "-"
        per_day = f"{s.false_per_day:.2f}" if s.false_per_day is not None else "-"
        print(f"{label:28s} {s.hit1:6.2f} {s.hit3:6.2f} {s.recall:6.2f} {s.paged_recall:6.2f} {s.false_pages:6d} "
              f"{per_day:>9s} {s.quiet_false_pages:6d} {ttp:>9s}")
    print(f"confirm tests on {tally.incidents} matched incidents: true cause tested {tally.true_tested}, "
          f"confirmed {tally.true_confirmed}, refuted {tally.true_refuted}; other candidates tested "
          f"{tally.decoys_tested}, refuted {tally.decoys_refuted}, confirmed {tally.decoys_confirmed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
