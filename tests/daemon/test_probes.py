"""HTTP dependency probes against local servers: healthy, wrong status, refused, timeout, concurrency; stored transitions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from daemon.config import ProbeConfig
from daemon.core.events import ProbeResult
from daemon.runtime.daemon import Daemon
from daemon.sources.base import SourceStatus
from daemon.sources.probes import ProbeSource
from daemon.store import Store

from .helpers import SHOP, FakeClock
from .servers import free_port


class Backend:
    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.inflight = 0
        self.peak = 0

    async def health(self, request: web.Request) -> web.Response:
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            await asyncio.sleep(self.delay)
            return web.Response(status=self.status, text="ok")
        finally:
            self.inflight -= 1


@pytest.fixture
async def backend() -> AsyncIterator[tuple[Backend, str]]:
    b = Backend()
    app = web.Application()
    app.router.add_get("/health", b.health)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield b, str(server.make_url("/health"))
    finally:
        await server.close()


async def _one_round(src: ProbeSource) -> list[ProbeResult]:
    out: list[ProbeResult] = []
    gen = src.events()
    async for ev in gen:
        assert isinstance(ev, ProbeResult)
        out.append(ev)
        if len(out) == len(src.probes):
            break
    await gen.aclose()
    return out


async def test_probe_outcomes(backend: tuple[Backend, str]) -> None:
    b, url = backend
    probes = [ProbeConfig(target="ok", url=url, timeout=1),
              ProbeConfig(target="expects-204", url=url, expect_status=204, timeout=1),
              ProbeConfig(target="refused", url=f"http://127.0.0.1:{free_port()}/health", timeout=1)]
    status = SourceStatus("probes")
    results = {r.target: r for r in await _one_round(ProbeSource(probes, status))}
    assert results["ok"].healthy and results["ok"].detail == "HTTP 200"
    assert not results["expects-204"].healthy and results["expects-204"].detail == "HTTP 200"
    assert not results["refused"].healthy and "Connect" in results["refused"].detail
    assert status.last_ok is not None
    b.delay = 2.0
    [slow] = await _one_round(ProbeSource([ProbeConfig(target="slow", url=url, timeout=0.3)], status))
    assert not slow.healthy and "Timeout" in slow.detail


async def test_concurrency_is_bounded(backend: tuple[Backend, str]) -> None:
    b, url = backend
    b.delay = 0.2
    probes = [ProbeConfig(target=f"t{i}", url=url, timeout=5) for i in range(12)]
    results = await _one_round(ProbeSource(probes, SourceStatus("probes"), concurrency=3))
    assert len(results) == 12 and all(r.healthy for r in results)
    assert b.peak == 3


async def test_transitions_are_stored_as_health_events(sqlite_store: Store) -> None:
    clock = FakeClock()
    daemon = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=clock, step=30.0)
    t0 = clock.now
    pattern: list[Any] = [True] * 5 + [False] * 6 + [True] * 6
    for i, healthy in enumerate(pattern):
        await daemon.handle(ProbeResult(t0 + 15 * i, "payments-gateway", healthy))
    events = sorted(await sqlite_store.health.find(), key=lambda h: h.ts)
    assert [h.healthy for h in events][-2:] == [False, True]
    assert all(h.target == "payments-gateway" for h in events)
