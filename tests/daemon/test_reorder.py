"""Observations arriving out of order within ``intake.reorder_within`` are put back in order."""

from __future__ import annotations

import asyncio

import pytest

from daemon.core.events import Sample
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock

T0 = 1_796_000_000.0
STEP = 10.0


def _stream() -> list[Sample]:
    """Two hours of a steady p99, then two samples ten times higher that arrive swapped."""
    out = [Sample(T0 + i * STEP, "checkout", "latency_p99_seconds", 0.2 + 0.01 * (i % 3)) for i in range(720)]
    high = [Sample(T0 + 720 * STEP, "checkout", "latency_p99_seconds", 3.0),
            Sample(T0 + 721 * STEP, "checkout", "latency_p99_seconds", 3.0)]
    out += [high[1], high[0]]  # the later one first: a slow scrape delivered the earlier one late
    out += [Sample(T0 + i * STEP, "checkout", "latency_p99_seconds", 3.0) for i in range(722, 724)]
    return out


async def _run(store: Store, reorder_within: float) -> Daemon:
    d = Daemon(store=store, topology=SHOP, sources=[], notifiers={}, step=STEP,
               clock=FakeClock(T0 + 724 * STEP), checkpoint_every=3600, reorder_within=reorder_within)
    task = asyncio.create_task(d.run())
    for ev in _stream():
        await d.queue.put(ev)
    await d.queue.join()
    d.stop()
    await asyncio.wait_for(task, 30)
    return d


@pytest.mark.parametrize("bound", [0.0, 60.0])
async def test_a_late_sample_within_the_bound_is_not_lost(sqlite_store: Store, bound: float) -> None:
    d = await _run(sqlite_store, bound)
    shifts = [a for inc in d.engine.incidents.values() for a in inc.anomalies if a.service == "checkout"]
    if bound:
        # in order again: the jump is found from its first sample, on its second
        assert shifts and shifts[0].onset == T0 + 720 * STEP and shifts[0].detected_at == T0 + 721 * STEP
    else:
        # taken as it came, the late sample is older than the series' last and ignored: found later
        assert not shifts or shifts[0].detected_at > T0 + 721 * STEP
