"""Paging seen from outside: notes to an incident's receivers, failures shown, change events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from daemon.api.app import create_app
from daemon.notify.types import Permanent
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, ListSource, RecordingNotifier, shop_events

T0 = 1_790_000_000.0


@pytest.fixture
async def client(store: Store) -> AsyncIterator[tuple[TestClient, Daemon]]:
    d = Daemon(store=store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
               clock=FakeClock(T0), step=30.0)
    async with TestClient(TestServer(create_app(d))) as c:
        yield c, d


async def _page_one_incident(d: Daemon, until: int = 1) -> None:
    task = asyncio.create_task(d.run())
    for _ in range(400):
        await asyncio.sleep(0.02)
        notes = await d.store.notifications.find()
        if d.queue.empty() and len(notes) >= until and all(n.status != "pending" for n in notes):
            break
    d.stop()
    await asyncio.wait_for(task, 10)


async def test_note_reaches_the_receivers_paged_about_the_incident(store: Store) -> None:
    paged, bystander = RecordingNotifier("paged"), RecordingNotifier("bystander")
    from daemon.notify.routing import Route, Router
    d = Daemon(store=store, topology=SHOP, sources=[ListSource(shop_events(T0, 100, bad_from=80))],
               notifiers={"paged": paged, "bystander": bystander}, clock=FakeClock(T0 + 10_000), step=30.0,
               router=Router([Route(("paged",), services=("checkout",))], default=["bystander"]),
               checkpoint_every=3600)
    await _page_one_incident(d)
    [(_, trigger)] = paged.pages
    assert bystander.pages == [] and trigger.runbook == "" and trigger.severity == "critical"
    assert await d.notify_incident(trigger.incident_id, "rolled back checkout to rev 14", actor="ana") == 1
    assert await d.notify_incident(trigger.incident_id, "rolled back checkout to rev 14", actor="ana") == 0
    await d.outbox.deliver_due()
    note = paged.pages[-1][1]
    assert note.action == "note" and note.text.startswith("rolled back") and "ana" in note.text
    with pytest.raises(KeyError):
        await d.notify_incident("inc-nope", "x")
    with pytest.raises(ValueError):
        await d.notify_incident(trigger.incident_id, "x", action="delete")


async def test_permanent_failure_is_shown_in_the_incident_and_on_metrics(store: Store) -> None:
    bad = RecordingNotifier("pd", fail_with=[Permanent("HTTP 400: invalid routing key")])
    d = Daemon(store=store, topology=SHOP, sources=[ListSource(shop_events(T0, 100, bad_from=80))],
               notifiers={"pd": bad}, clock=FakeClock(T0 + 10_000), step=30.0, checkpoint_every=3600)
    await _page_one_incident(d)
    [inc] = await store.incidents.find()
    async with TestClient(TestServer(create_app(d))) as c:
        doc = await (await c.get(f"/api/v1/incidents/{inc['id']}")).json()
        text = await (await c.get("/metrics")).text()
    assert [(n["receiver"], n["status"], n["last_error"]) for n in doc["notifications"]] == [
        ("pd", "failed", "HTTP 400: invalid routing key")]
    assert 'whatchanged_notifications_total{outcome="failed",receiver="pd"} 1.0' in text


async def test_changes_are_forwarded_to_pagerduty_change_events(store: Store) -> None:
    from daemon.notify.pagerduty import PagerDutyNotifier

    from .receivers import ROUTING_KEY, serve_receivers
    from .test_api import CHANGE
    async with serve_receivers() as (rec, url):
        d = Daemon(store=store, topology=SHOP, sources=[], clock=FakeClock(), step=30.0,
                   notifiers={"pd": PagerDutyNotifier("pd", ROUTING_KEY, url=url, change_events=True),
                              "pd-pages-only": PagerDutyNotifier("pd-pages-only", ROUTING_KEY, url=url)})
        async with TestClient(TestServer(create_app(d))) as c:
            ready = asyncio.Event()
            task = asyncio.create_task(d.run(ready=ready))
            await asyncio.wait_for(ready.wait(), 10)
            for _ in range(2):  # the same change twice: forwarded once
                assert (await c.post("/api/v1/changes", json=CHANGE)).status == 202
            for _ in range(200):
                await asyncio.sleep(0.02)
                if rec.pd_changes and await store.notifications.depth() == 0:
                    break
            d.stop()
            await asyncio.wait_for(task, 10)
    assert rec.violations == [] and len(rec.pd_changes) == 1
    payload = rec.pd_changes[0]["payload"]
    assert payload["summary"] == "checkout rollout revision 14 -> 15" and payload["source"] == "ci"
    assert payload["custom_details"]["attributes"]["to_revision"] == "15"
    assert [n.receiver for n in await store.notifications.find()] == ["pd"]
