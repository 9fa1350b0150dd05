"""Time from a sample's arrival to the page, measured in the running Daemon with a local receiver.

Usage: .venv/bin/python tests/benchmarks/latency.py [--series 1000 10000] [--pace 1.0] [--path sample|batch] [--json]

The daemon watches N series (restored warm from a checkpoint), a source hands it one full
step every ``--pace`` seconds (15 s steps, compressed), and from one step on the error ratio
of checkout and frontend jumps. Latency = when the receiver (an HTTP webhook on loopback)
accepted the trigger page minus when the source handed over the step the page was decided
on. Detection itself needs a few bad steps (CUSUM evidence), reported separately in steps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from daemon.core.events import Event, Sample, SampleBatch
from daemon.notify.webhook import WebhookNotifier
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from detectors import SEASONAL_SIGNALS
from tests.benchmarks.scale import STEP, T0, value, warm_templates
from tests.daemon.helpers import SHOP
from tests.resilience.harness import QueueSource
from tests.resilience.receiver import Receiver

SVCS = ("frontend", "checkout", "payments", "search")
BAD_FROM = 3


def series(n: int) -> list[tuple[str, str, str]]:
    out = [(s, "error_ratio", "") for s in SVCS]  # the service-level series (key service/signal)
    for i in range(n - len(out)):
        svc, sig = SVCS[i % 4], ("error_ratio", "request_rate")[(i // 4) % 2]
        out.append((svc, sig, f"{svc}/{sig}{{pod=p{i}}}"))
    return out


def as_batches(samples: list[Sample]) -> list[Event]:
    """One SampleBatch per signal, as a query's result."""
    out: list[Event] = []
    for sig in sorted({s.signal for s in samples}):
        out.append(SampleBatch.of([s for s in samples if s.signal == sig]))
    return out


async def one(n: int, pace: float, templates: dict[str, Any], path: str = "sample") -> dict[str, Any]:
    ser = series(n)
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp}/lat.db")
        async with Receiver() as rx:
            src = QueueSource()
            d = Daemon(store=store, topology=SHOP, sources=[src], step=STEP,
                       notifiers={"hook": WebhookNotifier("hook", rx.url)}, checkpoint_every=3600,
                       vectorised=path == "batch")
            d.engine.load_state({"version": 1, "now": T0 - STEP, "health": d.engine.health_tracker.state_dict(),
                                 "detectors": {(k or f"{s}/{g}"): {"signal": g, "state": templates[g][i % 40]}
                                               for i, (s, g, k) in enumerate(ser)}})
            d.restore = _no_restore  # type: ignore[method-assign]  # keep the warm engine
            task = asyncio.create_task(d.run())
            rng = random.Random(3)
            arrival: dict[float, float] = {}
            step_cpu: list[float] = []
            for k in range(40):
                ts = T0 + k * STEP
                batch = [Sample(ts, s, g, (0.12 if k >= BAD_FROM and g == "error_ratio" and not key
                                           and s in ("checkout", "frontend") else value(rng, g)), key)
                         for s, g, key in ser]
                began = time.perf_counter()
                arrival[ts] = began
                src.feed(as_batches(batch) if path == "batch" else batch)
                while not (src.q.empty() and d.queue.empty()):
                    await asyncio.sleep(0.005)
                step_cpu.append(time.perf_counter() - began)
                if rx.accepted:
                    break
                await asyncio.sleep(max(0.0, pace - (time.perf_counter() - began)))
            for _ in range(200):
                if rx.accepted:
                    break
                await asyncio.sleep(0.05)
            d.stop()
            await asyncio.wait_for(task, 600)  # the shutdown checkpoint of 100k series takes a while
            await store.close()
    if not rx.accepted:
        return {"series": n, "path": path, "paged": False}
    page = rx.bodies[rx.accepted[0]]
    decided = max(t for t in arrival if t <= page["ts"])
    return {"series": n, "path": path, "paged": True, "arrival_to_page_s": rx.accepted_at[rx.accepted[0]] - arrival[decided],
            "steps_to_detect": int((decided - (T0 + BAD_FROM * STEP)) / STEP) + 1,
            "step_wall_s_median": sorted(step_cpu)[len(step_cpu) // 2]}


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    templates = warm_templates(list(SEASONAL_SIGNALS))
    return [await one(n, args.pace, templates, args.path) for n in args.series]


async def _no_restore() -> None:
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--pace", type=float, default=1.0, help="real seconds between steps (default 1)")
    ap.add_argument("--path", choices=["sample", "batch"], default="sample",
                    help="one Sample at a time (default) or a SampleBatch per signal and step")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| series | path | arrival → page accepted | bad steps until detection | wall time to process a step |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        if not r["paged"]:
            print(f"| {r['series']:,} | {r['path']} | no page | | |")
            continue
        print(f"| {r['series']:,} | {r['path']} | {r['arrival_to_page_s'] * 1000:.0f} ms | {r['steps_to_detect']} "
              f"| {r['step_wall_s_median'] * 1000:.0f} ms |")
    return 0 if all(r["paged"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
