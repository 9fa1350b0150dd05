"""The Kubernetes watch dropping and answering 410 Gone while a bad deploy goes out, under a running
daemon: the deploy is recorded exactly once, the incident it causes pages exactly once with the
deploy among its candidates, and the daemon is healthy afterwards.

Uses the real ``kubernetes.aio`` client against the local fake API server of tests/daemon/kube_api.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp.test_utils import TestServer

from daemon.config import KubernetesConfig
from daemon.notify.webhook import WebhookNotifier
from daemon.service import Daemon
from daemon.sources.base import SourceStatus
from daemon.sources.kube import KubernetesSource
from daemon.store import Store
from tests.daemon import kube_api as k
from tests.daemon.helpers import SHOP, FakeClock, shop_events

from .receiver import Receiver
from .sources import QueueSource

T0 = 1_790_000_000.0
TOKEN = "kube-test-token"


async def _until(cond: object, budget: float = 20.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    while loop.time() < deadline:
        if cond():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_watch_drop_and_410_gone_lose_and_double_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    fake = k.FakeKubeAPI(TOKEN)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "fake", "cluster": {"server": str(server.make_url("")).rstrip("/")}}],
        "users": [{"name": "me", "user": {"token": TOKEN}}],
        "contexts": [{"name": "test", "context": {"cluster": "fake", "user": "me"}}]}))
    await fake.put("deployments", k.deployment("checkout", "shop", "registry.example/checkout:14", 14))
    clock = FakeClock(T0)
    status = SourceStatus("kubernetes")
    conf = KubernetesConfig.model_validate({"kubeconfig": str(kubeconfig), "in_cluster": False,
                                            "namespaces": ["shop"], "watch_timeout": 5, "watch": ["deployments"]})
    kube = KubernetesSource(conf, status, cursor=sqlite_store, checkpoint_every=0.2, clock=clock)
    feed = QueueSource()
    events = shop_events(T0, 160, bad_from=80, bad_until=130)
    per_step = len(events) // 160
    try:
        async with Receiver() as rx:
            d = Daemon(store=sqlite_store, topology=SHOP, sources=[kube, feed], statuses=[status], clock=clock,
                       notifiers={"hook": WebhookNotifier("hook", rx.url)}, step=30.0, checkpoint_every=3600)
            task = asyncio.create_task(d.run())
            try:
                assert await _until(lambda: any(q.get("watch") == "true" for _, q in fake.requests))
                clock.now = T0 + 70 * 30
                feed.feed(events[: 70 * per_step])
                assert await _until(lambda: feed.q.empty() and d.queue.empty())
                # the watch drops and history is compacted: the re-watch gets 410 Gone and lists again;
                # meanwhile the bad deploy goes out
                clock.now = T0 + 78 * 30
                fake.compact()
                await fake.put("deployments", k.deployment("checkout", "shop", "registry.example/checkout:15", 15,
                                                           generation=2))
                await fake.drop_watches()
                assert await _until(lambda: sum(1 for _, q in fake.requests if q.get("watch") != "true") >= 2)
                await fake.drop_watches()  # and once more, a plain drop
                assert await _until(lambda: sum(1 for _, q in fake.requests if q.get("watch") == "true") >= 3)
                clock.now = T0 + 80 * 30
                feed.feed(events[70 * per_step:])
                assert await _until(lambda: "resolve" in rx.actions(), 40), rx.actions()
                ready, reasons = await d.readiness()
                assert ready, reasons
            finally:
                d.stop()
                await asyncio.wait_for(task, 30)
    finally:
        await fake.drop_watches()
        await server.close()
    changes = [c for c in await sqlite_store.list_changes() if c.service == "checkout"]
    assert len(changes) == 1 and changes[0].attributes.get("to_revision") == "15", [c.summary for c in changes]
    assert rx.actions().count("trigger") == 1 and rx.doubled() == {}
    trigger = next(rx.bodies[k_] for k_ in rx.accepted if rx.bodies[k_]["action"] == "trigger")
    ids = [c.get("ref") or c.get("id") or json.dumps(c) for c in trigger["incident"]["candidates"]]
    assert any(changes[0].id in str(x) for x in ids), ids
