"""How this process runs: alone (it detects, groups, pages and checkpoints everything) or as one replica
of a cluster (it detects its shard; the elected leader groups, ranks and pages). One strategy object
instead of a branch on "is there a cluster" in every method of the daemon."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from ..cluster.node import ClusterNode
from ..core.engine import Engine, EngineOutput
from ..core.events import Event, Sample, SampleBatch
from ..store import Store
from ..telemetry.metrics import Metrics
from ..workspace.service import Workspace

__all__ = ["ENGINE_CHECKPOINT", "Clustered", "Mode", "SingleNode"]

log = logging.getLogger("whatchanged.daemon")

ENGINE_CHECKPOINT = "engine"

Persist = Callable[[EngineOutput], Awaitable[None]]
Resume = Callable[[str, Callable[[dict[str, Any]], None], str, str], Awaitable[bool]]


class Mode(Protocol):
    """What differs between a single node and a replica of a cluster."""

    owns_incidents: bool
    """Restores open incidents at start and releases the outbox claims of its previous process."""

    async def restore_detectors(self, resume: Resume) -> None: ...
    async def checkpoint(self) -> None: ...
    async def leave(self) -> None: ...
    def may_page(self) -> bool: ...
    def members(self) -> int: ...
    def status(self) -> dict[str, Any]: ...
    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]: ...
    async def detect(self, ev: Event, metrics: Metrics) -> bool: ...
    def flushed(self) -> None: ...
    def busy_work_due(self) -> bool: ...
    async def busy_work(self, flush: Callable[[], Awaitable[None]], persist: Persist) -> None: ...
    async def quiet_work(self, persist: Persist) -> None: ...


class SingleNode:
    """The only process: resumes and checkpoints the engine, pages, and decides first pages every
    second of a stream that never pauses."""

    owns_incidents = True

    def __init__(self, engine: Engine, store: Store, workspace: Workspace, clock: Callable[[], float]) -> None:
        self.engine, self.store, self.workspace, self.clock = engine, store, workspace, clock
        self._flushed = 0.0  # monotonic time pages were last decided

    async def restore_detectors(self, resume: Resume) -> None:
        if await resume(ENGINE_CHECKPOINT, self.engine.load_state, "checkpoint", "detectors warm up again"):
            log.info("resumed %d series from checkpoint", self.engine.series_count)

    async def checkpoint(self) -> None:
        await self.store.checkpoints.save(ENGINE_CHECKPOINT, self.engine.state_dict(), now=self.clock())
        await self.workspace.snapshot_open()

    async def leave(self) -> None:
        await self.checkpoint()

    def may_page(self) -> bool:
        return True

    def members(self) -> int:
        return 1

    def status(self) -> dict[str, Any]:
        return {"member": "0", "leader": True, "members": ["0"], "series": sorted(self.engine.series_keys())}

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return []

    async def detect(self, ev: Event, metrics: Metrics) -> bool:
        return False  # the engine detects, groups and ranks every event

    def flushed(self) -> None:
        self._flushed = time.monotonic()

    def busy_work_due(self) -> bool:
        return time.monotonic() - self._flushed > 1.0

    async def busy_work(self, flush: Callable[[], Awaitable[None]], persist: Persist) -> None:
        # A stream that never pauses (an alert storm) must not hold back first pages for ever.
        try:
            await flush()
        except Exception:
            log.exception("deciding pages failed; will try again")

    async def quiet_work(self, persist: Persist) -> None:
        return None


class Clustered:
    """A replica: detects the series of its shard; while leading, takes every replica's detections
    into the incidents and pages."""

    owns_incidents = False

    def __init__(self, node: ClusterNode, engine: Engine) -> None:
        self.node = node
        self._ticked = 0.0
        node.attach(engine)

    async def restore_detectors(self, resume: Resume) -> None:
        await self.node.join()  # the shard's detectors; incidents are the leader's

    async def checkpoint(self) -> None:
        await self.node.checkpoint()

    async def leave(self) -> None:
        await self.node.leave()

    def may_page(self) -> bool:
        return self.node.may_page()

    def members(self) -> int:
        return len(self.node.shard.members)

    def status(self) -> dict[str, Any]:
        return dict(self.node.status())

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return [("cluster", self.node.run())]

    async def detect(self, ev: Event, metrics: Metrics) -> bool:
        """Detect this shard's samples here (the leader groups); False for every other event."""
        started = time.perf_counter()
        if isinstance(ev, Sample):
            if await self.node.on_sample(ev):
                metrics.samples.inc()
        elif isinstance(ev, SampleBatch):
            metrics.samples.inc(await self.node.on_batch(ev))
        else:
            return False
        metrics.detect_seconds.observe(time.perf_counter() - started)
        return True

    def flushed(self) -> None:
        return None

    def busy_work_due(self) -> bool:
        return time.monotonic() - self._ticked > 1.0  # a busy stream: lead anyway

    async def busy_work(self, flush: Callable[[], Awaitable[None]], persist: Persist) -> None:
        await self._tick(persist)

    async def quiet_work(self, persist: Persist) -> None:
        await self._tick(persist)

    async def _tick(self, persist: Persist) -> None:
        self._ticked = time.monotonic()
        try:
            await self.node.tick(persist)
        except Exception:
            log.exception("cluster tick failed; retrying")
