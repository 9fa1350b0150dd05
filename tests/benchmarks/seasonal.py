"""False request-rate shifts over a multi-day traffic cycle, with and without the seasonal baseline.

Run: ``.venv/bin/python tests/benchmarks/seasonal.py [--days N] [--seeds N] [--step S]``
or ``.venv/bin/python tests/benchmarks/seasonal.py --weekly`` (below).

The demo shop (``daemon.demo.shop.DemoShop``, seven services, its log-normal rate noise,
no incidents) runs for ``--days`` days at ``--step`` seconds with a daily traffic cycle of
±35% (the shop's default) and ±60%. Every service's request rate goes through each detector:

- ``RobustCusum`` (what ``make_detector("request_rate")`` gave before),
- ``SeasonalCusum`` (what it gives now).

Reported per detector: SHIFTs per 100 series-hours over the whole run and after the first
day (the seasonal detector is a plain ``RobustCusum`` until it has seen a day). Then the
same series get one real step each (×0.4 or ×2 for two hours, at a seeded random time
on day 3 or later): steps detected (a SHIFT decided during the step), steps found with
their onset (a SHIFT with onset within 3 samples of the step's start), and the median
detection delay of those in samples.

``--weekly`` compares ``SeasonalCusum`` with and without its day-of-week factors on 21 days
of a synthetic 100 ± 60% daily cycle at 5-minute steps (log-normal noise 5%, seeds 0-4),
once with a smooth ±30% weekly swing and once with weekends (UTC Saturday and Sunday) at
60%: SHIFTs after the first day and after the first week (when the factors switch on).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from daemon.demo.shop import DemoShop, NoiseSettings
from detectors import Detector, EventKind, RobustCusum, SeasonalCusum

T0 = 1_790_000_000.0
DETECTORS: dict[str, Callable[[], Detector]] = {"RobustCusum": RobustCusum, "SeasonalCusum": SeasonalCusum}


def rates(seed: int, days: float, step: float, amplitude: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    shop = DemoShop(seed, T0, step, schedule=None, changes_per_hour=0.0,
                    noise=NoiseSettings(cycle_amplitude=amplitude))
    n = int(days * 86_400 / step)
    ts = T0 + step * np.arange(n)
    series: dict[str, list[float]] = {}
    for t in ts:
        for sample in shop.tick(float(t)).samples:
            if sample.signal == "request_rate":
                series.setdefault(sample.service, []).append(sample.value)
    return ts, {k: np.array(v) for k, v in series.items()}


def weekly() -> int:
    step, days = 300.0, 21
    print(f"{days} days of a 100 ± 60% daily cycle at {step:g} s, seeds 0..4: "
          "SHIFTs after day 1 / after day 8")
    for pattern in ("smooth ±30% weekly swing", "weekends at 60%"):
        for factors in (False, True):
            after_day, after_week = 0, 0
            for seed in range(5):
                rng = np.random.default_rng(seed)
                n = int(days * 86_400 / step)
                ts = T0 + step * np.arange(n)
                values = 100.0 * (1.0 + 0.6 * np.sin(2.0 * np.pi * ts / 86_400))
                values *= np.exp(rng.normal(0.0, 0.05, n))
                if pattern.startswith("smooth"):
                    values *= 1.0 + 0.3 * np.sin(2.0 * np.pi * (ts - T0) / (7 * 86_400))
                else:
                    values *= np.where((np.floor(ts / 86_400) + 3) % 7 >= 5, 0.6, 1.0)
                det = SeasonalCusum(weekly=factors)
                for t, v in zip(ts, values, strict=True):
                    event = det.update(float(t), float(v))
                    if event is not None and event.kind is EventKind.SHIFT:
                        after_day += event.detected_at >= T0 + 86_400
                        after_week += event.detected_at >= T0 + 8 * 86_400
            print(f"  {pattern:26} weekly={factors!s:5} {after_day:4d} / {after_week:4d}")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--weekly"]:
        return weekly()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--step", type=float, default=60.0)
    args = ap.parse_args(argv)
    if args.days < 3.0 or args.seeds < 1 or args.step <= 0:
        ap.error("--days must be at least 3 (steps go on day 3 or later), "
                 "--seeds at least 1, --step positive")
    print(f"{args.days:g} days at {args.step:g} s, seeds 0..{args.seeds - 1}, 7 services each")
    print(f"{'cycle':>6} {'detector':14} {'series-h':>8} {'SHIFT/100h':>10} {'after day 1':>11} "
          f"{'detected':>9} {'onset ok':>9} {'delay(med)':>10}")
    for amplitude in (0.35, 0.6):
        data = [rates(seed, args.days, args.step, amplitude) for seed in range(args.seeds)]
        for name, make in DETECTORS.items():
            hours = shifts = late = found = detected = total = 0
            delays: list[float] = []
            for seed, (ts, series) in enumerate(data):
                rng = np.random.default_rng(1000 + seed)
                for values in series.values():
                    hours += len(values) * args.step / 3600.0
                    det = make()
                    for t, v in zip(ts, values, strict=True):
                        event = det.update(float(t), float(v))
                        if event is not None and event.kind is EventKind.SHIFT:
                            shifts += 1
                            late += event.detected_at >= T0 + 86_400.0
                    # The same series with one real step on day 3 or later.
                    start = int(rng.uniform(2.0, args.days - 0.5) * 86_400 / args.step)
                    stepped = values.copy()
                    stepped[start:start + int(7200 / args.step)] *= rng.choice([0.4, 2.0])
                    det = make()
                    total += 1
                    end = ts[start] + 7200.0
                    hit = placed = False
                    for t, v in zip(ts, stepped, strict=True):
                        event = det.update(float(t), float(v))
                        if event is None or event.kind is not EventKind.SHIFT:
                            continue
                        if ts[start] <= event.detected_at < end and not hit:
                            hit = True
                        if abs(event.onset - ts[start]) <= 3 * args.step and not placed:
                            placed = True
                            delays.append((event.detected_at - ts[start]) / args.step)
                    detected += hit
                    found += placed
            late_hours = hours * (args.days - 1.0) / args.days
            delay = f"{statistics.median(delays):.0f}" if delays else "-"
            print(f"{amplitude:>5.0%} {name:14} {hours:8.0f} {100 * shifts / hours:10.2f} "
                  f"{100 * late / late_hours:11.2f} {detected:>4}/{total:<4} {found:>4}/{total:<4} "
                  f"{delay:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
