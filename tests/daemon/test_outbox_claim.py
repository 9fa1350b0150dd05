"""Claiming the outbox: replicas delivering one outbox never take the same row at once."""

from __future__ import annotations

import asyncio

from daemon.store import Store


async def _enqueue(store: Store, n: int, now: float) -> None:
    for i in range(n):
        await store.notifications.enqueue(key=f"k{i}", incident_id=f"inc-{i}", receiver="rec", action="trigger",
                            dedup_key=f"inc-{i}", payload={"i": i}, now=now)


async def test_claim_is_exclusive_until_the_lease_passes(store: Store) -> None:
    await _enqueue(store, 5, now=100.0)
    first = await store.notifications.claim_due(100.0, limit=3, lease=60.0)
    assert [n.key for n in first] == ["k0", "k1", "k2"]
    second = await store.notifications.claim_due(100.0, limit=10, lease=60.0)
    assert [n.key for n in second] == ["k3", "k4"]
    assert await store.notifications.claim_due(150.0, limit=10, lease=60.0) == []
    await store.notifications.mark_sent(first[0].id, 101.0)
    # The claimer of the others died: after the lease they are due again, for anyone.
    again = await store.notifications.claim_due(161.0, limit=10, lease=60.0)
    assert [n.key for n in again] == ["k1", "k2", "k3", "k4"]


async def test_concurrent_claimers_split_the_rows(store_url: str) -> None:
    stores = [await Store.open(store_url) for _ in range(3)]
    try:
        await _enqueue(stores[0], 30, now=100.0)
        results = await asyncio.gather(*(s.notifications.claim_due(100.0, limit=30, lease=60.0)
                                         for s in stores for _ in range(2)))
        keys = [n.key for r in results for n in r]
        assert sorted(keys) == sorted(f"k{i}" for i in range(30)), "every row claimed exactly once"
    finally:
        for s in stores:
            await s.close()
