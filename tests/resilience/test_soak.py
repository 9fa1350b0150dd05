"""Soak: an accelerated day of a 1k-series system with changes and incidents (slow; not in make test).

Run: .venv/bin/python -m pytest -m slow -s tests/resilience/test_soak.py
(SOAK_HOURS and SOAK_STEP override the simulated length and step; defaults 24 h at 60 s.)

The daemon runs for real (sources → queue → engine → store → outbox → receiver) on
event time; retention is 2 h so a day prunes many times. Each paged incident is worked on
the way responders do: acknowledged (a note to the receivers), a hypothesis set (another
note), the cause confirmed as feedback, a silence set on another service; the daemon itself
snapshots its series. Every simulated hour the RSS and every table's row count are recorded.
Asserted: one page per injected incident and none doubled, RSS flat over the second half of
the day, every table the daemon writes was written and none grows without bound.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest
import sqlalchemy as sa

from correlators.types import Cause
from daemon.core.events import Sample
from daemon.core.schema import parse_changes
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from daemon.store import tables as t
from daemon.workspace.hypotheses import HypothesisState
from tests.daemon.helpers import SHOP, FakeClock

from .harness import QueueSource
from .receiver import Receiver

T0 = 1_790_000_000.0
SVCS = ("frontend", "checkout", "payments", "search")


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


TABLES = tuple(sorted(n for n in t.__all__ if n != "metadata"))
# written only by a cluster (members, detections, series_states), Slack in bot mode (receiver_refs),
# probes (health_events) or polling sources (cursors): none runs here
NOT_WRITTEN_HERE = {"members", "detections", "series_states", "receiver_refs", "health_events", "cursors"}


async def _counts(store: Store) -> dict[str, int]:
    out = {}
    async with store.engine.connect() as conn:
        for name in TABLES:
            table = getattr(t, name)
            out[name] = int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())
    return out


async def _work_on(d: Daemon, incident_id: str, now: float) -> None:
    """What a responder does with a page: acknowledge, set a hypothesis, confirm it, silence a neighbour."""
    await d.notify_incident(incident_id, "looking", action="acknowledge", actor="oncall")
    doc = await d.store.incidents.get(incident_id)
    assert doc is not None and doc["candidates"], incident_id
    cause = Cause.from_json(doc["candidates"][0]["cause"])
    await d.workspace.set_hypothesis(incident_id, cause, HypothesisState.INVESTIGATING, "checking", "oncall")
    await d.workspace.set_hypothesis(incident_id, cause, HypothesisState.CONFIRMED, "rolled back", "oncall")
    await d.workspace.db.silences.add("search", now, now + 1800, "reindex during the incident", "oncall", now)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a simulated day takes minutes of wall time
async def test_accelerated_day(sqlite_store: Store) -> None:
    from daemon.notify.webhook import WebhookNotifier
    hours = float(os.environ.get("SOAK_HOURS", "24"))
    step = float(os.environ.get("SOAK_STEP", "60"))
    steps = int(hours * 3600 / step)
    per_hour = int(3600 / step)
    rng = random.Random(11)
    pods = [(SVCS[i % 4], ("error_ratio", "request_rate")[(i // 4) % 2], f"pod{i}") for i in range(996)]
    clock = FakeClock(T0)
    src = QueueSource()
    incidents = []  # (start step, end step): 20 minutes of errors every 3 hours, after a 2 h warm-up
    k = int(2 * per_hour)
    while k + per_hour // 3 < steps:
        incidents.append((k, k + per_hour // 3))
        k += 3 * per_hour
    hourly: list[tuple[float, dict[str, int]]] = []
    worked: set[str] = set()
    async with Receiver() as rx:
        d = Daemon(store=sqlite_store, topology=SHOP, sources=[src], step=step, clock=clock,
                   notifiers={"hook": WebhookNotifier("hook", rx.url)}, checkpoint_every=0.2,
                   retention=2 * 3600.0)
        task = asyncio.create_task(d.run())
        try:
            for k in range(steps):
                ts = T0 + k * step
                clock.now = ts + 5
                bad = any(a <= k < b for a, b in incidents)
                batch = [Sample(ts, s, "error_ratio", 0.12 if bad and s in ("checkout", "frontend")
                                else 0.005 * (1 + 0.2 * rng.uniform(-1, 1))) for s in SVCS]
                batch += [Sample(ts, s, g, 100 * (1 + 0.05 * rng.uniform(-1, 1)) if g == "request_rate"
                                 else 0.005 * (1 + 0.2 * rng.uniform(-1, 1)), f"{s}/{g}{{pod={p}}}")
                          for s, g, p in pods]
                src.feed(batch)
                if k % (per_hour // 2) == 0:  # a deploy every half hour, through the API path
                    await d.submit_changes(parse_changes({"id": f"chg-{k}", "ts": ts, "kind": "deploy",
                                                          "service": SVCS[k % 4], "summary": f"deploy {k}"}), "api")
                while not (src.q.empty() and d.queue.empty()):
                    await asyncio.sleep(0.002)
                for inc in list(d.engine.tracker.open_incidents()):
                    if inc.paged_at is not None and inc.id not in worked:
                        await asyncio.sleep(0.05)  # the loop saves the paged incident with its ranking
                        await _work_on(d, inc.id, clock.now)
                        worked.add(inc.id)
                if k % per_hour == 0:
                    await asyncio.sleep(0.3)  # let checkpoint/prune and the outbox run
                    hourly.append((_rss_mib(), await _counts(sqlite_store)))
            await asyncio.sleep(1.0)
        finally:
            d.stop()
            await asyncio.wait_for(task, 60)
    for h, (rss, counts) in enumerate(hourly):
        print(f"hour {h:2d}: rss {rss:7.1f} MiB  {counts}")
    triggers = [a for a in rx.actions() if a == "trigger"]
    print(f"incidents injected {len(incidents)}, trigger pages {len(triggers)}, worked on {len(worked)}, "
          f"doubled {rx.doubled()}")
    assert rx.doubled() == {}
    assert len(triggers) == len(incidents)
    half = len(hourly) // 2
    rss_mid, rss_end = hourly[half][0], hourly[-1][0]
    assert rss_end <= rss_mid * 1.10 + 5, (rss_mid, rss_end)  # flat over the second half
    assert len(worked) == len(incidents)
    for name in TABLES:
        peak = max(c[name] for _, c in hourly)
        assert peak > 0 or name in NOT_WRITTEN_HERE, (name, "never written: the soak does not exercise it")
        late = [c[name] for _, c in hourly[half:]]
        assert max(late) <= max(c[name] for _, c in hourly[: half + 1]) + 5, (name, late)  # bounded
