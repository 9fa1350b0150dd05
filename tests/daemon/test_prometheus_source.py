"""The Prometheus source's failure modes, with the real client against a local server speaking the HTTP API."""

from __future__ import annotations

import asyncio
import base64
import math
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from daemon.config import HealthQueryConfig, PrometheusConfig, SignalConfig, TemplateConfig
from daemon.core.events import CatchUp, Event, ProbeResult, Sample, SampleBatch
from daemon.sources.base import SourceStatus
from daemon.sources.prometheus import MAX_POINTS, PrometheusError, PrometheusSource
from daemon.sources.templates import TEMPLATES

from .helpers import FakeClock
from .servers import PROMTOOL, require_binary

STEP = 30.0
NOW = 1_790_000_000.0 + 7  # not on a step boundary


class FakePrometheus:
    """``/api/v1/query_range`` over a generated series; can fail, stall and demand auth."""

    def __init__(self) -> None:
        self.fail: list[int] = []  # HTTP statuses to answer with first
        self.stall = 0.0
        self.auth: str | None = None
        self.calls: list[dict[str, str]] = []
        self.value = lambda ts: 0.01

    async def query_range(self, request: web.Request) -> web.Response:
        params = dict(request.query) if request.method == "GET" else dict(await request.post())
        self.calls.append(params)
        if self.auth is not None and request.headers.get("Authorization") != self.auth:
            return web.json_response({"status": "error", "errorType": "unauthorized"}, status=401)
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.fail:
            status = self.fail.pop(0)
            return web.json_response({"status": "error", "errorType": "bad_data" if status == 400 else "unavailable",
                                      "error": "nope"}, status=status)
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"].rstrip("s"))
        n = int((end - start) / step) + 1
        assert n <= MAX_POINTS, f"query_range asked {n} points per series"
        values = [[start + i * step, "NaN" if math.isnan(v := self.value(start + i * step)) else str(v)]
                  for i in range(n)]
        if params["query"].startswith("up"):
            return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"instance": "db:5432", "job": "db"}, "values": [[t, "1" if t < NOW - 600 else "0"]
                                                                             for t, _ in values]}]}})
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"service": "checkout"}, "values": values}]}})


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakePrometheus, str]]:
    prom = FakePrometheus()
    app = web.Application()
    app.router.add_route("*", "/api/v1/query_range", prom.query_range)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield prom, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


class MemoryCursor:
    def __init__(self, value: str | None = None) -> None:
        self.value = value

    async def load(self, source: str) -> str | None:
        return self.value

    async def save(self, source: str, value: str, now: float | None = None) -> None:
        self.value = value


def _source(url: str, clock: FakeClock, cursor: MemoryCursor | None = None, sleeps: list[float] | None = None,
            **cfg: Any) -> tuple[PrometheusSource, SourceStatus]:
    status = SourceStatus("prometheus", stale_after=120)
    pcfg = PrometheusConfig.model_validate({"url": url, "step": STEP, "lookback": 3600, "timeout": 2, **cfg})

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0.001)  # let the rest of the loop run: no busy retry loop

    src = PrometheusSource(pcfg, [SignalConfig(name="error_ratio", query="errors", service_label="service")],
                           status, clock=clock, cursor=cursor, sleep=sleep,
                           health=[HealthQueryConfig(query="up{job='db'}", target_label="instance")])
    return src, status


def flat(ev: Event) -> list[Event]:
    """A step's batch as its samples (the source hands over one per query and step)."""
    return list(ev.samples()) if isinstance(ev, SampleBatch) else [ev]


async def _take(src: PrometheusSource, n: int) -> list[Any]:
    out: list[Any] = []
    async for ev in src.events():
        out += flat(ev)
        if len(out) >= n:
            break
    return out[:n]


async def test_each_query_result_per_step_is_one_batch(fake: tuple[FakePrometheus, str]) -> None:
    _, url = fake
    clock = FakeClock(NOW)
    src, _ = _source(url, clock, MemoryCursor())
    batches: list[Any] = []
    async for ev in src.events():
        batches.append(ev)
        if len(batches) >= 40:
            break
    kinds = [type(e).__name__ for e in batches]
    # the catch-up at start-up is announced with its head, then per step: query, health
    assert kinds[:5] == ["CatchUp", "SampleBatch", "ProbeResult", "SampleBatch", "ProbeResult"]
    assert batches[0].ts >= max(b.ts for b in batches[1:] if not isinstance(b, CatchUp))
    assert all(len(b) == 1 and b.signal == "error_ratio" for b in batches if isinstance(b, SampleBatch))
    single, _ = _source(url, FakeClock(NOW), MemoryCursor())
    single.batch = False
    one_by_one = await _take(single, 40)
    assert all(not isinstance(e, SampleBatch) for e in one_by_one)
    assert [x for b in batches for x in flat(b)] == one_by_one


