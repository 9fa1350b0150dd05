"""`make run`'s demo: the daemon on the simulated shop pages its first incident within 3 minutes."""

from __future__ import annotations

import asyncio

from correlators.types import Topology
from daemon.service import Daemon
from daemon.sources.base import SourceStatus
from daemon.sources.demo import DemoSource, demo_shop
from daemon.store import Store

from .helpers import FakeClock, RecordingNotifier

START = 1_795_000_000.0


async def test_demo_opens_and_pages_an_incident_within_three_minutes(sqlite_store: Store) -> None:
    clock = FakeClock(START)

    async def sleep(seconds: float) -> None:  # virtual time: the demo runs as fast as the CPU allows
        clock.now += seconds
        await asyncio.sleep(0)

    shop = demo_shop(START, seed=7, step=10.0, every=360.0, first_after=90.0)
    status = SourceStatus("demo")
    rec = RecordingNotifier()
    daemon = Daemon(store=sqlite_store, topology=Topology.from_services(shop.topology()),
                    sources=[DemoSource(shop, status, clock=clock, sleep=sleep)], notifiers={"rec": rec},
                    statuses=[status], step=10.0, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(3000):
            await asyncio.sleep(0.005)
            if rec.pages or clock.now > START + 400:
                break
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 20)
    assert rec.pages, "no page within the demo's first minutes"
    first = rec.pages[0][1]
    assert first.action == "trigger"
    assert first.ts - START <= 180.0, f"first page {first.ts - START:.0f}s after start"
    truth = shop.truth()[0]
    assert set(first.incident["services"]) & set(truth["services"])
    incidents = (await sqlite_store.list_incidents())
    assert incidents and incidents[0]["candidates"]
