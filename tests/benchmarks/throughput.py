"""Throughput of the detector bank, beside a per-point loop over river's ADWIN.

Run: ``.venv/bin/python tests/benchmarks/throughput.py``

Measures series-points per second on one core (the process is single-threaded; numpy is
asked for one BLAS thread) for banks of 1, 1,000 and 100,000 series, the bank's state
bytes per series (numpy arrays, and the JSON checkpoint), and for comparison river's
ADWIN and our per-series detectors fed one point at a time, all in the same run.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from river.drift import ADWIN

from detectors import CusumBank, Ensemble, RobustCusum


def data(n: int, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 100.0 * (1.0 + rng.normal(0.0, 0.05, (steps, n)))
    x[steps // 2:, : max(1, n // 50)] *= 2.0     # 2% of the series shift half-way
    return x


def bank_rate(n: int, min_points: int = 3_000_000) -> tuple[float, float, float, int]:
    steps = max(200, min_points // n)
    x = data(n, steps)
    bank = CusumBank(n)
    events = 0
    start = time.perf_counter()
    for t in range(steps):
        events += len(bank.update(float(t), x[t]))
    seconds = time.perf_counter() - start
    state_json = len(json.dumps(bank.state_dict())) / n
    return n * steps / seconds, bank.state_bytes_per_series, state_json, events


def loop_rate(make: object, points: int = 100_000) -> float:
    x = data(1, points)[:, 0]
    det = make()  # type: ignore[operator]
    start = time.perf_counter()
    for t, v in enumerate(x):
        det.update(float(t), float(v))
    return points / (time.perf_counter() - start)


def adwin_rate(points: int = 100_000) -> float:
    x = data(1, points)[:, 0]
    det = ADWIN()
    start = time.perf_counter()
    for v in x:
        det.update(float(v))
    return points / (time.perf_counter() - start)


def main() -> int:
    print(f"{'detector':34} {'series':>8} {'series-points/s':>16} {'state B/series':>15} {'JSON B/series':>14}")
    for n in (1, 1_000, 100_000):
        rate, nbytes, jbytes, _ = bank_rate(n, 200_000 if n == 1 else 3_000_000)
        print(f"{'CusumBank (numpy, vectorised)':34} {n:8,d} {rate:16,.0f} {nbytes:15,.0f} {jbytes:14,.0f}")
    print(f"{'river ADWIN, per-point loop':34} {1:8,d} {adwin_rate():16,.0f}")
    for name, make in (("RobustCusum, per-point loop", RobustCusum), ("Ensemble, per-point loop", Ensemble)):
        det = make()
        for t in range(2000):
            det.update(float(t), 100.0 + (t % 7))
        size = len(json.dumps(det.state_dict()))
        print(f"{name:34} {1:8,d} {loop_rate(make, 30_000):16,.0f} {'':>15} {size:14,d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
