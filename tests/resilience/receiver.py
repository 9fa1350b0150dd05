"""A local webhook receiver on loopback whose answers a test scripts: ok, 500, 429 or hang.

It records every delivery attempt and every accepted (2xx) delivery by ``Idempotency-Key``,
so a test can say "no page lost, none doubled" from the receiver's side, not the sender's.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from aiohttp import web

__all__ = ["Receiver"]


class Receiver:
    def __init__(self, script: list[str] | None = None, retry_after: str = "1") -> None:
        self.script = list(script or [])
        self.retry_after = retry_after
        self.attempts: list[str] = []
        self.accepted: list[str] = []
        self.bodies: dict[str, dict[str, Any]] = {}
        self.accepted_at: dict[str, float] = {}
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = await request.json()
        self.attempts.append(key)
        mode = self.script.pop(0) if self.script else "ok"
        if mode == "hang":
            await self._release.wait()  # until the test ends; the sender's timeout fires first
            return web.Response(status=503)
        if mode == "500":
            return web.Response(status=500, text="boom")
        if mode == "429":
            return web.Response(status=429, text="slow down", headers={"Retry-After": self.retry_after})
        self.accepted.append(key)
        self.bodies[key] = body
        self.accepted_at.setdefault(key, time.perf_counter())
        return web.json_response({"ok": True})

    def doubled(self) -> dict[str, int]:
        """Keys accepted more than once (the sender re-sent after the receiver had said yes)."""
        return {k: n for k, n in Counter(self.accepted).items() if n > 1}

    def actions(self) -> list[str]:
        return [self.bodies[k]["action"] for k in dict.fromkeys(self.accepted)]

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