async def test_catch_up_is_aligned_and_resumes_from_the_cursor(fake: tuple[FakePrometheus, str]) -> None:
    prom, url = fake
    clock, cursor = FakeClock(NOW), MemoryCursor()
    src, status = _source(url, clock, cursor)
    head, *events = (await _take(src, 1 + 120 + 120 + 1))[:241]  # one hour of samples and health; the cursor is saved after
    samples = [e for e in events if isinstance(e, Sample)]
    assert isinstance(head, CatchUp) and head.ts == samples[-1].ts  # the catch-up's head: history before it
    assert len(samples) == 120 and all(s.ts % STEP == 0 for s in samples)
    assert samples[-1].ts <= NOW - src.settle
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    probes = [e for e in events if isinstance(e, ProbeResult)]
    assert probes[0].target == "db:5432" and probes[0].healthy and not probes[-1].healthy
    assert cursor.value is not None and float(cursor.value) == samples[-1].ts
    assert status.last_error is None and not status.stale(clock())
    # restart 5 minutes later: only the new steps are fetched
    clock.now += 300
    prom.calls.clear()
    src2, _ = _source(url, clock, cursor)
    more = [e for e in await _take(src2, 20) if isinstance(e, Sample)]
    assert more[0].ts == samples[-1].ts + STEP and len(more) == 10


async def test_a_cursor_older_than_lookback_is_capped(fake: tuple[FakePrometheus, str]) -> None:
    _, url = fake
    clock = FakeClock(NOW)
    src, _ = _source(url, clock, MemoryCursor(str(NOW - 30 * 86400)))
    samples = [e for e in await _take(src, 240) if isinstance(e, Sample)]
    assert len(samples) == 120


async def test_long_windows_are_split_under_the_points_limit(fake: tuple[FakePrometheus, str]) -> None:
    prom, url = fake
    src, _ = _source(url, FakeClock(NOW), step=1)
    events = await src.fetch(NOW - 30_000, NOW)  # 30,001 points per series at 1 s
    samples = [e for e in events if isinstance(e, Sample)]
    assert len(samples) == 30_001 and len({s.ts for s in samples}) == 30_001
    assert len([c for c in prom.calls if c["query"] == "errors"]) == 3


async def test_outage_marks_stale_never_a_gap_and_backs_off(fake: tuple[FakePrometheus, str]) -> None:
    prom, url = fake
    clock, sleeps = FakeClock(NOW), []
    src, status = _source(url, clock, MemoryCursor(), sleeps)
    prom.fail = [503, 503, 503, 503, 503]
    seen: list[Any] = []
    gen = src.events()
    # while it fails, nothing is yielded, the source is in error and backs off ever longer
    first = await gen.__anext__()
    seen += flat(first)
    assert len(sleeps) >= 5 and sleeps[1] > sleeps[0] * 1.3 and sleeps[4] > sleeps[1]
    async for ev in gen:
        seen += flat(ev)
        if isinstance(ev, SampleBatch) and ev.ts >= clock.now - 2 * STEP - src.settle:
            break
    await gen.aclose()
    samples = [e for e in seen if isinstance(e, Sample)]
    # the whole outage was caught up afterwards: contiguous steps, no hole for a detector to see
    steps = {s.ts for s in samples}
    assert all(t + STEP in steps for t in sorted(steps)[:-1])
    assert status.last_error is None


async def test_status_is_stale_while_prometheus_is_down(fake: tuple[FakePrometheus, str]) -> None:
    prom, url = fake
    clock = FakeClock(NOW)
    src, status = _source(url, clock, MemoryCursor())
    await _take(src, 240)
    prom.fail = [503] * 50
    gen = src.events()

    during: list[Any] = []

    async def drive() -> None:
        async for ev in gen:
            during.append(ev)
    task = asyncio.create_task(drive())
    for _ in range(200):
        await asyncio.sleep(0.05)  # the client runs in a worker thread
        clock.now += STEP / 2  # time goes on: new steps are due, and each fetch of them fails
        if status.last_error and status.stale(clock.now):
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert status.last_error and "503" in status.last_error and "error_ratio" in status.last_error
    assert status.stale(clock.now) and during == []


