"""End to end against a real Prometheus (issue 18): per-pod series of two ReplicaSets of checkout,
the new one failing a quarter of its requests while the old one runs beside it; the Kubernetes watch
(the local API server) names which pods belong to which revision. The daemon pages the deploy, runs
its confirm test against Prometheus by pod, and updates the page with the confirmed result."""

from __future__ import annotations

import asyncio
import math
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from daemon.config import Config, parse_config
from daemon.config.domain import topology_of
from daemon.confirm.build import build_confirm
from daemon.runtime.daemon import Daemon
from daemon.sources.factory import build_sources
from daemon.store import Store

from . import kube_api as k
from .counters import cumsum, openmetrics, serve_counters
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
    data = tmp_path / "prom-data"
    data.mkdir()
    om = tmp_path / "history.om"
    om.write_text(openmetrics(shop, shop.k0, t_live))
    await asyncio.to_thread(subprocess.run, [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
                            check=True, capture_output=True, timeout=60)
    cfg_file = tmp_path / "prometheus.yml"
    cfg_file.write_text("global: {scrape_interval: 1s, evaluation_interval: 1m}\nscrape_configs:\n"
                        f"  - job_name: shop\n    honor_labels: true\n"
                        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n")
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
