"""HTTP(S) dependency probes: interval, timeout, expected status, bounded concurrency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp

from ..config import ProbeConfig
from ..core.events import Event, ProbeResult
from .base import SourceStatus

__all__ = ["ProbeSource"]


class ProbeSource:
    def __init__(self, probes: Sequence[ProbeConfig], status: SourceStatus, *, concurrency: int = 16,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = "probes"
        self.probes = list(probes)
        self.status = status
        self.clock = clock
        self._sem = asyncio.Semaphore(concurrency)

    async def _probe(self, session: aiohttp.ClientSession, p: ProbeConfig) -> ProbeResult:
        ts = self.clock()
        async with self._sem:
            try:
                async with session.get(p.url, timeout=aiohttp.ClientTimeout(total=p.timeout),
                                       allow_redirects=False) as resp:
                    ok = resp.status == p.expect_status
                    return ProbeResult(ts, p.target, ok, f"HTTP {resp.status}")
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                return ProbeResult(ts, p.target, False, type(e).__name__)

    async def events(self) -> AsyncIterator[Event]:
        if not self.probes:
            return
        interval = min(p.interval for p in self.probes)
        due = {p.target: 0.0 for p in self.probes}
        async with aiohttp.ClientSession() as session:
            while True:
                now = self.clock()
                todo = [p for p in self.probes if due[p.target] <= now]
                for p in todo:
                    due[p.target] = now + p.interval
                results = await asyncio.gather(*(self._probe(session, p) for p in todo))
                self.status.ok(self.clock())  # the prober works; the targets' health is in the results
                for result in results:
                    yield result
                await asyncio.sleep(interval)