async def test_bad_query_is_permanent_and_named(fake: tuple[FakePrometheus, str]) -> None:
    prom, url = fake
    src, _ = _source(url, FakeClock(NOW))
    prom.fail = [400]
    with pytest.raises(PrometheusError) as e:
        await src.fetch(NOW - 600, NOW)
    assert not e.value.retryable and "error_ratio" in str(e.value)


async def test_timeout_is_retryable(fake: tuple[FakePrometheus, str]) -> None:
    prom, url = fake
    src, _ = _source(url, FakeClock(NOW), timeout=0.2)
    prom.stall = 2.0
    with pytest.raises(PrometheusError) as e:
        await src.fetch(NOW - 600, NOW)
    assert e.value.retryable


async def test_nan_values_pass_through_for_the_detectors_to_skip(fake: tuple[FakePrometheus, str]) -> None:
    prom, url = fake
    prom.value = lambda ts: math.nan if int(ts / STEP) % 2 else 0.02
    src, _ = _source(url, FakeClock(NOW))
    samples = [e for e in await src.fetch(NOW - 600, NOW) if isinstance(e, Sample)]
    assert any(math.isnan(s.value) for s in samples) and any(s.value == 0.02 for s in samples)


@pytest.mark.parametrize("cfg, header", [
    ({"bearer_token": {"value": "s3cret"}}, "Bearer s3cret"),
    ({"basic_auth": {"username": "u", "password": {"value": "p"}}}, "Basic " + base64.b64encode(b"u:p").decode()),
])
async def test_auth_is_sent(fake: tuple[FakePrometheus, str], cfg: dict[str, Any], header: str) -> None:
    prom, url = fake
    prom.auth = header
    src, _ = _source(url, FakeClock(NOW), **cfg)
    assert [e for e in await src.fetch(NOW - 300, NOW) if isinstance(e, Sample)]
    wrong, _ = _source(url, FakeClock(NOW), bearer_token={"value": "nope"})
    with pytest.raises(PrometheusError) as e:
        await wrong.fetch(NOW - 300, NOW)
    assert not e.value.retryable


async def test_tls_options_reach_the_session(tmp_path: Path) -> None:
    from daemon.sources.prometheus import connect
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    pcfg = PrometheusConfig.model_validate({"url": "https://prom:9090", "tls": {"ca_file": str(ca),
                                           "cert_file": "c.pem", "key_file": "k.pem"}})
    client = connect(pcfg)
    assert client._session.verify == str(ca) and client._session.cert == ("c.pem", "k.pem")
    insecure = connect(PrometheusConfig.model_validate({"url": "https://p", "tls": {"insecure_skip_verify": True}}))
    assert insecure._session.verify is False


def test_templates_are_valid_promql(tmp_path: Path) -> None:
    """Every template's queries parse in Prometheus itself (promtool checks the rule expressions)."""
    promtool = require_binary(PROMTOOL)
    rules = ["groups:", "- name: templates", "  rules:"]
    for name in TEMPLATES:
        for sig in TemplateConfig(template=name, services=["a", "b"], selector='namespace="shop"').signals(30.0):
            rules.append(f"  - record: wc:{name}:{sig.name}")
            rules.append(f"    expr: {sig.query!r}".replace("expr: '", "expr: '", 1))
    path = tmp_path / "rules.yml"
    path.write_text("\n".join(rules) + "\n")
    out = subprocess.run([promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{3 * len(TEMPLATES)} rules found" in out.stdout


async def test_a_down_prometheus_shows_on_readyz_and_metrics_and_pages_nothing(
        fake: tuple[FakePrometheus, str], sqlite_store: Any) -> None:
    from aiohttp.test_utils import TestClient

    from daemon.api.app import create_app
    from daemon.runtime.daemon import Daemon

    from .helpers import SHOP
    prom, url = fake
    clock = FakeClock(NOW)
    src, status = _source(url, clock, MemoryCursor())
    prom.fail = [503] * 1000
    daemon = Daemon(store=sqlite_store, topology=SHOP, sources=[src], notifiers={}, statuses=[status], clock=clock,
                    step=STEP)
    task = asyncio.create_task(daemon.run())
    async with TestClient(TestServer(create_app(daemon))) as client:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if status.last_error and status.stale(clock.now):
                break
        r = await client.get("/readyz")
        body = await r.json()
        assert r.status == 503 and any(x.startswith("source prometheus stale") and "503" in x for x in body["reasons"])
        text = await (await client.get("/metrics")).text()
        assert 'whatchanged_source_up{source="prometheus"} 0.0' in text
    daemon.stop()
    await asyncio.wait_for(task, timeout=30)
    assert daemon.engine.series_count == 0 and await sqlite_store.incidents.find() == []
