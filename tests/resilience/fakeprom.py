"""A fake Prometheus HTTP API on loopback whose data and outages follow a fake clock.

``/api/v1/query_range`` answers a matrix per service for the query named by the signal
(``error_ratio`` or ``request_rate``), with values from a deterministic shop model; only
points at or before the clock's now exist. While ``down(now)`` is true it answers 503 or
drops the connection, like a Prometheus that is restarting or unreachable.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["FakePrometheus"]

SERVICES = ("frontend", "checkout", "payments", "search")


def shop_value(ts: float, service: str, signal: str, bad: Callable[[float, str], bool]) -> float:
    rng = random.Random(f"{ts:.0f}/{service}/{signal}")
    if signal == "request_rate":
        return 100 * (1 + 0.05 * rng.uniform(-1, 1))
    if bad(ts, service):
        return 0.12 * (1 + 0.1 * rng.uniform(-1, 1))
    return 0.005 * (1 + 0.2 * rng.uniform(-1, 1))


class FakePrometheus:
    def __init__(self, clock: Callable[[], float], *, down: Callable[[float], bool] = lambda now: False,
                 bad: Callable[[float, str], bool] = lambda ts, svc: False, failure: str = "503") -> None:
        self.clock = clock
        self.down = down
        self.bad = bad
        self.failure = failure
        self.requests = 0
        self.failed = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _query_range(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.down(self.clock()):
            self.failed += 1
            if self.failure == "reset" and request.transport is not None:
                request.transport.abort()
            return web.Response(status=503, text="prometheus is restarting")
        q = request.query
        signal, start, end, step = q["query"], float(q["start"]), float(q["end"]), float(q["step"].rstrip("s"))
        end = min(end, self.clock())
        result: list[dict[str, Any]] = []
        for svc in SERVICES:
            values = []
            t = math.ceil(start / step) * step
            while t <= end:
                values.append([t, repr(shop_value(t, svc, signal, self.bad))])
                t += step
            if values:
                result.append({"metric": {"service": svc, "__name__": signal}, "values": values})
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": result}})

    async def __aenter__(self) -> FakePrometheus:
        app = web.Application()
        app.router.add_get("/api/v1/query_range", self._query_range)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
