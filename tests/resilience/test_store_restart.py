"""The store restarting under a running daemon: a private PostgreSQL cluster is stopped and started.

While it is down the incident begins: the daemon keeps its decisions and writes them when the
store is back (the trigger page is neither lost nor doubled), the change API answers 503 and
stores nothing, /readyz says why, and afterwards everything works again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from daemon.api.app import create_app
from daemon.store import Store
from tests.conftest import require_or_skip
from tests.daemon.helpers import SHOP, FakeClock, shop_events

from .harness import QueueSource, until, webhook_daemon
from .pgcluster import PrivatePostgres, pg_bin_dir
from .receiver import Receiver

T0 = 1_790_000_000.0
CHANGE = {"id": "chg-during-outage", "ts": T0 + 60 * 30, "kind": "deploy", "service": "checkout",
          "summary": "checkout rollout revision 14 -> 15"}


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    bin_dir = pg_bin_dir()
    require_or_skip(bin_dir is not None, "PostgreSQL server binaries not found under /usr/lib/postgresql")
    assert bin_dir is not None
    pg = PrivatePostgres(bin_dir)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.cleanup()


async def test_store_restart_loses_and_doubles_nothing(private_pg: PrivatePostgres) -> None:
    events = shop_events(T0, 160, bad_from=80, bad_until=120)
    per_step = len(events) // 160
    store = await Store.open(private_pg.url)
    clock = FakeClock(T0 + 10_000)
    src = QueueSource()
    async with Receiver() as rx:
        d = webhook_daemon(store, SHOP, rx.url, clock, [src])
        task = asyncio.create_task(d.run())
        try:
            async with TestClient(TestServer(create_app(d))) as client:
                src.feed(events[: 70 * per_step])  # quiet
                assert await until(lambda: d.queue.empty() and src.q.empty())

                await asyncio.to_thread(private_pg.stop)
                r = await client.get("/readyz")
                assert r.status == 503 and "store unreachable" in (await r.json())["reasons"]
                r = await client.post("/api/v1/changes", json=CHANGE)
                assert r.status == 503, await r.text()
                assert r.headers.get("Retry-After") and "Traceback" not in await r.text()
                src.feed(events[70 * per_step: 100 * per_step])  # the incident starts while the store is down
                await asyncio.sleep(3.0)
                assert rx.accepted == []  # nothing can be written, so nothing is sent yet

                await asyncio.to_thread(private_pg.start)
                assert await until(lambda: "trigger" in rx.actions(), 30), "trigger page lost"
                r = await client.post("/api/v1/changes", json=CHANGE)  # the client's retry
                assert r.status == 202
                src.feed(events[100 * per_step:])
                assert await until(lambda: "resolve" in rx.actions(), 30)
                assert (await client.get("/readyz")).status == 200
        finally:
            d.stop()
            await asyncio.wait_for(task, 20)
            await store.close()
    assert rx.actions().count("trigger") == 1 and rx.doubled() == {}
    store = await Store.open(private_pg.url)
    try:
        assert [c.id for c in await store.changes.find()] == ["chg-during-outage"]
        incidents = await store.incidents.find()
        assert len(incidents) == 1 and incidents[0]["state"] == "resolved"
        assert all(n.status == "sent" for n in await store.notifications.find())
    finally:
        await store.close()
