"""Readiness (``/readyz``) and the gauges of ``/metrics``: the store, the sources, the cluster, the outbox."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from ..core.engine import Engine
from ..sources.base import SourceStatus
from ..store import Store
from ..telemetry.metrics import Metrics
from .mode import Mode
from .persist import StoreHealth

__all__ = ["Health"]


class Health:
    """Answers whether the daemon is ready and refreshes its gauges."""

    def __init__(self, store: Store, engine: Engine, mode: Mode, statuses: Mapping[str, SourceStatus], *,
                 writes: StoreHealth, metrics: Metrics, clock: Callable[[], float]) -> None:
        self.store = store
        self.engine = engine
        self.mode = mode
        self.statuses = statuses
        self.writes = writes
        self.metrics = metrics
        self.clock = clock

    async def readiness(self) -> tuple[bool, list[str]]:
        reasons = []
        if not await self.store.ping():
            reasons.append("store unreachable")
        elif (why := await self.store.unwritable()) is not None:
            reasons.append(f"store cannot be written: {why}")
        elif not self.writes.ok:
            reasons.append(f"store writes failing: {self.writes.reason or 'see the log'}")
        now = self.clock()
        for st in self.statuses.values():
            if st.stale(now):
                reasons.append(f"source {st.name} stale" + (f": {st.last_error}" if st.last_error else ""))
        return not reasons, reasons

    async def refresh_gauges(self) -> None:
        self.metrics.series.set(self.engine.series_count)
        self.metrics.cluster_leader.set(1.0 if self.mode.may_page() else 0.0)
        self.metrics.cluster_members.set(self.mode.members())
        self.metrics.incidents_open.set(len(list(self.engine.open_incidents())))
        now = self.clock()
        for st in self.statuses.values():
            self.metrics.source_up.labels(st.name).set(0.0 if st.stale(now) else 1.0)
            if st.newest_data is not None:
                self.metrics.source_lag.labels(st.name).set(max(0.0, now - st.newest_data))
        with contextlib.suppress(Exception):
            self.metrics.outbox_depth.set(await self.store.notifications.depth())
