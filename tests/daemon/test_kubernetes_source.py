"""The Kubernetes source: the real ``kubernetes.aio`` client against a local server speaking the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from correlators.types import Change, ChangeKind
from daemon.config import KubernetesConfig
from daemon.core.events import ChangeStatus
from daemon.sources.base import SourceStatus
from daemon.sources.kube import KubernetesSource

from . import kube_api as k

TOKEN = "kube-test-token"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[k.FakeKubeAPI, Path]]:
    fake = k.FakeKubeAPI(TOKEN)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    kubeconfig = k.write_kubeconfig(tmp_path / "kubeconfig", str(server.make_url("")), TOKEN)
    try:
        yield fake, kubeconfig
    finally:
        await fake.drop_watches()
        await server.close()


class MemoryCheckpoints:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    async def load(self, key: str) -> dict[str, Any] | None:
        return json.loads(json.dumps(self.data[key])) if key in self.data else None

    async def save(self, key: str, state: dict[str, Any], now: float | None = None) -> None:
        self.data[key] = json.loads(json.dumps(state))


class Running:
    """The source's events() consumed in the background."""

    def __init__(self, src: KubernetesSource) -> None:
        self.src = src
        self.changes: list[Change] = []
        self.outcomes: list[ChangeStatus] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for ev in self.src.events():
            if isinstance(ev, ChangeStatus):
                self.outcomes.append(ev)
                continue
            assert isinstance(ev, Change)
            self.changes.append(ev)

    async def until_outcomes(self, n: int, timeout: float = 10.0) -> list[ChangeStatus]:
        for _ in range(int(timeout / 0.05)):
            if len(self.outcomes) >= n:
                return self.outcomes
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out; got outcomes {self.outcomes}")

    async def until(self, pred: Callable[[list[Change]], bool], timeout: float = 10.0) -> list[Change]:
        for _ in range(int(timeout / 0.05)):
            if pred(self.changes):
                return self.changes
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out; got {[c.summary for c in self.changes]}")

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


def _source(kubeconfig: Path, store: MemoryCheckpoints | None = None, clock: Callable[[], float] | None = None,
            **cfg: Any) -> tuple[KubernetesSource, SourceStatus]:
    conf = KubernetesConfig.model_validate({"kubeconfig": str(kubeconfig), "in_cluster": False,
                                            "namespaces": ["shop"], "watch_timeout": 5, **cfg})
    status = SourceStatus("kubernetes")
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return KubernetesSource(conf, status, cursor=store, checkpoint_every=0.2, **extra), status


async def _until_error(status: SourceStatus) -> None:
    for _ in range(100):
        if status.last_error:
            return
        await asyncio.sleep(0.02)


async def _listed(fake: k.FakeKubeAPI, n: int = 1) -> None:
    for _ in range(200):
        if sum(1 for _, q in fake.requests if q.get("watch") == "true") >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the source never started watching")


async def test_rollout_then_rollback(api: tuple[k.FakeKubeAPI, Path]) -> None:
    fake, kubeconfig = api
    await fake.put("deployments", k.deployment("checkout", "shop", "registry.example/checkout:14", 14))
    src, status = _source(kubeconfig, watch=["deployments"])
    run = Running(src)
    await _listed(fake)
    # kubectl set image: the spec changes first, then the controller bumps the revision annotation
    new = k.deployment("checkout", "shop", "registry.example/checkout:15", 14, generation=2,
                       cause="kubectl set image deployment/checkout app=registry.example/checkout:15")
    await fake.put("deployments", new)
    await fake.put("deployments", {**new, "metadata": {**new["metadata"], "annotations": {
        **new["metadata"]["annotations"], "deployment.kubernetes.io/revision": "15"}}})
    [deploy] = await run.until(lambda cs: len(cs) >= 1)
    assert deploy.kind is ChangeKind.DEPLOY and deploy.service == "checkout" and deploy.namespace == "shop"
    a = deploy.attributes
    assert (a["from_revision"], a["to_revision"], a["workload_kind"]) == ("14", "15", "deployment")
    assert a["images_changed"] == {"app": ["registry.example/checkout:14", "registry.example/checkout:15"]}
    assert a["change_cause"].startswith("kubectl set image") and a["previous_revision_present"] is True
    assert deploy.actor == "kubectl-client-side-apply"
    # kubectl rollout undo: the old template comes back under a new revision
    undo = k.deployment("checkout", "shop", "registry.example/checkout:14", 16, generation=3)
    await fake.put("deployments", undo)
    changes = await run.until(lambda cs: len(cs) >= 2)
    rollback = changes[1]
    assert rollback.kind is ChangeKind.ROLLBACK and rollback.attributes["rolled_back_to"] == "14"
    assert rollback.summary.startswith("checkout rollback revision 15 -> 16")
    assert status.last_error is None and not status.stale(src.clock())
    await run.stop()


