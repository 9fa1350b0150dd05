"""A receiver answering 500, 429 (Retry-After) or hanging: every page arrives once, none doubled.

The daemon runs end to end on event time against a real HTTP receiver on loopback
through the real signed-webhook notifier; the receiver is the judge of what arrived.
"""

from __future__ import annotations

import asyncio

import pytest

from daemon.notify.webhook import WebhookNotifier
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from tests.daemon.helpers import SHOP, FakeClock, ListSource, shop_events

from .receiver import Receiver

T0 = 1_790_000_000.0


def _daemon(store: Store, url: str, clock: FakeClock, events: list) -> Daemon:  # type: ignore[type-arg]
    hook = WebhookNotifier("hook", url, secret=b"s3cret", timeout=0.5)
    d = Daemon(store=store, topology=SHOP, sources=[ListSource(events)], notifiers={"hook": hook},
               clock=clock, step=30.0, checkpoint_every=3600)
    d.outbox.retry.base = 0.5
    d.outbox.send_timeout = 1.0
    return d


async def _drive(d: Daemon, clock: FakeClock, done: object, budget: float = 20.0) -> None:
    """Run the daemon, advancing its wall clock 2 s per 20 ms so retries come due, until ``done()``."""
    task = asyncio.create_task(d.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    while loop.time() < deadline:
        await asyncio.sleep(0.02)
        clock.now += 2.0
        if d.queue.empty() and done() and await d.store.notifications.depth() == 0:  # type: ignore[operator]
            break
    d.stop()
    await asyncio.wait_for(task, 15)


@pytest.mark.parametrize("script", [
    pytest.param(["500", "500", "500"], marks=pytest.mark.slow),
    pytest.param(["429", "429"], marks=pytest.mark.slow),
    ["hang"],
], ids=["500s", "429s", "hang"])
async def test_receiver_faults_lose_nothing_double_nothing(sqlite_store: Store, script: list[str]) -> None:
    await _faults(sqlite_store, script)


async def test_mixed_receiver_faults_on_both_stores(store: Store) -> None:
    await _faults(store, ["500", "429", "hang", "500"])


async def _faults(store: Store, script: list[str]) -> None:
    clock = FakeClock(T0 + 10_000)
    async with Receiver(script) as rx:
        d = _daemon(store, rx.url, clock, shop_events(T0, 160, bad_from=80, bad_until=120))
        await _drive(d, clock, lambda: "resolve" in rx.actions())
        actions = rx.actions()
        assert actions.count("trigger") == 1 and actions[-1] == "resolve", actions
        assert rx.doubled() == {}
        # every attempt the daemon made used a key the receiver ended up accepting (no stray keys)
        assert set(rx.attempts) == set(rx.accepted)
        assert len(rx.attempts) >= len(rx.accepted) + len(script)  # the faults were really hit
        rows = await store.notifications.find()
        assert rows and all(r.status == "sent" for r in rows), [(r.status, r.last_error) for r in rows]
        assert await store.notifications.depth() == 0
        assert (await d.readiness())[0]


async def test_retry_after_is_honoured(sqlite_store: Store) -> None:
    clock = FakeClock(T0 + 10_000)
    async with Receiver(["429"], retry_after="120") as rx:
        d = _daemon(sqlite_store, rx.url, clock, shop_events(T0, 100, bad_from=80))
        task = asyncio.create_task(d.run())
        for _ in range(500):
            await asyncio.sleep(0.02)
            if rx.attempts:
                break
        await asyncio.sleep(0.2)
        row = (await sqlite_store.notifications.find())[0]
        assert row.status == "pending" and row.attempts == 1 and "429" in (row.last_error or "")
        assert row.next_attempt_at >= clock.now + 119  # not before the receiver's Retry-After
        await asyncio.sleep(1.5)
        assert rx.accepted == []  # the outbox polls but does not resend early
        clock.now += 121
        for _ in range(300):
            await asyncio.sleep(0.02)
            if rx.accepted:
                break
        d.stop()
        await asyncio.wait_for(task, 15)
        assert rx.actions() == ["trigger"] and rx.doubled() == {}
