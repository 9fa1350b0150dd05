"""End to end against a real Prometheus, live (issue 14): twenty minutes of an exporter's history
backfilled with promtool (a recovered outage, a one-step latency glitch), then live scrapes of the
same exporter served on loopback by this test, a bad deploy and its outage. The daemon must page the
live outage once with the deploy first, page nothing from the history, and a backtest of the same
window (``history_until`` the daemon's catch-up head) must give the same pages."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from correlators.types import Change, ChangeKind
from daemon.config import Config, parse_config
from daemon.config.domain import topology_of
from daemon.runtime.backtest import backtest
from daemon.runtime.daemon import Daemon
from daemon.sources.factory import build_sources
from daemon.store import Store

from .counters import backfill, cumsum, scrape_config, serve_counters
from .helpers import RecordingNotifier
from .servers import PROMETHEUS, PROMTOOL, free_port, require_binary, running

pytestmark = pytest.mark.server

STEP = 4.0
HISTORY = 1200  # seconds of backfilled history
SERVICES = ("frontend", "checkout")  # frontend calls checkout
BUCKETS = ("0.05", "0.1", "0.25", "1", "2.5", "+Inf")


@dataclass
class Shop:
    """Per-second request, error and latency-bucket increments of each service, from ``k0`` on."""

    k0: int
    t_live: int           # the head of the backfill; scrapes go on from here
    deploy_at: int
    bad_from: int
    instance: str
    glitch_at: int

    def __post_init__(self) -> None:
        n = HISTORY + 200
        rng = random.Random(14)
        self.counts: dict[str, dict[str, list[int]]] = {}
        old_outage = range(self.t_live - 600, self.t_live - 540)  # recovered long before the head
        g = self.glitch_at
        glitch = range(g, g + int(STEP))  # one step of slow requests
        for svc in SERVICES:
            c: dict[str, list[int]] = {"ok": [], "err": [], **{b: [] for b in BUCKETS}}
            for i in range(n):
                k = self.k0 + i
                req = 40 + rng.randint(0, 20)
                ratio = 0.005 if k not in old_outage and k < self.bad_from else 0.25
                err = sum(rng.random() < ratio for _ in range(req))
                slow = 0.5 if (svc == "checkout" and k in glitch) else 0.0
                le = [0, 0, 0, 0, 0]  # requests per bucket (non-cumulative): 0.05, 0.1, 0.25, 1, 2.5
                for _ in range(req):
                    u = rng.random()
                    le[4 if u < slow else (0 if u < 0.95 else 1)] += 1
                c["ok"].append(req - err)
                c["err"].append(err)
                acc = 0
                for b, x in zip(BUCKETS, [*le, 0], strict=True):
                    acc += x
                    c[b].append(acc)
            self.counts[svc] = {name: cumsum(v) for name, v in c.items()}

    def series(self, k: int) -> list[tuple[str, dict[str, str], int]]:
        """Every counter's value at second ``k``: ``(name, labels, value)``."""
        i = min(max(k - self.k0, 0), HISTORY + 199)
        out: list[tuple[str, dict[str, str], int]] = []
        for svc in SERVICES:
            base = {"job": svc, "instance": self.instance}
            c = self.counts[svc]
            out.append(("http_requests_total", {**base, "code": "200"}, c["ok"][i]))
            out.append(("http_requests_total", {**base, "code": "500"}, c["err"][i]))
            out += [("http_request_duration_seconds_bucket", {**base, "le": b}, c[b][i]) for b in BUCKETS]
        return out


def _config(url: str, db: Path) -> Config:
    return parse_config({
        "store": {"url": f"sqlite+aiosqlite:///{db}"},
        "prometheus": {"url": url, "step": f"{STEP:g}s", "lookback": f"{HISTORY}s", "timeout": "5s",
                       "scrape_interval": "1s"},
        "templates": [{"template": "http"}],
        "services": [{"name": "frontend", "calls": ["checkout"]}, {"name": "checkout"}],
    })


