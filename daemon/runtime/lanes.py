"""The queues between intake and the analysis loop, and the bookkeeping of what is on its way through them.

Alerts about services the topology does not know wait in their own lane: a flood of them never
delays the analysis of anything else (bounded by ``intake.max_pending`` at the edge).
"""

from __future__ import annotations

import asyncio
import logging

from correlators.types import Topology

from ..core.events import AlertEvent, Event
from ..telemetry.metrics import Metrics

__all__ = ["Lanes", "Quarantine"]

log = logging.getLogger("whatchanged.daemon")


class Quarantine:
    """Sets one bad event aside: a log line and a count on /metrics, never a retry for ever."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, kind: str, message: str, *, exc_info: bool = False) -> None:
        self.metrics.quarantined.labels(kind).inc()
        log.warning("quarantined: %s", message, exc_info=exc_info)


class Lanes:
    """The main queue and the lane of alerts about unknown services, and what travels through them."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=100_000)
        self.bulk: asyncio.Queue[Event] = asyncio.Queue()
        self.stored_changes: set[str] = set()  # ids stored by submit_changes, not yet through the core
        self.inbox_keys: dict[str, str] = {}  # replayed alert's key -> its inbox row's, where cleaning changed it
        self._taken = 0

    @property
    def pending(self) -> int:
        """Events waiting for the core (both lanes)."""
        return self.queue.qsize() + self.bulk.qsize()

    async def put_alert(self, a: AlertEvent) -> None:
        await (self.queue if a.service in self.topology.services else self.bulk).put(a)

    def next_nowait(self) -> tuple[Event, asyncio.Queue[Event]] | None:
        """The next event: the main queue first; alerts about unknown services when it is empty
        (and one in 16 while it is busy, so they are not starved for ever)."""
        self._taken += 1
        lanes = (self.bulk, self.queue) if self._taken % 16 == 0 else (self.queue, self.bulk)
        for q in lanes:
            try:
                return q.get_nowait(), q
            except asyncio.QueueEmpty:
                continue
        return None
