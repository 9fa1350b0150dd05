"""The daemon's cluster hooks: only the leader pages, and it stops the moment leadership is lost."""

from __future__ import annotations

import asyncio

from correlators.incidents import PageAction, PageKind
from daemon.cluster.node import ClusterNode
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from ..daemon.helpers import SHOP, FakeClock, ListSource, RecordingNotifier, shop_events

T0 = 1_790_000_000.0


class Switch:
    """An elector the test turns on and off."""

    def __init__(self) -> None:
        self.on = asyncio.Event()
        self.off = asyncio.Event()

    async def campaign(self, leading: asyncio.Event) -> None:
        while True:
            await self.on.wait()
            leading.set()
            await self.off.wait()
            leading.clear()
            self.on.clear()
            self.off.clear()


async def test_single_replica_cluster_pages_once_and_only_while_leading(sqlite_store: Store) -> None:
    rec = RecordingNotifier()
    switch = Switch()
    clock = FakeClock(T0 + 10_000)
    node = ClusterNode(sqlite_store, member="0", elector=switch, heartbeat=0.2, member_ttl=5, clock=clock)
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[ListSource(shop_events(T0, 120, bad_from=80))],
               notifiers={rec.name: rec}, clock=clock, step=30.0, checkpoint_every=3600, cluster=node)
    task = asyncio.create_task(d.run())
    for _ in range(100):
        await asyncio.sleep(0.05)
        if d.queue.empty() and d.engine.series_count:
            break
    await asyncio.sleep(1.0)
    assert rec.pages == [] and await sqlite_store.notifications.depth() == 0, "a follower never pages"
    assert (await sqlite_store.detections.after(0)), "but its detections are in the shared store"
    switch.on.set()
    for _ in range(200):
        await asyncio.sleep(0.05)
        if rec.pages:
            break
    assert [p.action for _, p in rec.pages] == ["trigger"]
    incident_id = rec.pages[0][1].incident_id
    switch.off.set()
    for _ in range(40):
        await asyncio.sleep(0.05)
        if not node.may_page():
            break
    assert not node.may_page()
    assert await d._plan_page(PageAction(PageKind.UPDATE, incident_id, T0 + 9000, "late")) is None
    assert await sqlite_store.notifications.depth() == 0, "leadership lost: nothing more is paged"
    d.stop()
    await asyncio.wait_for(task, 10)
    assert [p.action for _, p in rec.pages] == ["trigger"]