def _query_range(url: str, query: str, start: float, end: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": f"{STEP:g}"})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=10) as r:
        return list(json.load(r)["data"]["result"])


def _paged(incidents: list[dict[str, Any]]) -> dict[str, Any]:
    return {i["id"]: i["candidates"][0]["cause"] for i in incidents if i["paged_at"] is not None}


async def test_live_prometheus_pages_the_live_outage_not_the_history_and_the_backtest_agrees(tmp_path: Path) -> None:
    started = time.monotonic()
    prometheus, promtool = require_binary(PROMETHEUS), require_binary(PROMTOOL)
    exporter_port, port = free_port(), free_port()
    t_live = math.floor(time.time()) + 2
    shop = Shop(k0=t_live - HISTORY, t_live=t_live, deploy_at=t_live + 14, bad_from=t_live + 18,
                instance=f"127.0.0.1:{exporter_port}", glitch_at=(t_live + 4) // 4 * 4 + 1)
    data = await backfill(promtool, shop, shop.k0, t_live, tmp_path)
    cfg_file = scrape_config(tmp_path / "prometheus.yml", exporter_port)
    url = f"http://127.0.0.1:{port}"
    exporter = serve_counters(shop, exporter_port)
    next(exporter)
    try:
        with running([prometheus, f"--config.file={cfg_file}", f"--storage.tsdb.path={data}",
                      f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                     f"{url}/-/ready", tmp_path / "prometheus.log"):
            cfg = _config(url, tmp_path / "wc.db")
            store = await Store.open(cfg.store.url)
            try:
                sources, statuses = build_sources(cfg, store)
                rec = RecordingNotifier()
                daemon = Daemon(store=store, topology=topology_of(cfg), sources=sources, notifiers={"rec": rec},
                                statuses=statuses, step=STEP)
                task = asyncio.create_task(daemon.run())
                deploy = Change("chg-e2e-bad", float(shop.deploy_at), ChangeKind.DEPLOY, "checkout", "shop",
                                "checkout rollout revision 14 -> 15",
                                attributes={"from_revision": "14", "to_revision": "15"})
                posted = False
                while time.time() < shop.bad_from + 36 and not rec.pages:
                    if not posted and time.time() >= shop.deploy_at:
                        await daemon.submit_changes([deploy], source="api")  # what POST /api/v1/changes does
                        posted = True
                    await asyncio.sleep(0.2)
                await asyncio.sleep(2 * STEP)  # a second, false page would show by now
                head = daemon.engine.history_until
                end = daemon.engine.now
                daemon.stop()
                await asyncio.wait_for(task, timeout=30)
                incidents = await store.incidents.find()
            finally:
                await store.close()
            # the live glitch reached the daemon as one sample of checkout's p99 (the rate window is the step)
            latency = next(sig for sig in cfg.all_signals() if sig.name.startswith("latency"))
            g = shop.glitch_at
            result = await asyncio.to_thread(_query_range, url, latency.query, g - 12, g + 16)
            p99 = [float(v) for s in result if s["metric"].get("job") == "checkout" for _, v in s["values"]]
            assert sum(v > 1.0 for v in p99) == 1, p99
            triggers = [p for _, p in rec.pages if p.action == "trigger"]
            assert len(triggers) == 1, [p.title for p in triggers]
            live = _paged(incidents)
            assert list(live.values()) == [{"type": "change", "id": "chg-e2e-bad"}], "the true cause first"
            paged_inc = next(i for i in incidents if i["id"] in live)
            assert abs(paged_inc["onset"] - shop.bad_from) <= 3 * STEP
            history = [i for i in incidents if abs(i["onset"] - (t_live - 600)) <= 3 * STEP]
            assert history and all(i["paged_at"] is None and i["state"] == "resolved" for i in history), \
                "the recovered outage of the history is recorded, never paged"
            assert head >= t_live - 3 * STEP, "the catch-up announced its head (the newest settled step at start)"
            print(f"paged {triggers[0].ts - shop.bad_from:.0f}s after the outage began: {triggers[0].title}")

            # The backtest of the same window, read as the daemon read it, gives the same pages.
            doc = await backtest(cfg, float(shop.k0 - shop.k0 % int(STEP)), end, history_until=head)
            assert _paged(doc["incidents"]) == live
    finally:
        next(exporter, None)
    assert time.monotonic() - started < 90
