"""Throughput of the banks the daemon runs: ``make_bank(signal)`` for each kind of signal.

Run: ``.venv/bin/python tests/benchmarks/throughput.py [--series 1000 10000] [--steps N] [--json]``

For each signal kind the daemon treats differently (``make_detector``: an ``EnvelopeShift`` for
an error ratio, with its 0.5 pp minimum change, and for a latency; a ``SeasonalCusum`` for the
request rate) a bank of ``--series`` series is restored warm from checkpoints of detectors that
have seen two days at a 60 s step (so a ``SeasonalCusum`` has its learnt daily shape on, as in a
daemon that has run for a while), then ``--steps`` steps are timed on one core (CPU time,
``time.process_time``):

- ``step``: each step as one ``bank.update(ts, keys, values)`` (what a Prometheus query's result
  at one step is, the live daemon's path);
- ``sample``: the same samples one ``bank.update_one`` at a time (the replay path).

Reported per kind and size: CPU µs per sample and samples per CPU-second on each path, the
events decided by kind (2% of the series step threefold for half the timed steps, and come back), and the JSON state
of one series. Values are synthetic but shaped like the signal: an error ratio of a few tenths of
a percent with counting noise, a p99 that sits on one histogram bucket and visits the next, a
request rate on a daily cycle.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from detectors import make_bank, make_detector

STEP = 60.0
T0 = 1_790_000_000.0
WARM_STEPS = 2 * 1440          # two days at a 60 s step: the seasonal shape is on
TEMPLATES = 16                 # distinct warm series; series i restores template i % 16
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5)


def _error_ratio(rng: np.random.Generator, base: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """A ratio of a few tenths of a percent with relative counting noise, never negative."""
    noise = rng.normal(0.0, 0.25, (len(ts), len(base)))
    return np.maximum(base[None, :] * (1.0 + noise), 0.0)


def _latency(rng: np.random.Generator, base: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """A p99 read off histogram buckets: its own bucket, the next one about one sample in seven."""
    up = rng.random((len(ts), len(base))) < 1 / 7
    idx = base[None, :].astype(int) + up
    return np.asarray(BUCKETS)[np.minimum(idx, len(BUCKETS) - 1)]


def _request_rate(rng: np.random.Generator, base: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """A rate on a daily cycle (100 ± 60%, shifted per series) with 5% noise."""
    phase = 2 * math.pi * (ts[:, None] / 86_400.0) + base[None, :]
    return 100.0 * (1.0 + 0.6 * np.sin(phase)) * (1.0 + rng.normal(0.0, 0.05, (len(ts), len(base))))


KINDS: dict[str, tuple[Callable[[np.random.Generator, int], np.ndarray],
                       Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]]] = {
    # signal: (per-series base drawn once, values at timestamps)
    "error_ratio": (lambda rng, n: rng.uniform(0.002, 0.02, n), _error_ratio),
    "latency_p99_seconds": (lambda rng, n: rng.integers(0, 3, n).astype(float), _latency),
    "request_rate": (lambda rng, n: rng.uniform(0.0, 2 * math.pi, n), _request_rate),
}


def warm_states(signal: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``TEMPLATES`` detector states after ``WARM_STEPS`` quiet samples, and each one's base."""
    draw, values = KINDS[signal]
    rng = np.random.default_rng(1)
    base = draw(rng, TEMPLATES)
    ts = T0 + STEP * np.arange(WARM_STEPS)
    x = values(rng, base, ts)
    dets = [make_detector(signal) for _ in range(TEMPLATES)]
    for t in range(WARM_STEPS):
        for j, d in enumerate(dets):
            d.update(float(ts[t]), float(x[t, j]))
    return base, [d.state_dict() for d in dets]


def measure(signal: str, n: int, steps: int, path: str, warm: tuple[np.ndarray, list[dict[str, Any]]],
            ) -> dict[str, Any]:
    base_t, states = warm
    keys = [f"{signal}{{pod=p{i}}}" for i in range(n)]
    bank = make_bank(signal)
    for i, key in enumerate(keys):
        bank.load(key, states[i % TEMPLATES])
    draw, values = KINDS[signal]
    rng = np.random.default_rng(2)
    base = base_t[np.arange(n) % TEMPLATES]
    ts = T0 + STEP * (WARM_STEPS + np.arange(steps))
    x = values(rng, base, ts)
    shifted = max(1, n // 50)
    x[steps // 4: 3 * steps // 4, :shifted] *= 3.0   # 2% of the series step up, then come back
    events: Counter[str] = Counter()
    cpu: list[float] = []
    for t in range(steps):
        stamp, row = float(ts[t]), x[t]
        c0 = time.process_time()
        if path == "step":
            found = [d for _, d in bank.update(stamp, keys, row)]
        else:
            found = [d for key, v in zip(keys, row.tolist(), strict=True)
                     if (d := bank.update_one(key, stamp, v)) is not None]
        cpu.append(time.process_time() - c0)
        events.update(d.kind.value for d in found)
    per_sample = sum(cpu) / (n * steps)
    sizes = [len(json.dumps(bank.state(k))) for k in keys[:: max(1, n // 200)]]
    return {
        "signal": signal, "detector": type(make_detector(signal)).__name__, "series": n, "steps": steps,
        "path": path, "us_per_sample": per_sample * 1e6, "samples_per_s": 1.0 / per_sample,
        "cpu_per_step_s": statistics.median(cpu), "events": dict(events),
        "state_json_bytes": statistics.mean(sizes),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps per size (default: about 300,000 samples, at least 40 steps)")
    ap.add_argument("--signals", nargs="+", choices=list(KINDS), default=list(KINDS))
    ap.add_argument("--path", nargs="+", choices=["step", "sample"], default=["step", "sample"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for signal in args.signals:
        warm = warm_states(signal)
        for n in args.series:
            steps = args.steps or max(40, 300_000 // n)
            rows += [measure(signal, n, steps, path, warm) for path in args.path]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| signal | detector (in `make_bank`) | series | path | µs/sample (CPU) | samples/s | CPU per step "
          "| shifts / recoveries / evidence | state JSON/series |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['signal']} | `{r['detector']}` | {r['series']:,} | {r['path']} | {r['us_per_sample']:.1f} "
              f"| {r['samples_per_s']:,.0f} | {r['cpu_per_step_s'] * 1e3:.1f} ms "
              f"| {' / '.join(str(r['events'].get(k, 0)) for k in ('shift', 'recovery', 'evidence'))} "
              f"| {r['state_json_bytes'] / 1024:.2f} KiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
