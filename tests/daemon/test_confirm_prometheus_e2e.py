"""End to end against a real Prometheus (issue 18): per-pod series of two ReplicaSets of checkout,
the new one failing a quarter of its requests while the old one runs beside it; the Kubernetes watch
(the local API server) names which pods belong to which revision. The daemon pages the deploy, runs
its confirm test against Prometheus by pod, and updates the page with the confirmed result. And the
label splits (flag variant, callee, route) queried from a backfilled Prometheus."""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from correlators.confirm import ConfirmPlan, TestKind, Verdict, judge
from correlators.types import Cause, CauseType
from daemon.config import Config, parse_config
from daemon.config.domain import topology_of
from daemon.confirm.build import build_confirm
from daemon.runtime.daemon import Daemon
from daemon.sources.factory import build_sources
from daemon.store import Store

from . import kube_api as k
from .counters import backfill, cumsum, scrape_config, serve_counters
from .helpers import RecordingNotifier
from .servers import PROMETHEUS, PROMTOOL, free_port, require_binary, running

pytestmark = pytest.mark.server

STEP = 4.0
HISTORY = 900
BUCKETS = ("0.05", "0.1", "0.25", "1", "2.5", "+Inf")
OLD, NEW = "5f7b9c4d8", "7d9f8b6c5"
PODS = {"frontend": [("frontend-6c8d7f9b5-a", "", 0.002)],
        "checkout": [(f"checkout-{OLD}-a", "", 0.002), (f"checkout-{OLD}-b", "", 0.002),
                     (f"checkout-{NEW}-c", "new", 0.25), (f"checkout-{NEW}-d", "new", 0.25)]}
TOKEN = "kube-e2e-token"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class Shop:
    """Per-second counters of each pod; the new ReplicaSet's pods exist from ``deploy_at``."""

    k0: int
    deploy_at: int
    instance: str
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = random.Random(18)
        n = HISTORY + 400
        for pods in PODS.values():
            for name, _, ratio in pods:
                c: dict[str, list[int]] = {"ok": [], "err": [], **{b: [] for b in BUCKETS}}
                for _ in range(n):
                    req = 20 + rng.randint(0, 5)
                    err = sum(rng.random() < ratio for _ in range(req))
                    fast = sum(rng.random() < 0.95 for _ in range(req))
                    c["ok"].append(req - err)
                    c["err"].append(err)
                    for b, x in zip(BUCKETS, (fast, req, req, req, req, req), strict=True):
                        c[b].append(x)
                self.counts[name] = {key: cumsum(v) for key, v in c.items()}

    def series(self, k_: int) -> list[tuple[str, dict[str, str], int]]:
        out: list[tuple[str, dict[str, str], int]] = []
        for svc, pods in PODS.items():
            for name, arm, _ in pods:
                if arm == "new" and k_ < self.deploy_at:
                    continue  # not created yet
                start = self.deploy_at if arm == "new" else self.k0
                i = min(max(k_ - start, 0), HISTORY + 399)
                c = self.counts[name]
                base = {"job": svc, "pod": name, "instance": self.instance}
                out.append(("http_requests_total", {**base, "code": "200"}, c["ok"][i]))
                out.append(("http_requests_total", {**base, "code": "500"}, c["err"][i]))
                out += [("http_request_duration_seconds_bucket", {**base, "le": b}, c[b][i]) for b in BUCKETS]
        return out


def _config(url: str, db: Path, kubeconfig: Path) -> Config:
    return parse_config({
        "store": {"url": f"sqlite+aiosqlite:///{db}"},
        "prometheus": {"url": url, "step": f"{STEP:g}s", "lookback": f"{HISTORY}s", "timeout": "5s",
                       "scrape_interval": "1s"},
        "templates": [{"template": "http"}],
        "services": [{"name": "frontend", "namespace": "shop", "calls": ["checkout"]},
                     {"name": "checkout", "namespace": "shop"}],
        "kubernetes": {"kubeconfig": str(kubeconfig), "in_cluster": False, "namespaces": ["shop"],
                       "watch": ["deployments", "pods"], "watch_timeout": "5s"},
    })


async def _kube(tmp_path: Path) -> tuple[k.FakeKubeAPI, TestServer, Path]:
    fake = k.FakeKubeAPI(TOKEN)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    kubeconfig = k.write_kubeconfig(tmp_path / "kubeconfig", str(server.make_url("")), TOKEN)
    return fake, server, kubeconfig


