"""Three real replicas (``whatchanged run`` processes) against one PostgreSQL and a live Prometheus.

Prometheus is the Debian binary, started on a loopback port over TSDB blocks that
``promtool tsdb create-blocks-from openmetrics`` made from a short scenario: ten
minutes of quiet history, then checkout and frontend fail for 30 s a little after
the replicas start (the blocks reach into the near future; the replicas' polls
reveal it as wall time passes). The leader is SIGKILLed right after it paged;
another replica must take over within the lease, the series must be re-partitioned
over the two survivors (each watched once), and the incident must resolve through
the new leader without a second trigger.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import require_or_skip
from tests.daemon.servers import free_port

pytestmark = pytest.mark.server

PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
SERVICES = ["frontend", "checkout", "payments", "search", "catalog", "cart"]
SIGNALS = {"error_ratio": "wc_error_ratio", "request_rate": "wc_request_rate"}
BAD_FROM, BAD_FOR = 22, 30  # seconds after the scenario's t0



def _scenario(t0: int) -> str:
    import random
    rng = random.Random(3)
    lines = []
    for metric, base in (("wc_error_ratio", 0.005), ("wc_request_rate", 100.0)):
        lines.append(f"# TYPE {metric} gauge")
        for svc in SERVICES:
            for t in range(t0 - 600, t0 + 180):
                v = base * (1 + 0.1 * rng.uniform(-1, 1))
                if metric == "wc_error_ratio" and svc in ("checkout", "frontend") and \
                        t0 + BAD_FROM <= t < t0 + BAD_FROM + BAD_FOR:
                    v = 0.15 * (1 + 0.05 * rng.uniform(-1, 1))
                lines.append(f'{metric}{{service="{svc}"}} {v:.6f} {t}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _start_prometheus(tmp: Path, t0: int) -> tuple[subprocess.Popen[bytes], str]:
    assert PROMETHEUS and PROMTOOL
    (tmp / "scenario.om").write_text(_scenario(t0))
    data = tmp / "prom-data"
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "scenario.om"), str(data)],
                   check=True, capture_output=True, timeout=60)
    (tmp / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    with open(tmp / "prometheus.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=log)
    return proc, f"http://127.0.0.1:{port}"


def _config(tmp: Path, i: int, pg_url: str, prom: str, hook: str) -> Path:
    cfg = {
        "listen": f"127.0.0.1:{free_port()}",
        "store": {"url": pg_url},
        "prometheus": {"url": prom, "step": "1s", "lookback": "5m", "timeout": "5s"},
        "signals": [{"name": name, "query": metric} for name, metric in SIGNALS.items()],
        "services": [{"name": "frontend", "calls": ["checkout", "search", "catalog", "cart"]},
                     {"name": "checkout", "calls": ["payments"]}, {"name": "payments"}, {"name": "search"},
                     {"name": "catalog"}, {"name": "cart"}],
        "notifiers": [{"type": "webhook", "name": "hook", "url": hook}],
        "delivery": {"resolve_hold": 0},  # resolve at once (no flap damping): the test waits for it
        "cluster": {"replicas": 3, "index": i, "leader": "postgres", "heartbeat": "1s", "member_ttl": "4s",
                    "checkpoint": "1s"},
    }
    path = tmp / f"replica-{i}.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


class Hook:
    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.pages.append(dict(await request.json(), idempotency_key=request.headers.get("Idempotency-Key")))
        return web.json_response({"ok": True})


async def _status(session: aiohttp.ClientSession, listen: str) -> dict[str, Any] | None:
    try:
        async with session.get(f"http://{listen}/api/v1/cluster", timeout=aiohttp.ClientTimeout(total=2)) as r:
            return dict(await r.json())
    except (TimeoutError, aiohttp.ClientError):
        return None


async def _wait(what: str, cond: Any, timeout: float) -> Any:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = await cond()
        if got:
            return got
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def test_three_replicas_leader_killed_mid_incident(pg_url: str, tmp_path: Path) -> None:
    require_or_skip(bool(PROMETHEUS and PROMTOOL), "prometheus and promtool not installed (Debian: prometheus)")
    t0 = int(time.time())
    prom, prom_url = _start_prometheus(tmp_path, t0)
    hook = Hook()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    procs: dict[int, subprocess.Popen[bytes]] = {}
    listens: dict[int, str] = {}
    try:
        for i in range(3):
            cfg = _config(tmp_path, i, pg_url, prom_url, f"http://127.0.0.1:{hook_port}/hook")
            listens[i] = json.loads(cfg.read_text())["listen"]
            with open(tmp_path / f"replica-{i}.log", "wb") as log:  # noqa: ASYNC230 - before the child starts
                procs[i] = subprocess.Popen([sys.executable, "-m", "daemon.cli", "run", "--config", str(cfg)],
                                            stdout=subprocess.DEVNULL, stderr=log,
                                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        async with aiohttp.ClientSession() as session:
            async def statuses() -> dict[int, dict[str, Any]]:
                out = {}
                for i, proc in procs.items():
                    if proc.poll() is None and (st := await _status(session, listens[i])) is not None:
                        out[i] = st
                return out

            all_series = {f"{svc}/{sig}" for svc in SERVICES for sig in SIGNALS}

            async def partitioned(expect: set[int]) -> dict[int, dict[str, Any]] | None:
                sts = await statuses()
                if set(sts) != expect or any(st["members"] != sorted(str(i) for i in expect) for st in sts.values()):
                    return None
                owned = [s for st in sts.values() for s in st["series"]]
                return sts if sorted(owned) == sorted(all_series) else None

            sts = await _wait("3 replicas sharing all series once", lambda: partitioned({0, 1, 2}), 40)
            leaders = [i for i, st in sts.items() if st["leader"]]
            assert len(leaders) == 1, sts
            assert all(len(st["series"]) >= 1 for st in sts.values()), "every replica watches a share"

            async def triggered() -> bool:
                return any(p["action"] == "trigger" for p in hook.pages)
            await _wait("the trigger page", triggered, BAD_FROM + 40 - (time.time() - t0))
            await asyncio.sleep(1.0)  # the page is marked sent
            leader = leaders[0]
            killed_at = time.monotonic()
            procs[leader].send_signal(signal.SIGKILL)  # mid-incident: checkout is still failing
            procs[leader].wait(5)
            survivors = {0, 1, 2} - {leader}

            async def new_leader() -> list[int] | None:
                sts = await statuses()
                led = [i for i, st in sts.items() if st["leader"]]
                return led if len(led) == 1 else None
            (second,) = await _wait("a new leader", new_leader, 15)
            took_over = time.monotonic() - killed_at
            assert second in survivors
            await _wait("2 survivors sharing all series once", lambda: partitioned(survivors), 15)

            async def resolved() -> bool:
                return any(p["action"] == "resolve" for p in hook.pages)
            await _wait("the resolve page from the new leader", resolved, BAD_FROM + BAD_FOR + 60 - (time.time() - t0))
            await asyncio.sleep(2.0)
        triggers = [p for p in hook.pages if p["action"] == "trigger"]
        assert len(triggers) == 1, [(p["action"], p["title"]) for p in hook.pages]
        assert "checkout" in triggers[0]["title"] or "frontend" in triggers[0]["title"]
        resolves = [p for p in hook.pages if p["action"] == "resolve"]
        assert resolves and {p["dedup_key"] for p in resolves} == {triggers[0]["dedup_key"]}
        assert took_over < 15, f"takeover took {took_over:.1f}s"
        print(f"\nleader {leader} killed; replica {second} led after {took_over:.1f}s; pages: "
              f"{[p['action'] for p in hook.pages]}")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        prom.terminate()
        prom.wait(10)
        await runner.cleanup()
        for i in procs:
            log = tmp_path / f"replica-{i}.log"
            if log.exists():
                sys.stderr.write(f"--- replica {i} (last lines)\n" + "\n".join(log.read_text().splitlines()[-15:]) + "\n")
