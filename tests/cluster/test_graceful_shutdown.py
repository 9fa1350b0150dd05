"""SIGTERM on a real ``whatchanged run`` process: intake stops, the page in flight is finished (not cut),
the replica checkpoints and leaves the membership, and the process exits 0 well within a pod's grace period."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from daemon.store import Store
from tests.daemon.servers import free_port


async def test_sigterm_finishes_the_delivery_in_flight(pg_url: str, tmp_path: Path) -> None:
    received: list[float] = []
    started = asyncio.Event()

    async def slow_hook(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(3.0)  # the receiver takes its time: SIGTERM arrives meanwhile
        received.append(time.monotonic())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", slow_hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    store = await Store.open(pg_url)
    try:
        page = {"action": "trigger", "incident_id": "inc-1", "dedup_key": "inc-1", "ts": 1.0, "title": "t",
                "text": "x", "url": "", "drill": False, "incident": {}}
        await store.notifications.enqueue(key="inc-1/trigger/1/hook", incident_id="inc-1", receiver="hook",
                                          action="trigger", dedup_key="inc-1", payload=page, now=time.time() - 1)
        cfg = {"listen": f"127.0.0.1:{free_port()}", "store": {"url": pg_url},
               "notifiers": [{"type": "webhook", "name": "hook", "url": f"http://127.0.0.1:{port}/hook"}],
               "cluster": {"replicas": 1, "index": 0, "leader": "postgres", "heartbeat": "1s", "member_ttl": "5s"}}
        path = tmp_path / "c.yaml"
        path.write_text(json.dumps(cfg))
        with open(tmp_path / "log", "wb") as log:  # noqa: ASYNC230 - before the child starts
            proc = subprocess.Popen([sys.executable, "-m", "daemon.cli", "run", "--config", str(path)],
                                    stdout=subprocess.DEVNULL, stderr=log)
        try:
            await asyncio.wait_for(started.wait(), 30)
            assert await store.members.live(since=0) == ["0"]
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            while proc.poll() is None and time.monotonic() - t0 < 30:
                await asyncio.sleep(0.1)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
        log = (tmp_path / "log").read_text()
        assert proc.returncode == 0, log[-2000:]
        assert took < 20, f"exit took {took:.1f}s"  # the chart's grace period is 45 s
        assert received and received[0] - t0 < took, "the delivery completed before the exit"
        (n,) = await store.notifications.find()
        assert n.status == "sent", n
        assert await store.members.live(since=0) == [], "left the membership: others take its series at once"
    finally:
        await store.close()
        await runner.cleanup()
