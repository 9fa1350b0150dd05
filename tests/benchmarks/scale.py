"""Scale: one replica's Engine watching 1k / 10k / 100k series at a 15 s step.

Usage: .venv/bin/python tests/benchmarks/scale.py [--series 1000 10000 100000] [--steps 5]
       [--path sample batch] [--json]

For each size and path: the detectors are restored warm from a checkpoint (the restart
path; a cold warm-up of 100k series would take minutes of the benchmark and measure
nothing new), then full steps go through the Engine on one core, timing CPU
(``time.process_time``) per step:

- ``sample``: one ``Sample`` at a time, one detector object per series (``make_detector``: the
  paging ``EnvelopeShift``, ``SeasonalCusum`` for request rates);
- ``batch``: each signal's step as one ``SampleBatch`` (what the Prometheus source hands over) into
  the signal's bank (``make_bank``): a ``DetectorBank`` of the same objects (the paging detectors
  have no vectorised form).

Memory per series is what tracemalloc sees allocated by restoring the detectors (objects,
deques or numpy rows, the engine's and the bank's dicts). "State" is the detector state
proper: the JSON of one detector's state; "beyond" is the rest (dict entries, objects,
unused rows of a bank that grew by doubling).

Arrival-to-page latency is measured separately by ``latency.py`` (a Daemon and a receiver).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from correlators.types import ServiceInfo, Topology
from daemon.core.engine import Engine, detection_factories
from daemon.core.events import Sample, SampleBatch
from detectors import SEASONAL_SIGNALS

STEP = 15.0
T0 = 1_790_000_000.0
SERVICES = [f"svc{i:03d}" for i in range(100)]


def topology() -> Topology:
    return Topology.from_services([ServiceInfo(s, "bench") for s in SERVICES])


def series_of(n: int) -> list[tuple[str, str, str]]:
    """(service, signal, series key): per-pod series spread over 100 services and two signals."""
    out = []
    for i in range(n):
        svc, sig = SERVICES[i % 100], ("error_ratio", "request_rate")[(i // 100) % 2]
        out.append((svc, sig, f"{svc}/{sig}{{pod=p{i // 200}}}"))
    return out


def value(rng: random.Random, sig: str) -> float:
    return 100 * (1 + 0.05 * rng.uniform(-1, 1)) if sig == "request_rate" else 0.005 * (1 + 0.2 * rng.uniform(-1, 1))


def warm_templates(seasonal: list[str], k: int = 40, steps: int = 90) -> dict[str, list[dict[str, Any]]]:
    """Detector states after ``steps`` quiet samples (full windows), per signal."""
    factory, _ = detection_factories(seasonal)
    rng = random.Random(1)
    out: dict[str, list[dict[str, Any]]] = {}
    for sig in ("error_ratio", "request_rate"):
        states = []
        for _ in range(k):
            d = factory(sig)
            for s in range(steps):
                d.update(T0 - (steps - s) * STEP, value(rng, sig))
            states.append(d.state_dict())
        out[sig] = states
    return out


def restore_warm(engine: Engine, ser: list[tuple[str, str, str]],
                 templates: dict[str, list[dict[str, Any]]]) -> tuple[int, int]:
    """Restore every series warm from a checkpoint; the bytes tracemalloc saw allocated before and after."""
    checkpoint = {"version": 1, "now": T0 - STEP, "health": engine.health_tracker.state_dict(),
                  "detectors": {key: {"signal": sig, "state": templates[sig][i % len(templates[sig])]}
                                for i, (_, sig, key) in enumerate(ser)}}
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine.load_state(checkpoint)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del checkpoint
    gc.collect()
    return before, after


def measure(n: int, steps: int, templates: dict[str, list[dict[str, Any]]], path: str = "sample",
            seasonal: list[str] | None = None) -> dict[str, Any]:
    seasonal = list(SEASONAL_SIGNALS) if seasonal is None else seasonal
    if path == "batch":
        return measure_batch(n, steps, templates, seasonal)
    ser = series_of(n)
    detector, banks = detection_factories(seasonal, vectorised=False)
    engine = Engine(topology(), detector_factory=detector, bank_factory=banks)
    before, after = restore_warm(engine, ser, templates)
    state_bytes = statistics.mean(len(json.dumps(s)) for ts in templates.values() for s in ts)
    rng = random.Random(7)
    cpu: list[float] = []
    detect: list[float] = []
    anomalies = 0
    for k in range(steps):
        ts = T0 + k * STEP
        batch = [Sample(ts, svc, sig, value(rng, sig), key) for svc, sig, key in ser]
        c0 = time.process_time()
        for s in batch:
            anomalies += len(engine.ingest(s).anomalies)
        engine.flush()
        cpu.append(time.process_time() - c0)
        # the detectors alone, on the same values one step later (no engine bookkeeping)
        dets = [engine.series.banks[sig]._detectors[key] for _, sig, key in ser]  # type: ignore[attr-defined]
        vals = [value(rng, sig) for _, sig, _ in ser]
        c0 = time.process_time()
        for d, v in zip(dets, vals, strict=True):
            d.update(ts + STEP / 2, v)
        detect.append(time.process_time() - c0)
    per_series = (after - before) / n
    return {
        "series": n, "steps": steps, "path": "sample", "seasonal": seasonal,
        "detector": "+".join(sorted({type(d).__name__ for d in dets})),
        "cpu_per_step_s": statistics.median(cpu), "cpu_per_step_max_s": max(cpu),
        "step_fraction": statistics.median(cpu) / STEP,
        "detector_only_per_step_s": statistics.median(detect),
        "us_per_sample": statistics.median(cpu) / n * 1e6,
        "bytes_per_series": per_series, "state_json_bytes": state_bytes,
        "bytes_beyond_state": per_series - state_bytes, "anomalies_on_quiet_data": anomalies,
    }


def measure_batch(n: int, steps: int, templates: dict[str, list[dict[str, Any]]],
                  seasonal: list[str]) -> dict[str, Any]:
    """Each signal's step as one SampleBatch through the signals' banks."""
    ser = series_of(n)
    detector, bank = detection_factories(seasonal, vectorised=True)
    engine = Engine(topology(), detector_factory=detector, bank_factory=bank)
    before, after = restore_warm(engine, ser, templates)
    banks = engine.series.banks
    # the state of a series: its detector's JSON
    per_signal = {sig: statistics.mean(len(json.dumps(t)) for t in templates[sig]) for sig in banks}
    counts = {sig: sum(1 for _, s, _ in ser if s == sig) for sig in banks}
    row_bytes = sum(per_signal[sig] * counts[sig] for sig in banks) / n
    columns = {sig: ([svc for svc, s, _ in ser if s == sig], [key for _, s, key in ser if s == sig])
               for sig in banks}
    rng = random.Random(7)
    cpu: list[float] = []
    detect: list[float] = []
    anomalies = 0
    for k in range(steps):
        ts = T0 + k * STEP
        batches = [SampleBatch(ts, sig, tuple(svcs), tuple(keys), tuple(value(rng, sig) for _ in keys))
                   for sig, (svcs, keys) in columns.items()]
        c0 = time.process_time()
        for b in batches:
            anomalies += len(engine.ingest(b).anomalies)
        engine.flush()
        cpu.append(time.process_time() - c0)
        # the banks alone, on the same kind of values one step later (no engine bookkeeping)
        vals = {sig: [value(rng, sig) for _ in keys] for sig, (_, keys) in columns.items()}
        c0 = time.process_time()
        for sig, (_, keys) in columns.items():
            banks[sig].update(ts + STEP / 2, keys, vals[sig])
        detect.append(time.process_time() - c0)
    per_series = (after - before) / n
    state = row_bytes
    return {
        "series": n, "steps": steps, "path": "batch", "seasonal": seasonal,
        "detector": "+".join(sorted({type(b).__name__ for b in banks.values()})),
        "cpu_per_step_s": statistics.median(cpu), "cpu_per_step_max_s": max(cpu),
        "step_fraction": statistics.median(cpu) / STEP,
        "detector_only_per_step_s": statistics.median(detect),
        "us_per_sample": statistics.median(cpu) / n * 1e6,
        "bytes_per_series": per_series, "state_json_bytes": state,
        "bytes_beyond_state": per_series - state, "anomalies_on_quiet_data": anomalies,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--steps", type=int, default=5, help="measured steps per size (default 5)")
    ap.add_argument("--path", nargs="+", choices=["sample", "batch"], default=["sample", "batch"],
                    help="one sample at a time, one batch per signal, or both (default)")
    ap.add_argument("--seasonal", nargs="*", default=sorted(SEASONAL_SIGNALS), metavar="SIGNAL",
                    help="signals with a learnt daily shape, as detection.seasonal (default: the product's, "
                         "request_rate; give none for no seasonal series)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    templates = warm_templates(args.seasonal)
    rows = []
    for n in args.series:
        for path in args.path:
            rows.append(measure(n, args.steps, templates, path, args.seasonal))
            gc.collect()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| series | path | CPU per 15 s step (median) | share of step | detectors alone | µs/sample "
          "| memory/series | state/series | beyond state |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['series']:,} | {r['path']} ({r['detector']}; seasonal: {', '.join(r['seasonal']) or 'none'}) "
              f"| {r['cpu_per_step_s']:.3f} s "
              f"(max {r['cpu_per_step_max_s']:.3f} s) | {100 * r['step_fraction']:.1f}% "
              f"| {r['detector_only_per_step_s']:.3f} s | {r['us_per_sample']:.1f} "
              f"| {r['bytes_per_series'] / 1024:.2f} KiB | {r['state_json_bytes'] / 1024:.2f} KiB "
              f"| {r['bytes_beyond_state'] / 1024:.2f} KiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
