"""End to end against a real Prometheus: a dev scenario backfilled with promtool, the daemon and the backtest."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.config import parse_config
from daemon.config.domain import topology_of
from daemon.runtime.backtest import backtest
from daemon.runtime.daemon import Daemon
from daemon.sources.factory import build_sources
from daemon.sources.scenario import load_scenario
from daemon.store import Store
from tests.conftest import DEV_SCENARIOS, require_or_skip

from .helpers import FakeClock, RecordingNotifier
from .servers import prometheus_with

pytestmark = pytest.mark.server

SCENARIO = DEV_SCENARIOS / "dev-bad_deploy-1"
BEFORE, AFTER = 2.5 * 3600, 1800.0  # warm-up before the onset, and after it


def _window() -> tuple[float, float, dict[str, object]]:
    truth = json.loads((SCENARIO / "truth.json").read_text())["incidents"][0]
    return truth["onset"] - BEFORE, truth["onset"] + AFTER, truth


def _config(url: str, db: Path, lookback: float) -> dict[str, object]:
    meta = json.loads((SCENARIO / "scenario.json").read_text())
    return {
        "store": {"url": f"sqlite+aiosqlite:///{db}"},
        "prometheus": {"url": url, "step": f"{meta['step_seconds']}s", "lookback": f"{lookback:.0f}s",
                       "timeout": "10s"},
        "signals": [{"name": name, "query": name, "service_label": "service"}
                    for name in ("error_ratio", "latency_p99_seconds", "request_rate")],
        "services": meta["services"],
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Prometheus for the module: backfilling and starting it is most of the time these tests take."""
    require_or_skip(SCENARIO.is_dir(), f"dev scenario not found at {SCENARIO}")
    start, end, _ = _window()
    with prometheus_with(load_scenario(SCENARIO), start, end, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


async def _load_changes(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        await store.changes.add(load_scenario(SCENARIO).changes(), source="api", received_at=0.0)
    finally:
        await store.close()


async def test_daemon_against_real_prometheus_pages_the_bad_deploy(prometheus: str, tmp_path: Path) -> None:
    start, end, truth = _window()
    cfg = parse_config(_config(prometheus, tmp_path / "wc.db", lookback=end - start))
    await _load_changes(cfg.store.url)
    clock = FakeClock(end + 60)  # the source's catch-up window is the scenario's past window
    store = await Store.open(cfg.store.url)
    try:
        sources, statuses = build_sources(cfg, store)
        for s in sources:
            s.clock = clock  # type: ignore[attr-defined]
        rec = RecordingNotifier()
        daemon = Daemon(store=store, topology=topology_of(cfg), sources=sources, notifiers={"rec": rec},
                        statuses=statuses, step=cfg.prometheus.step if cfg.prometheus else 30.0, clock=clock)
        task = asyncio.create_task(daemon.run())
        paged: list[dict[str, object]] = []
        for _ in range(400):
            await asyncio.sleep(0.1)
            paged = [i for i in await store.incidents.find() if i["paged_at"] is not None]
            if paged and daemon.queue.empty():
                break
        daemon.stop()
        await asyncio.wait_for(task, timeout=30)
        assert paged, "no incident paged from the Prometheus data"
        inc = min(paged, key=lambda i: abs(float(i["onset"]) - float(truth["onset"])))  # type: ignore[arg-type]
        assert abs(float(inc["onset"]) - float(truth["onset"])) <= 600  # type: ignore[arg-type]
        assert set(inc["services"]) & set(truth["services"])  # type: ignore[call-overload]
        assert inc["candidates"][0]["cause"] == truth["cause"]  # type: ignore[index]
        assert rec.pages and rec.pages[0][1].incident_id == inc["id"]
        # the catch-up was recorded: a restart resumes at the end of the window
        assert float(await store.cursors.load("prometheus") or 0) >= end - 60
        assert not statuses[0].stale(clock()) and statuses[0].last_error is None
    finally:
        await store.close()


def test_backtest_cli_prints_what_would_have_paged(prometheus: str, tmp_path: Path) -> None:
    start, end, truth = _window()
    db = tmp_path / "bt.db"
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(json.dumps(_config("http://127.0.0.1:1", db, lookback=3600)))  # URL comes from --prometheus
    asyncio.run(_load_changes(f"sqlite+aiosqlite:///{db}"))
    out = subprocess.run([sys.executable, "-m", "daemon.cli", "--log-level", "WARNING", "replay",
                          "--prometheus", prometheus, "--from", f"{start:.0f}", "--to", f"{end:.0f}",
                          "--config", str(cfg_path)], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    paged = [i for i in doc["incidents"] if i["paged_at"] is not None]
    assert len(paged) == 1, [i["services"] for i in paged]
    assert abs(paged[0]["onset"] - truth["onset"]) <= 600
    assert paged[0]["candidates"][0]["cause"] == truth["cause"]


async def test_backtest_of_a_quiet_window_pages_nothing(prometheus: str, tmp_path: Path) -> None:
    start, _, truth = _window()
    cfg = parse_config(_config(prometheus, tmp_path / "q.db", lookback=3600))
    doc = await backtest(cfg, start, float(truth["onset"]) - 600)  # type: ignore[arg-type]
    assert [i for i in doc["incidents"] if i["paged_at"] is not None] == []
