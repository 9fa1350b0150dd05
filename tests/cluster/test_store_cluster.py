"""The store's scale-out tables and migrations started by several replicas at once."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from daemon.cluster.node import ClusterNode
from daemon.core.engine import Engine
from daemon.core.events import Sample
from daemon.store import Store

from ..daemon.helpers import SHOP, FakeClock


async def test_replicas_migrating_at_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(pg_url) for _ in range(4)))
    try:
        async with stores[0].engine.connect() as conn:
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
        from alembic.script import ScriptDirectory

        from daemon.store.store import _alembic_config
        heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
        assert heads == [version]  # one head: the migration chain is linear, and every replica reached it
    finally:
        for s in stores:
            await s.close()


async def test_members_detections_and_series_states(store: Store) -> None:
    await store.members.heartbeat("0", 100.0)
    await store.members.heartbeat("1", 105.0)
    assert await store.members.live(since=101.0) == ["1"]
    assert await store.members.live(since=90.0) == ["0", "1"]
    await store.members.leave("1")
    assert await store.members.live(since=90.0) == ["0"]
    await store.detections.append([{"series": "a/x", "service": "a", "signal": "x", "detection": {"k": 1}},
                                   {"series": "b/x", "service": "b", "signal": "x", "detection": {"k": 2}}],
                                  member="0", now=100.0)
    rows = await store.detections.after(0)
    assert [r["series"] for r in rows] == ["a/x", "b/x"] and rows[0]["member"] == "0"
    assert [r["series"] for r in await store.detections.after(rows[0]["id"])] == ["b/x"]
    await store.series_states.save({"a/x": ("x", {"v": 1})}, member="0", now=1.0)
    await store.series_states.save({"a/x": ("x", {"v": 2}), "b/x": ("x", {"v": 3})}, member="1", now=2.0)
    assert await store.series_states.load() == {"a/x": ("x", {"v": 2}), "b/x": ("x", {"v": 3})}


class NeverLeads:
    async def campaign(self, leading: asyncio.Event) -> None:
        await asyncio.Event().wait()


async def test_dead_members_series_are_taken_over_warm(store: Store) -> None:
    clock = FakeClock(1000.0)
    nodes = [ClusterNode(store, member=m, elector=NeverLeads(), heartbeat=1, member_ttl=5, clock=clock)
             for m in ("0", "1")]
    engines = [Engine(SHOP), Engine(SHOP)]
    for n, e in zip(nodes, engines, strict=True):
        n.attach(e)
    for n in nodes:
        await n.join()
    await nodes[0].join()  # sees both now
    keys = [f"{svc}/error_ratio" for svc in ("frontend", "checkout", "payments", "search")] + \
           [f"{svc}/request_rate" for svc in ("frontend", "checkout", "payments", "search")]
    for k in range(40):
        for key in keys:
            svc, sig = key.split("/")
            handled = [await n.on_sample(Sample(clock.now + k, svc, sig, 0.01)) for n in nodes]
            assert sum(handled) == 1, f"{key} watched {sum(handled)} times"
    owned_by_1 = set(engines[1].series_keys())
    assert owned_by_1 and set(engines[0].series_keys()) | owned_by_1 == set(keys)
    await nodes[1].checkpoint()
    clock.now += 10  # replica 1 stops heartbeating
    await nodes[0].join()
    assert nodes[0].shard.members == frozenset({"0"})
    assert set(engines[0].series_keys()) == set(keys)
    for key in owned_by_1:  # resumed from replica 1's checkpoint, not cold
        assert engines[0].series_state(key) == engines[1].series_state(key)


async def test_replicas_split_each_step_by_shard_and_log_its_detections(store: Store) -> None:
    from daemon.core.events import SampleBatch
    clock = FakeClock(1000.0)
    nodes = [ClusterNode(store, member=m, elector=NeverLeads(), heartbeat=1, member_ttl=5, clock=clock)
             for m in ("0", "1")]
    engines = [Engine(SHOP), Engine(SHOP)]
    for n, e in zip(nodes, engines, strict=True):
        n.attach(e)
    for n in nodes:
        await n.join()
    await nodes[0].join()
    services = ("frontend", "checkout", "payments", "search")
    for k in range(60):
        values = tuple(0.01 + (0.2 if k >= 40 and svc in ("checkout", "search") else 0.0) + 0.001 * (k % 2)
                       for svc in services)
        b = SampleBatch(clock.now + k, "error_ratio", services, tuple(f"{s}/error_ratio" for s in services), values)
        assert sum([await n.on_batch(b) for n in nodes]) == 4, "each series watched by exactly one replica"
    assert all(e.series_keys() for e in engines)
    logged = await store.detections.after(0)
    assert sorted(r["series"] for r in logged) == ["checkout/error_ratio", "search/error_ratio"]
    assert all(r["detection"]["kind"] == "shift" for r in logged)
