"""Alertmanager alerts are stored before the webhook answers: a crash before the core takes them loses none."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from daemon.api.app import create_app
from daemon.core.events import AlertEvent
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from tests.daemon.servers import free_port

from .helpers import SHOP, FakeClock
from .test_webhooks import ALERT


def _alert(fingerprint: str, firing: bool = True, ts: float = 1000.0, starts_at: float | None = 1000.0) -> AlertEvent:
    return AlertEvent(ts, "checkout", "HighErrorRate", f"alert:{fingerprint}", firing, 0.95, "5xx", starts_at)


async def test_inbox_is_idempotent_replayable_and_bounded(store: Store) -> None:
    firing, resolved = _alert("f1"), _alert("f1", firing=False, ts=1600.0)
    assert await store.alerts.add([firing, resolved], now=2000.0) == [True, True]
    # Alertmanager re-sends a firing alert every repeat_interval: same fingerprint, startsAt and status
    assert await store.alerts.add([_alert("f1"), _alert("f2")], now=2100.0) == [False, True]
    assert [a.key for a in await store.alerts.unprocessed()] == [firing.key, resolved.key, _alert("f2").key]
    assert await store.alerts.unprocessed() == [firing, resolved, _alert("f2")]  # read back field for field
    assert await store.alerts.mark_processed([firing.key, resolved.key], now=2200.0) == 2
    assert await store.alerts.mark_processed([firing.key], now=2300.0) == 0  # already processed
    assert [a.key for a in await store.alerts.unprocessed()] == [_alert("f2").key]
    assert await store.alerts.add([firing], now=2400.0) == [False]  # processed ones still dedupe
    counts = await store.retention.prune(before=2050.0)  # retention: received before the horizon are deleted
    assert counts["alert_inbox"] == 2
    assert await store.alerts.add([firing], now=2500.0) == [True]  # past retention it is new again


async def _post_alert(port: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, \
            http.post(f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager", json=body) as r:
        return r.status, await r.json()


async def _until(cond: Any, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_alert_answered_then_crash_before_the_core_took_it(store: Store) -> None:
    """The daemon answers 202, its core is stuck, the process dies: after restart the incident exists once."""
    port = free_port()
    first = Daemon(store=store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)
    stuck = asyncio.Event()

    async def blocked(ev: Any, **_: Any) -> Any:  # the core never gets to the alert
        stuck.set()
        await asyncio.Event().wait()
    first.analysis.handle = blocked  # type: ignore[method-assign]
    ready = asyncio.Event()
    run = asyncio.create_task(first.run(host="127.0.0.1", port=port, app=create_app(first), ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    status, answer = await _post_alert(port, ALERT)
    assert status == 202 and answer["accepted"] == 1
    await asyncio.wait_for(stuck.wait(), 10)
    run.cancel()  # a crash: nothing drained, nothing checkpointed
    await asyncio.gather(run, return_exceptions=True)
    assert await store.incidents.find() == []
    [pending] = await store.alerts.unprocessed()
    assert pending.series == "alert:f00d" and pending.firing

    async def restart() -> Daemon:
        d = Daemon(store=store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)
        up = asyncio.Event()
        task = asyncio.create_task(d.run(host="127.0.0.1", port=port, app=create_app(d), ready=up))
        await asyncio.wait_for(up.wait(), 10)

        async def settled() -> bool:
            return not await store.alerts.unprocessed() and bool(await store.incidents.find())
        await _until(settled, "the replayed alert to open an incident")
        status, _ = await _post_alert(port, ALERT)  # Alertmanager repeats it meanwhile: no second feed
        assert status == 202
        d.stop()
        await asyncio.wait_for(task, 30)
        return d

    second = await restart()
    [inc] = await store.incidents.find()
    assert [a["series"] for a in inc["anomalies"]] == ["alert:f00d"] and inc["state"] == "open"
    assert second.metrics.alerts.labels("firing")._value.get() == 1
    await restart()  # and again: nothing is fed twice, the incident stays one
    assert [d["id"] for d in await store.incidents.find()] == [inc["id"]]
    [again] = await store.incidents.find()
    assert len(again["anomalies"]) == 1
    assert json.dumps(again["services"]) == json.dumps(inc["services"])


async def test_alert_is_marked_processed_only_once_its_incident_is_saved(store: Store) -> None:
    """The analysis loop saves incidents once per burst: an alert taken in a burst stays in the
    inbox as unprocessed until that save, so a crash in between feeds it again instead of losing it."""
    d = Daemon(store=store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)
    alert = _alert("burst")
    await store.alerts.add([alert], now=1000.0)
    await d.handle(alert, coalesce=True)  # as the analysis loop does: the incident is only marked unsaved
    assert await store.incidents.find() == []
    assert [a.key for a in await store.alerts.unprocessed()] == [alert.key]
    await d._save_incidents()  # the burst is absorbed
    assert len(await store.incidents.find()) == 1
    assert await store.alerts.unprocessed() == []
