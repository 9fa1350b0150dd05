"""A real Alertmanager (Debian's prometheus-alertmanager) receives our pushes and routes them on."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from daemon.notify.alertmanager import AlertmanagerNotifier
from daemon.store import Store
from tests.daemon.servers import free_port

from ..conftest import require_or_skip
from .helpers import FakeClock
from .test_receivers import deliver_all, incident_doc, outbox_for, page

AM = "/usr/bin/prometheus-alertmanager"



@pytest.fixture
async def webhook_sink() -> AsyncIterator[tuple[dict[str, list[dict[str, Any]]], int]]:
    """Where Alertmanager's webhook_configs deliver: payloads by route name."""
    got: dict[str, list[dict[str, Any]]] = {}

    async def hook(request: web.Request) -> web.Response:
        got.setdefault(request.match_info["route"], []).append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/am/{route}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield got, port
    await runner.cleanup()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook_sink: tuple[Any, int]) -> Iterator[str]:
    require_or_skip(shutil.which(AM) is not None, f"Alertmanager not installed at {AM} (Debian prometheus-alertmanager)")
    _, sink = webhook_sink
    cfg = tmp_path / "am.yml"
    cfg.write_text(f"""
route:
  receiver: default
  group_by: [incident]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['service="checkout"', 'severity="critical"']
      receiver: payments
receivers:
  - name: default
    webhook_configs: [{{url: "http://127.0.0.1:{sink}/am/default", send_resolved: true}}]
  - name: payments
    webhook_configs: [{{url: "http://127.0.0.1:{sink}/am/payments", send_resolved: true}}]
""")
    port = free_port()
    proc = subprocess.Popen([AM, f"--config.file={cfg}", f"--storage.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _ready(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(100):
            try:
                async with s.get(f"{url}/-/ready") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("Alertmanager did not become ready")


async def _wait_for(cond: Any, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting for Alertmanager's webhook")


async def test_pushes_are_routed_silenced_and_resolved_by_alertmanager(
        sqlite_store: Store, alertmanager: str, webhook_sink: tuple[dict[str, list[dict[str, Any]]], int]) -> None:
    got, _ = webhook_sink
    await _ready(alertmanager)
    # Alertmanager's own silence for search: our push for it must be swallowed there.
    async with aiohttp.ClientSession() as s, s.post(f"{alertmanager}/api/v2/silences", json={
        "matchers": [{"name": "service", "value": "search", "isRegex": False, "isEqual": True}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "test", "comment": "search maintenance"}) as r:
        assert r.status == 200, await r.text()
    now = time.time()  # Alertmanager compares endsAt with its own clock
    clock = FakeClock(now)
    ob = outbox_for(sqlite_store, {"am": AlertmanagerNotifier("am", alertmanager, labels={"team": "payments"})},
                    clock)
    await ob.enqueue(page("trigger", now))
    search = incident_doc() | {"id": "inc-search", "services": ["search"]}
    await ob.enqueue(dataclasses.replace(page("trigger", now, doc=search), severity="warning", service="search"))
    await deliver_all(ob, clock)
    assert {n.status for n in await sqlite_store.notifications.find()} == {"sent"}
    await _wait_for(lambda: got.get("payments"))
    firing = got["payments"][0]
    assert firing["status"] == "firing" and firing["receiver"] == "payments"
    alert = firing["alerts"][0]
    assert alert["labels"]["incident"] == "inc-0a1b2c3d4e" and alert["labels"]["team"] == "payments"
    assert alert["annotations"]["runbook_url"] == "https://runbooks.example/checkout"
    assert alert["generatorURL"].endswith("/incidents/inc-0a1b2c3d4e")
    # resolve: Alertmanager sends the resolved notification on to the same route
    clock.now = time.time()
    await ob.enqueue(page("resolve", clock.now))
    await deliver_all(ob, clock)
    await _wait_for(lambda: any(m["status"] == "resolved" for m in got.get("payments", [])))
    await asyncio.sleep(1.5)  # a group interval more: nothing for the silenced search incident
    assert "default" not in got
    async with aiohttp.ClientSession() as s, s.get(
            f"{alertmanager}/api/v2/alerts", params={"silenced": "true", "filter": 'service="search"'}) as r:
        alerts = await r.json()
    assert [a["status"]["state"] for a in alerts] == ["suppressed"]
