"""A real Alertmanager (Debian package) sends its webhook to the daemon: firing opens, resolved closes."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.api.app import create_app
from daemon.api.webhooks import WebhookSettings
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, RecordingNotifier
from .servers import alertmanager_to, free_port

pytestmark = pytest.mark.server

TOKEN = "am-to-whatchanged"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _post_alerts(am: str, alerts: list[dict[str, object]]) -> None:
    req = urllib.request.Request(f"{am}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


async def _until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def test_real_alertmanager_alerts_open_and_resolve_an_incident(sqlite_store: Store, tmp_path: Path) -> None:
    port = free_port()
    rec = RecordingNotifier()
    daemon = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={"rec": rec}, step=30.0,
                    webhooks=WebhookSettings(bearer_tokens=(TOKEN.encode(),)))
    ready = asyncio.Event()
    task = asyncio.create_task(daemon.run(host="127.0.0.1", port=port, app=create_app(daemon), ready=ready))
    await ready.wait()
    try:
        hook = f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager"
        with alertmanager_to(hook, tmp_path, TOKEN) as am:
            started = time.time() - 60
            alert = {"labels": {"alertname": "CheckoutHighErrorRate", "service": "checkout", "severity": "critical"},
                     "annotations": {"summary": "checkout 5xx above 5%"}, "startsAt": _iso(started),
                     "generatorURL": "http://prometheus/graph"}
            await asyncio.to_thread(_post_alerts, am, [alert])

            async def opened() -> bool:
                return any(i["state"] == "open" for i in await sqlite_store.incidents.find())
            await _until(opened)
            [inc] = await sqlite_store.incidents.find()
            assert inc["services"] == ["checkout"]
            assert inc["anomalies"][0]["signal"] == "CheckoutHighErrorRate"
            assert abs(inc["onset"] - started) < 2

            async def paged() -> bool:
                return bool(rec.pages)
            await _until(paged)
            assert rec.pages[0][1].incident_id == inc["id"]

            await asyncio.to_thread(_post_alerts, am, [{**alert, "endsAt": _iso(time.time() - 1)}])

            async def resolved() -> bool:
                return (await sqlite_store.incidents.get(inc["id"]) or {}).get("state") == "resolved"
            await _until(resolved)
            assert len(list(await sqlite_store.incidents.find())) == 1
    finally:
        daemon.stop()
        await asyncio.wait_for(task, timeout=30)


async def test_alertmanager_with_a_wrong_token_is_refused(sqlite_store: Store, tmp_path: Path) -> None:
    port = free_port()
    daemon = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, step=30.0,
                    webhooks=WebhookSettings(bearer_tokens=(b"the-right-one",)))
    ready = asyncio.Event()
    task = asyncio.create_task(daemon.run(host="127.0.0.1", port=port, app=create_app(daemon), ready=ready))
    await ready.wait()
    try:
        with alertmanager_to(f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager", tmp_path, "wrong") as am:
            await asyncio.to_thread(_post_alerts, am, [{"labels": {"alertname": "X", "service": "checkout"},
                                                        "startsAt": _iso(time.time() - 5)}])

            async def refused() -> bool:
                text = (await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/metrics")).read()
                return b'whatchanged_http_requests_total{route="webhook-auth",status="403"}' in text
            await _until(refused)
            assert await sqlite_store.incidents.find() == []
    finally:
        daemon.stop()
        await asyncio.wait_for(task, timeout=30)
