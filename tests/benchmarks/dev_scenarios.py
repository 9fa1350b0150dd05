"""Detection delay and false alarms of ``detectors.make_detector`` on the dev scenarios.

Run: ``.venv/bin/python tests/benchmarks/dev_scenarios.py [--detector NAME] [SCENARIO_DIR ...]``
(default: every folder under ``../shared/scenarios/dev``; ``--detector`` names a class in
``detectors`` to compare, with its default settings and the factory's per-signal
``min_absolute_change``, instead of ``make_detector``: ``EnvelopeShift``, ``SeasonalCusum``
or ``RobustCusum``).

For each scenario every (service, signal) series gets its own detector from
``make_detector(signal)``. Reported:

- ``delay``: for each truth service, samples from the true onset to the first SHIFT
  detected at or after ``onset - 10 min`` on any of its signals (``-`` if none);
  ``onset_err``: that SHIFT's estimated onset minus the true onset, in samples;
- ``quiet``: SHIFTs in scenarios whose truth has no incident (every one is a false alarm);
- ``early``: SHIFTs with onset more than 10 minutes before the first true onset
  (non-incident period of incident scenarios);
- ``other``: SHIFTs after the onset on services the truth does not list (informative:
  they may be real knock-on effects).
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import detectors
from detectors import Detection, EventKind, make_detector
from detectors.factory import MIN_ABSOLUTE_CHANGE

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT.parent / "shared" / "scenarios" / "dev"
if not DEFAULT_DIR.exists():
    DEFAULT_DIR = Path("/work/shared/scenarios/dev")
SLACK_SECONDS = 600.0
DETECTORS = ("EnvelopeShift", "SeasonalCusum", "RobustCusum")


def run_scenario(folder: Path, factory: Callable[[str], Any] = make_detector) -> dict[tuple[str, str], list[Detection]]:
    running: dict[tuple[str, str], Any] = {}
    events: dict[tuple[str, str], list[Detection]] = defaultdict(list)
    with open(folder / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["service"], row["signal"])
            det = running.get(key)
            if det is None:
                det = running[key] = factory(row["signal"])
            event = det.update(float(row["timestamp"]), float(row["value"]))
            if event is not None:
                events[key].append(event)
    return events


def main(argv: list[str]) -> int:
    factory: Callable[[str], Any] = make_detector
    if argv[:1] == ["--detector"]:
        if len(argv) < 2 or argv[1] not in DETECTORS:
            print(f"--detector: expected one of {', '.join(DETECTORS)}", file=sys.stderr)
            return 2
        cls = getattr(detectors, argv[1])

        def factory(signal: str) -> Any:
            return cls(min_absolute_change=MIN_ABSOLUTE_CHANGE.get(signal, 0.0))
        argv = argv[2:]
    folders = [Path(a) for a in argv] or sorted(p for p in DEFAULT_DIR.iterdir() if p.is_dir())
    delays: list[float] = []
    onset_errs: list[float] = []
    missed = quiet_total = early_total = other_total = 0
    print(f"{'scenario':26} {'delay(samples) per truth service':48} {'onset_err':>9} {'quiet':>5} {'early':>5} "
          f"{'other':>5}")
    for folder in folders:
        meta = json.loads((folder / "scenario.json").read_text())
        truth = json.loads((folder / "truth.json").read_text())["incidents"]
        step = float(meta["step_seconds"])
        events = run_scenario(folder, factory)
        shifts = [(k, e) for k, evs in events.items() for e in evs if e.kind is EventKind.SHIFT]
        quiet = early = other = 0
        cells: list[str] = []
        errs: list[float] = []
        if not truth:
            quiet = len(shifts)
        else:
            first_onset = min(float(i["onset"]) for i in truth)
            truth_services = {s for i in truth for s in i["services"]}
            early = sum(1 for _, e in shifts if e.onset < first_onset - SLACK_SECONDS)
            other = sum(1 for (svc, _), e in shifts
                        if svc not in truth_services and e.onset >= first_onset - SLACK_SECONDS)
            for inc in truth:
                onset = float(inc["onset"])
                for svc in inc["services"]:
                    hits = [e for (s, _), e in shifts if s == svc and e.detected_at >= onset - SLACK_SECONDS]
                    if not hits:
                        missed += 1
                        cells.append("-")
                        continue
                    first = min(hits, key=lambda e: e.detected_at)
                    d = (first.detected_at - onset) / step
                    delays.append(d)
                    err = (first.onset - onset) / step
                    errs.append(err)
                    onset_errs.append(err)
                    cells.append(f"{d:.0f}")
        quiet_total += quiet
        early_total += early
        other_total += other
        med_err = f"{statistics.median(errs):+.0f}" if errs else "-"
        print(f"{meta['name']:26} {' '.join(cells)[:48]:48} {med_err:>9} {quiet:5d} {early:5d} {other:5d}")
    print()
    if delays:
        print(f"truth services detected: {len(delays)}/{len(delays) + missed}; "
              f"median delay {statistics.median(delays):.1f} samples; "
              f"median |onset error| {statistics.median(abs(e) for e in onset_errs):.1f} samples; "
              f"onset within 2 samples: {sum(abs(e) <= 2 for e in onset_errs)}/{len(onset_errs)}")
    print(f"SHIFTs on quiet scenarios: {quiet_total}; before onset (non-incident periods): {early_total}; "
          f"on non-truth services after onset: {other_total}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