async def test_the_deploys_confirm_test_runs_on_prometheus_by_pod_and_updates_the_page(tmp_path: Path) -> None:
    started = time.monotonic()
    prometheus, promtool = require_binary(PROMETHEUS), require_binary(PROMTOOL)
    exporter_port, port = free_port(), free_port()
    t_live = math.floor(time.time()) + 2
    shop = Shop(k0=t_live - HISTORY, deploy_at=t_live + 14, instance=f"127.0.0.1:{exporter_port}")
    data = await backfill(promtool, shop, shop.k0, t_live, tmp_path)
    cfg_file = scrape_config(tmp_path / "prometheus.yml", exporter_port)
    url = f"http://127.0.0.1:{port}"
    fake, kube_server, kubeconfig = await _kube(tmp_path)
    checkout14 = k.deployment("checkout", "shop", "registry.example/checkout:14", 14)
    await fake.put("deployments", checkout14)
    await fake.put("deployments", k.deployment("frontend", "shop", "registry.example/frontend:3", 3))
    old_created = _iso(t_live - 3 * 3600)
    for svc, pods in PODS.items():
        for name, arm, _ in pods:
            h = name.split("-")[1]
            if not arm:
                await fake.put("pods", k.pod(name, "shop", svc, template_hash=h, created=old_created))
    exporter = serve_counters(shop, exporter_port)
    next(exporter)
    try:
        with running([prometheus, f"--config.file={cfg_file}", f"--storage.tsdb.path={data}",
                      f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                     f"{url}/-/ready", tmp_path / "prometheus.log"):
            cfg = _config(url, tmp_path / "wc.db", kubeconfig)
            store = await Store.open(cfg.store.url)
            try:
                sources, statuses = build_sources(cfg, store)
                confirm = build_confirm(cfg, sources, topology_of(cfg))
                assert confirm is not None, "templates and a pod watch: the confirm tests run"
                rec = RecordingNotifier()
                daemon = Daemon(store=store, topology=topology_of(cfg), sources=sources, notifiers={"rec": rec},
                                statuses=statuses, step=STEP, confirm=confirm)
                task = asyncio.create_task(daemon.run())
                deployed = False
                while time.time() < shop.deploy_at + 60:
                    if not deployed and time.time() >= shop.deploy_at:
                        for name, arm, _ in PODS["checkout"]:  # the new ReplicaSet's pods, then the rollout
                            if arm:
                                await fake.put("pods", k.pod(name, "shop", "checkout", template_hash=NEW,
                                                             created=_iso(shop.deploy_at)))
                        new = k.deployment("checkout", "shop", "registry.example/checkout:15", 14, generation=2)
                        await fake.put("deployments", k.rollout_step(
                            new, revision=15, updated=2, available=4, total=4, reason="ReplicaSetUpdated",
                            when=_iso(shop.deploy_at)))
                        deployed = True
                    if any(p.action == "update" and "Test run: confirmed" in p.text for _, p in rec.pages):
                        break
                    await asyncio.sleep(0.2)
                daemon.stop()
                await asyncio.wait_for(task, timeout=30)
                incidents = await store.incidents.find()
            finally:
                await store.close()
    finally:
        next(exporter, None)
        await fake.drop_watches()
        await kube_server.close()
    triggers = [p for _, p in rec.pages if p.action == "trigger"]
    assert len(triggers) == 1, [p.title for p in triggers]
    updates = [p for _, p in rec.pages if p.action == "update" and "Test run: confirmed" in p.text]
    assert updates, [(p.action, p.text) for _, p in rec.pages]
    line = next(x for x in updates[0].text.splitlines() if "Test run: confirmed" in x)
    assert "new pods (revision 15)" in line and "vs old (14)" in line, line
    [inc] = [i for i in incidents if i["paged_at"] is not None]
    deploy = inc["candidates"][0]
    assert deploy["cause"]["type"] == "change" and "rollout revision 14 -> 15" in deploy["title"]
    [test] = [t for t in inc["tests"] if t["cause"] == deploy["cause"]]
    assert test["verdict"] == "confirmed"
    assert f'pod=~"checkout-{NEW}-c|checkout-{NEW}-d"' in test["query"]
    assert f'pod=~"checkout-{OLD}-a|checkout-{OLD}-b"' in test["query"]
    errors = next(s for s in test["signals"] if s["signal"] == "error_ratio")
    assert errors["new"] > 0.15 and errors["old"] < 0.02 and errors["verdict"] == "confirmed", errors
    print(f"confirmed {test['at'] - shop.deploy_at:.0f}s after the deploy: {test['line']}")
    assert time.monotonic() - started < 120


@dataclass
class LabelShop:
    """Per-second counters split by flag variant (cart), by callee (orders' calls) and by route (shop)."""

    k0: int
    flip_at: int
    counts: dict[tuple[str, str, str], list[tuple[int, int]]] = field(default_factory=dict)

    SERIES = (  # job, label, value, error ratio before and after the flip, requests per second before and after
        ("cart", "feature_flag_result_variant", "on", 0.002, 0.25, 20, 20),
        ("cart", "feature_flag_result_variant", "off", 0.002, 0.002, 20, 20),
        ("orders", "service_peer_name", "pay-db", 0.002, 0.3, 20, 20),
        ("orders", "service_peer_name", "search", 0.002, 0.002, 20, 20),
        ("shop", "http_route", "/a", 0.001, 0.001, 20, 20),
        ("shop", "http_route", "/b.json", 0.001, 0.001, 10, 60),
    )

    def __post_init__(self) -> None:
        rng = random.Random(181)
        for job, label, value, before, after, r0, r1 in self.SERIES:
            ok, err = [], []
            for sec in range(self.k0, self.flip_at + 600):
                req = (r0 if sec < self.flip_at else r1) + rng.randint(0, 4)
                ratio = before if sec < self.flip_at else after
                e = sum(rng.random() < ratio for _ in range(req))
                ok.append(req - e)
                err.append(e)
            self.counts[(job, label, value)] = list(zip(cumsum(ok), cumsum(err), strict=True))

    def series(self, k_: int) -> list[tuple[str, dict[str, str], int]]:
        out: list[tuple[str, dict[str, str], int]] = []
        for (job, label, value), c in self.counts.items():
            ok, err = c[min(k_ - self.k0, len(c) - 1)]
            out.append(("http_requests_total", {"job": job, label: value, "code": "200"}, ok))
            out.append(("http_requests_total", {"job": job, label: value, "code": "500"}, err))
            out.append(("http_requests_total", {"job": job, "code": "200"}, 1000 * (k_ - self.k0)))  # no label
        return out


async def test_flag_dependency_and_route_splits_run_on_prometheus_by_label(tmp_path: Path) -> None:
    """The label splits' PromQL (matchers, ``!=""``, the sum over a dependency's users, the grouped route
    query) against the real Prometheus, backfilled: the flag's ``on`` arm and the calls to pay-db confirmed,
    the route that surged found."""
    prometheus, promtool = require_binary(PROMETHEUS), require_binary(PROMTOOL)
    end = math.floor(time.time()) - 5
    shop = LabelShop(k0=end - 1500, flip_at=end - 300)
    data = await backfill(promtool, shop, shop.k0, end, tmp_path)
    cfg_file = scrape_config(tmp_path / "prometheus.yml")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = parse_config({"prometheus": {"url": url, "step": "15s", "scrape_interval": "1s", "timeout": "5s"},
                        "templates": [{"template": "http"}],
                        "services": [{"name": "cart"}, {"name": "shop"}, {"name": "orders", "dependencies": ["pay-db"]}]})
    live = build_confirm(cfg, [], topology_of(cfg))
    assert live is not None, "labels to split by: the tests run without a kubernetes watch"
    t = float(shop.flip_at)

    def plan(kind: TestKind, cause: Cause, service: str, split: str, new: str, signals: tuple[str, ...]) -> ConfirmPlan:
        return ConfirmPlan(cause, kind, service, signals, split, new, "off" if kind is TestKind.FLAG else "",
                           "treated", "control", t, t)

    with running([prometheus, f"--config.file={cfg_file}", f"--storage.tsdb.path={data}",
                  f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                 f"{url}/-/ready", tmp_path / "prometheus.log"):
        flag_plan = plan(TestKind.FLAG, Cause(CauseType.CHANGE, "chg-flag"), "cart", "flag_variant", "on", ("error_ratio",))
        flag = await live.source.fetch(flag_plan, float(end))
        dep_plan = plan(TestKind.DEPENDENCY, Cause(CauseType.DEPENDENCY, "pay-db"), "pay-db", "callee", "pay-db",
                        ("error_ratio",))
        dep = await live.source.fetch(dep_plan, float(end))
        route = await live.source.fetch(plan(TestKind.TRAFFIC, Cause(CauseType.TRAFFIC, "shop"), "shop", "route", "",
                                             ("request_rate",)), float(end))
    assert not flag.missing and not dep.missing and not route.missing, (flag.missing, dep.missing, route.missing)
    result = judge(flag_plan, flag, float(end))
    assert result.verdict is Verdict.CONFIRMED, result.line
    assert 'feature_flag_result_variant="on"' in flag.query and 'feature_flag_result_variant="off"' in flag.query
    errors = result.signals[0]
    assert errors.new_level > 0.15 and errors.old_level < 0.02, errors
    dep_result = judge(dep_plan, dep, float(end))
    assert dep_result.verdict is Verdict.CONFIRMED and 'job=~"orders"' in dep.query, (dep_result.line, dep.query)
    assert route.new is not None and route.new.label == "/b.json"
    assert 'http_route="/b.json"' in route.query and 'http_route!="/b.json",http_route!=""' in route.query
    after = [v for ts, v in route.old.values["request_rate"] if ts > t + 60] if route.old else []
    assert after and all(15 < v < 30 for v in after), "the other route, not the series without the label"
