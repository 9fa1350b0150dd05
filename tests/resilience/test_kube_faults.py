"""The Kubernetes watch dropping and answering 410 Gone while a bad deploy goes out, under a running
daemon: the deploy is recorded exactly once, the incident it causes pages exactly once with the
deploy among its candidates, and the daemon is healthy afterwards.

Uses the real ``kubernetes.aio`` client against the local fake API server of tests/daemon/kube_api.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from daemon.config import KubernetesConfig
from daemon.sources.base import SourceStatus
from daemon.sources.kube import KubernetesSource
from daemon.store import Store
from tests.daemon import kube_api as k
from tests.daemon.helpers import SHOP, FakeClock, shop_events
from tests.daemon.test_kubernetes_source import api  # noqa: F401 - the fake API server fixture

from .harness import QueueSource, until, webhook_daemon
from .receiver import Receiver

T0 = 1_790_000_000.0


async def test_watch_drop_and_410_gone_lose_and_double_nothing(sqlite_store: Store,
                                                               api: tuple[k.FakeKubeAPI, Path]) -> None:  # noqa: F811
    fake, kubeconfig = api
    await fake.put("deployments", k.deployment("checkout", "shop", "registry.example/checkout:14", 14))
    clock = FakeClock(T0)
    status = SourceStatus("kubernetes")
    conf = KubernetesConfig.model_validate({"kubeconfig": str(kubeconfig), "in_cluster": False,
                                            "namespaces": ["shop"], "watch_timeout": 5, "watch": ["deployments"]})
    kube = KubernetesSource(conf, status, cursor=sqlite_store.checkpoints, checkpoint_every=0.2, clock=clock)
    feed = QueueSource()
    events = shop_events(T0, 160, bad_from=80, bad_until=130)
    per_step = len(events) // 160
    async with Receiver() as rx:
        d = webhook_daemon(sqlite_store, SHOP, rx.url, clock, [kube, feed], statuses=[status])
        task = asyncio.create_task(d.run())
        try:
            assert await until(lambda: any(q.get("watch") == "true" for _, q in fake.requests))
            clock.now = T0 + 70 * 30
            feed.feed(events[: 70 * per_step])
            assert await until(lambda: feed.q.empty() and d.queue.empty())
            # the watch drops and history is compacted: the re-watch gets 410 Gone and lists again;
            # meanwhile the bad deploy goes out
            clock.now = T0 + 78 * 30
            fake.compact()
            await fake.put("deployments", k.deployment("checkout", "shop", "registry.example/checkout:15", 15,
                                                       generation=2))
            await fake.drop_watches()
            assert await until(lambda: sum(1 for _, q in fake.requests if q.get("watch") != "true") >= 2)
            await fake.drop_watches()  # and once more, a plain drop
            assert await until(lambda: sum(1 for _, q in fake.requests if q.get("watch") == "true") >= 3)
            # the deploy reaches the core before the errors begin (its time is when the source saw it)
            assert await until(lambda: any(c.service == "checkout" for c in d.engine.changes_known_at(0)))
            clock.now = T0 + 80 * 30
            feed.feed(events[70 * per_step:])
            assert await until(lambda: "resolve" in rx.actions(), 40), rx.actions()
            ready, reasons = await d.readiness()
            assert ready, reasons
        finally:
            d.stop()
            await asyncio.wait_for(task, 30)
    changes = [c for c in await sqlite_store.changes.find() if c.service == "checkout"]
    assert len(changes) == 1 and changes[0].attributes.get("to_revision") == "15", [c.summary for c in changes]
    assert rx.actions().count("trigger") == 1 and rx.doubled() == {}
    trigger = next(rx.bodies[k_] for k_ in rx.accepted if rx.bodies[k_]["action"] == "trigger")
    ids = [c.get("ref") or c.get("id") or json.dumps(c) for c in trigger["incident"]["candidates"]]
    assert any(changes[0].id in str(x) for x in ids), ids