def _utc(text: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(text).timestamp()


async def test_rollout_completion_and_failure_follow_the_change(api: tuple[k.FakeKubeAPI, Path]) -> None:
    """Watch MODIFIED events as the controllers roll out: the change first (progressing), then
    its completion with the time it completed, or the progress deadline exceeded."""
    fake, kubeconfig = api
    now = _utc("2026-11-29T04:00:00Z")
    await fake.put("deployments", k.deployment("checkout", "shop", "registry.example/checkout:14", 14))
    await fake.put("deployments", k.deployment("payments", "shop", "registry.example/payments:3", 3))
    await fake.put("statefulsets", k.statefulset("ledger", "shop", "registry.example/ledger:1", generation=1,
                                                 update_rev="ledger-5c9f7", current_rev="ledger-5c9f7",
                                                 updated=3, ready=3))
    await fake.put("daemonsets", k.daemonset("node-agent", "shop", "registry.example/agent:1", generation=1,
                                             desired=3, updated=3, available=3))
    src, _ = _source(kubeconfig, clock=lambda: now, watch=["deployments", "statefulsets", "daemonsets"])
    run = Running(src)
    await _listed(fake, 3)

    # Deployment: kubectl set image, then the controller's status updates as the new ReplicaSet scales up
    new = k.deployment("checkout", "shop", "registry.example/checkout:15", 14, generation=2)
    await fake.put("deployments", k.rollout_step(new, observed=1, updated=3, available=3, total=3,
                                                 reason="NewReplicaSetAvailable", when="2026-11-29T02:00:00Z"))
    await fake.put("deployments", k.rollout_step(new, revision=15, updated=1, available=3, total=4,
                                                 reason="ReplicaSetUpdated", when="2026-11-29T03:05:00Z"))
    [deploy] = await run.until(lambda cs: len(cs) >= 1)
    assert deploy.status == "progressing" and deploy.completed_at is None
    assert deploy.ts == _utc("2026-11-29T03:05:00Z") and deploy.attributes["rollout_complete"] is False
    await fake.put("deployments", k.rollout_step(new, revision=15, updated=2, available=3, total=4,
                                                 reason="ReplicaSetUpdated", when="2026-11-29T03:05:40Z"))
    done = k.rollout_step(new, revision=15, updated=3, available=3, total=3, reason="NewReplicaSetAvailable",
                          when="2026-11-29T03:07:00Z")
    await fake.put("deployments", done)
    [finished] = await run.until_outcomes(1)
    assert (finished.change_id, finished.status) == (deploy.id, "complete")
    assert finished.completed_at == _utc("2026-11-29T03:07:00Z") and finished.reason == "NewReplicaSetAvailable"
    await fake.put("deployments", done)  # a resync repeats the object: no second outcome

    # a rollout that never becomes available: Progressing=False, ProgressDeadlineExceeded
    stuck = k.deployment("payments", "shop", "registry.example/payments:4", 3, generation=2)
    await fake.put("deployments", k.rollout_step(stuck, revision=4, updated=1, available=3, total=4,
                                                 reason="ReplicaSetUpdated", when="2026-11-29T03:10:00Z"))
    await fake.put("deployments", k.rollout_step(
        stuck, revision=4, updated=1, available=3, total=4, reason="ProgressDeadlineExceeded",
        progressing="False", when="2026-11-29T03:20:00Z",
        message='ReplicaSet "payments-7f9c6b8d4" has timed out progressing.'))
    outcomes = await run.until_outcomes(2)
    pay = next(c for c in run.changes if c.service == "payments")
    assert (outcomes[1].change_id, outcomes[1].status, outcomes[1].reason) == (pay.id, "failed",
                                                                              "ProgressDeadlineExceeded")
    assert outcomes[1].completed_at == _utc("2026-11-29T03:20:00Z")

    # StatefulSet: a new updateRevision; complete once currentRevision caught up and all pods are updated
    def ledger(updated: int, current: str) -> dict[str, Any]:
        return k.statefulset("ledger", "shop", "registry.example/ledger:2", generation=2,
                             update_rev="ledger-7d4b2", current_rev=current, updated=updated, ready=3)
    await fake.put("statefulsets", ledger(0, "ledger-5c9f7"))
    await run.until(lambda cs: any(c.service == "ledger" for c in cs))
    await fake.put("statefulsets", ledger(2, "ledger-5c9f7"))
    await fake.put("statefulsets", ledger(3, "ledger-7d4b2"))
    # DaemonSet: complete when every scheduled pod is updated and available
    await fake.put("daemonsets", k.daemonset("node-agent", "shop", "registry.example/agent:2", generation=2,
                                             desired=3, updated=0, available=3))
    await run.until(lambda cs: any(c.service == "node-agent" for c in cs))
    await fake.put("daemonsets", k.daemonset("node-agent", "shop", "registry.example/agent:2", generation=2,
                                             desired=3, updated=2, available=2))
    await fake.put("daemonsets", k.daemonset("node-agent", "shop", "registry.example/agent:2", generation=2,
                                             desired=3, updated=3, available=3))
    outcomes = await run.until_outcomes(4)
    by_service = {c.id: c.service for c in run.changes}
    assert {by_service[o.change_id]: o.status for o in outcomes} == {
        "checkout": "complete", "payments": "failed", "ledger": "complete", "node-agent": "complete"}
    assert all(o.completed_at == now for o in outcomes[2:])  # no condition dates them: when seen
    assert all(c.status == "progressing" for c in run.changes) and len(run.changes) == 4
    await asyncio.sleep(0.3)
    assert len(run.outcomes) == 4  # each outcome once
    await run.stop()


async def test_config_scaling_nodes_and_pod_trouble(api: tuple[k.FakeKubeAPI, Path]) -> None:
    fake, kubeconfig = api
    await fake.put("configmaps", k.configmap("checkout-config", "shop", {"timeout": "5s", "pool": "10"}))
    await fake.put("horizontalpodautoscalers", k.hpa("checkout", "shop", 3, "2026-11-29T02:00:00Z"))
    await fake.put("nodes", k.node("node-1", True, "2026-11-29T02:00:00Z"))
    await fake.put("secrets", k.secret("db-creds", "shop", {"password": "c3VwZXJzZWNyZXQ="}, "2026-11-29T02:00:00Z"))
    src, _ = _source(kubeconfig, watch=["configmaps", "hpas", "nodes", "pods", "events", "secrets"])
    run = Running(src)
    await _listed(fake, 6)
    await fake.put("configmaps", k.configmap("checkout-config", "shop", {"timeout": "1s", "pool": "10",
                                                                          "retries": "0"}))
    await fake.put("horizontalpodautoscalers", k.hpa("checkout", "shop", 9, "2026-11-29T03:02:00Z"))
    await fake.put("nodes", k.node("node-1", False, "2026-11-29T03:03:00Z"))
    await fake.put("pods", k.pod("checkout-6d4cf56db6-x2k4q", "shop", "checkout", restarts=1, oom=True))
    await fake.put("pods", k.pod("checkout-6d4cf56db6-x2k4q", "shop", "checkout", restarts=1, oom=True,
                                 crashloop=True))
    await fake.put("pods", k.pod("checkout-6d4cf56db6-zz", "shop", "checkout", unschedulable=True))
    await fake.put("events", {"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "Evicted",
                              "message": "The node was low on resource: memory.", "count": 1,
                              "metadata": {"name": "search-5f7-abc.17a", "namespace": "shop", "uid": "ev-1"},
                              "involvedObject": {"kind": "Pod", "name": "search-5f7b8c9d4-abcde", "namespace": "shop"},
                              "lastTimestamp": "2026-11-29T03:04:00Z", "firstTimestamp": "2026-11-29T03:04:00Z"})
    await fake.put("secrets", k.secret("db-creds", "shop", {"password": "bmV3c2VjcmV0", "user": "YWRtaW4="},
                                       "2026-11-29T03:05:00Z"))
    changes = await run.until(lambda cs: len(cs) >= 8)
    by = {c.summary: c for c in changes}
    cm = next(c for c in changes if c.kind is ChangeKind.CONFIG and "configmap" in c.summary)
    assert cm.attributes["keys_changed"] == ["retries", "timeout"] and cm.service == "checkout"
    assert "1s" not in json.dumps(cm.to_json())  # values never recorded
    scale = next(c for c in changes if c.kind is ChangeKind.SCALE)
    assert (scale.attributes["from_replicas"], scale.attributes["to_replicas"]) == (3, 9)
    node = next(c for c in changes if c.summary.startswith("node node-1"))
    assert node.kind is ChangeKind.INFRA and "NotReady" in node.summary
    infra = [c.summary for c in changes if c.kind is ChangeKind.INFRA and c.service in ("checkout", "search")]
    assert any("OOMKilled" in s for s in infra) and any("CrashLoopBackOff" in s for s in infra)
    assert any("failed scheduling" in s for s in infra) and any("Evicted" in s for s in infra)
    ooms = {c.id for c in changes if "OOMKilled" in c.summary}
    assert len(ooms) == 1  # the same restart seen twice has one id: the store records it once
    sec = next(c for c in changes if "secret db-creds" in c.summary)
    assert sec.attributes["keys_changed"] == ["user"]
    dumped = json.dumps([c.to_json() for c in changes]) + json.dumps(src.differ.state_dict())
    assert "bmV3c2VjcmV0" not in dumped and "c3VwZXJzZWNyZXQ=" not in dumped
    assert by  # summaries are unique enough to index
    await run.stop()


async def test_bookmarks_410_gone_and_restart_resume(api: tuple[k.FakeKubeAPI, Path]) -> None:
    fake, kubeconfig = api
    store = MemoryCheckpoints()
    await fake.put("deployments", k.deployment("search", "shop", "registry.example/search:6", 6))
    src, _ = _source(kubeconfig, store, watch=["deployments"])
    run = Running(src)
    await _listed(fake)
    await fake.bookmark()
    for _ in range(100):
        if src.versions.get("deployments/shop") == str(fake.rv):
            break
        await asyncio.sleep(0.05)
    assert src.versions["deployments/shop"] == str(fake.rv)  # the bookmark moved the resourceVersion
    # history is compacted and the watch drops; meanwhile search is rolled out: the re-list finds it
    fake.compact()
    await fake.put("deployments", k.deployment("search", "shop", "registry.example/search:7", 7, generation=2))
    await fake.drop_watches()
    changes = await run.until(lambda cs: len(cs) >= 1)
    assert changes[0].attributes["to_revision"] == "7"
    lists = [q for _, q in fake.requests if q.get("watch") != "true"]
    assert len(lists) >= 2  # listed again after 410 Gone
    await asyncio.sleep(0.5)
    await run.stop()
    assert store.data  # checkpointed: differ snapshot and resourceVersions
    # restart: resumes the watch from the stored resourceVersion (no list) and keeps diffing
    fake.requests.clear()
    src2, _ = _source(kubeconfig, store, watch=["deployments"])
    run2 = Running(src2)
    await _listed(fake)
    first = fake.requests[0][1]
    assert first.get("watch") == "true" and first.get("resourceVersion") == store.data[
        "source:kubernetes"]["versions"]["deployments/shop"]
    await fake.put("deployments", k.deployment("search", "shop", "registry.example/search:8", 8, generation=3))
    changes = await run2.until(lambda cs: len(cs) >= 1)
    assert changes[0].attributes["from_revision"] == "7" and changes[0].attributes["to_revision"] == "8"
    await run2.stop()


async def test_errors_back_off_and_recover(api: tuple[k.FakeKubeAPI, Path]) -> None:
    fake, kubeconfig = api
    fake.fail_next = [500, 503]
    await fake.put("deployments", k.deployment("cart", "shop", "registry.example/cart:1", 1))
    src, status = _source(kubeconfig, watch=["deployments"])
    run = Running(src)
    await _until_error(status)
    assert status.last_error and "500" in status.last_error
    await _listed(fake)  # after the backoff the list and the watch succeed
    await fake.put("deployments", k.deployment("cart", "shop", "registry.example/cart:2", 2, generation=2))
    await run.until(lambda cs: len(cs) >= 1, timeout=15)
    assert status.last_error is None
    await run.stop()


async def test_wrong_credentials_mark_the_source_in_error(api: tuple[k.FakeKubeAPI, Path]) -> None:
    fake, kubeconfig = api
    fake.token = "another"
    src, status = _source(kubeconfig, watch=["nodes"])
    run = Running(src)
    await _until_error(status)
    assert status.last_error and "401" in status.last_error and status.stale(src.clock())
    assert run.changes == []
    await run.stop()


def test_fixtures_are_shaped_like_the_real_api() -> None:
    """The JSON the fake serves deserialises into the client's own models, field for field."""
    from kubernetes.aio import client
    api = client.ApiClient()
    samples = [(k.deployment("a", "shop", "img:1", 1), "V1Deployment"), (k.configmap("c", "shop", {}), "V1ConfigMap"),
               (k.pod("a-1-2", "shop", "a", oom=True, crashloop=True), "V1Pod"),
               (k.pod("a-1-3", "shop", "a", unschedulable=True), "V1Pod"),
               (k.node("n", False, "2026-11-29T03:03:00Z"), "V1Node"),
               (k.hpa("a", "shop", 3, "2026-11-29T03:03:00Z"), "V2HorizontalPodAutoscaler"),
               (k.secret("s", "shop", {"a": "Yg=="}, "2026-11-29T03:03:00Z"), "V1Secret"),
               (k.rollout_step(k.deployment("a", "shop", "img:2", 1, generation=2), revision=2, updated=1,
                               available=3, total=4, reason="ReplicaSetUpdated", when="2026-11-29T03:03:00Z"),
                "V1Deployment"),
               (k.statefulset("l", "shop", "img:1", generation=2, update_rev="l-2", current_rev="l-1", updated=1,
                              ready=3), "V1StatefulSet"),
               (k.daemonset("d", "shop", "img:1", generation=2, desired=3, updated=1, available=2), "V1DaemonSet")]
    for obj, model in samples:
        parsed = api.deserialize(json.dumps(obj), model, "application/json")
        back = api.sanitize_for_serialization(parsed)
        assert back["metadata"]["name"] == obj["metadata"]["name"], model
        assert back.get("spec", {}) == obj.get("spec", {}) or model in ("V1Pod",), model


async def test_cluster_wide_watch_sees_every_namespace(api: tuple[k.FakeKubeAPI, Path]) -> None:
    fake, kubeconfig = api
    for ns in ("shop", "payments"):
        await fake.put("deployments", k.deployment("api", ns, "registry.example/api:1", 1))
    src, _ = _source(kubeconfig, namespaces=[], watch=["deployments"])
    run = Running(src)
    await _listed(fake)
    assert fake.requests[0][0] == "/apis/apps/v1/deployments"  # the all-namespaces list, not per namespace
    for ns in ("shop", "payments"):
        await fake.put("deployments", k.deployment("api", ns, "registry.example/api:2", 2, generation=2))
    changes = await run.until(lambda cs: len(cs) >= 2)
    assert sorted(c.namespace for c in changes) == ["payments", "shop"]
    assert len({c.id for c in changes}) == 2
    await run.stop()


async def test_changes_from_a_source_are_stored_once_and_fed_once(sqlite_store: Any) -> None:
    from correlators.types import Change as C
    from daemon.runtime.daemon import Daemon

    from .helpers import SHOP, FakeClock, ListSource
    ch = C("k8s-1", 1_790_000_000.0, ChangeKind.DEPLOY, "checkout", "shop", "checkout rollout 14 -> 15")
    daemon = Daemon(store=sqlite_store, topology=SHOP, sources=[ListSource([ch, ch], name="kubernetes")],
                    notifiers={}, clock=FakeClock(), step=30.0)
    task = asyncio.create_task(daemon.run())
    for _ in range(100):
        await asyncio.sleep(0.05)
        if await sqlite_store.changes.find():
            break
    daemon.stop()
    await asyncio.wait_for(task, timeout=30)
    [stored] = await sqlite_store.changes.find()
    assert stored.id == "k8s-1" and daemon.engine.change("k8s-1") is not None
    assert daemon.metrics.changes.labels("kubernetes")._value.get() == 1


async def test_a_daemon_stores_the_rollout_and_then_its_completion(api: tuple[k.FakeKubeAPI, Path],
                                                                   sqlite_store: Any) -> None:
    """End to end: the watch, the daemon, the store and the API show the change, then its completion."""
    from aiohttp.test_utils import TestClient
    from aiohttp.test_utils import TestServer as Server

    from daemon.api.app import create_app
    from daemon.runtime.daemon import Daemon

    from .helpers import SHOP
    fake, kubeconfig = api
    await fake.put("deployments", k.deployment("checkout", "shop", "registry.example/checkout:14", 14))
    src, _ = _source(kubeconfig, watch=["deployments"])
    daemon = Daemon(store=sqlite_store, topology=SHOP, sources=[src], notifiers={}, step=30.0)
    task = asyncio.create_task(daemon.run())
    try:
        await _listed(fake)
        new = k.deployment("checkout", "shop", "registry.example/checkout:15", 14, generation=2)
        await fake.put("deployments", k.rollout_step(new, revision=15, updated=1, available=3, total=4,
                                                     reason="ReplicaSetUpdated", when="2026-11-29T03:05:00Z"))

        async def stored(status: str) -> Change:
            for _ in range(200):
                got = await sqlite_store.changes.find()
                if got and got[0].status == status:
                    return got[0]  # type: ignore[no-any-return]
                await asyncio.sleep(0.05)
            raise AssertionError(f"no {status} change stored: {got}")
        progressing = await stored("progressing")
        await fake.put("deployments", k.rollout_step(new, revision=15, updated=3, available=3, total=3,
                                                     reason="NewReplicaSetAvailable", when="2026-11-29T03:07:00Z"))
        done = await stored("complete")
        assert done.id == progressing.id and done.completed_at == _utc("2026-11-29T03:07:00Z")
        async with TestClient(Server(create_app(daemon))) as client:
            [shown] = (await (await client.get("/api/v1/changes")).json())["changes"]
        assert (shown["id"], shown["status"], shown["completed_at"]) == (done.id, "complete", done.completed_at)
        assert shown["attributes"]["rollout_complete"] is True
        for _ in range(100):
            held = daemon.engine.change(done.id)
            if held is not None and held.status == "complete":
                break
            await asyncio.sleep(0.05)
        assert held is not None and held.status == "complete"
    finally:
        daemon.stop()
        await asyncio.wait_for(task, timeout=30)
