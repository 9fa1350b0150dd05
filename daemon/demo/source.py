"""The built-in demo: a simulated shop in real time, behind the same daemon as production.

On start the last hour is backfilled at once (as a Prometheus catch-up would be),
so the detectors are warm; then a step is simulated every ``step`` seconds of wall
time. The first incident is injected ``first_after`` seconds after start.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from ..core.events import CatchUp, Event
from ..sources.base import SourceStatus
from .narrate import describe_injection
from .shop import AutoSchedule, DemoShop, NoiseSettings

__all__ = ["DemoSource", "demo_shop", "prepare_store"]

log = logging.getLogger("whatchanged.demo")


class DemoSource:
    def __init__(self, shop: Any, status: SourceStatus, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Any] = asyncio.sleep, labelled: Any = None) -> None:
        self.name = "demo"
        self.labelled = labelled  # takes the shop's per-version samples (its confirm tests' data)
        self.shop = shop
        self.status = status
        self.clock = clock
        self.sleep = sleep
        self._next = shop.start
        self._announced = 0

    def _announce(self) -> None:
        """Log each injected incident as it happens, with its truth (so a newcomer can check the answer)."""
        incidents = self.shop.incidents()
        if len(incidents) <= self._announced:
            return
        for inc in incidents[self._announced:]:
            log.info("demo: %s", describe_injection(inc))
        self._announced = len(incidents)

    async def events(self) -> AsyncIterator[Event]:
        step = self.shop.step
        if self._next < self.clock():  # the backfilled hour is history: it warms, pages only what is open at its head
            yield CatchUp(self._next + math.floor((self.clock() - self._next) / step) * step, self.name)
        while True:
            now = self.clock()
            if self._next > now:
                await self.sleep(self._next - now)
                continue
            tick = self.shop.tick(self._next)
            self._announce()
            for ch in tick.changes:
                yield ch
            for p in tick.probes:
                yield p
            for s in tick.samples:
                yield s
            if self.labelled is not None:
                self.labelled.add(tick.labelled)
                self.labelled.prune(self._next - 3 * 3600.0)
            self.status.ok(self.clock(), self._next)
            self._next += step


def demo_shop(now: float, *, seed: int, step: float, every: float, first_after: float,
              backfill: float = 3600.0, run: str = "") -> Any:
    """The demo's shop: it starts ``backfill`` seconds ago (warm detectors) and breaks ``first_after`` from now."""
    start = math.floor((now - backfill) / step) * step
    return DemoShop(seed, start, step, cycle_period=1800.0, changes_per_hour=12.0,
                    schedule=AutoSchedule(first_after=(now - start) + first_after, every=every,
                                          duration=min(180.0, every / 2)),
                    noise=NoiseSettings(cycle_amplitude=0.25), run=run, versions=True)


def prepare_store(path: Path, *, fresh: bool) -> bool:
    """Keep the demo's SQLite file across restarts (True), or start from none when ``fresh`` or absent."""
    if path.exists() and not fresh:
        log.info("demo: keeping the SQLite store at %s with the incidents of earlier runs "
                 "(--fresh starts from an empty one)", path)
        return True
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    log.info("demo: fresh SQLite store at %s", path)
    return False
