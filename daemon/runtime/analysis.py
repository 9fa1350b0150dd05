"""The analysis loop: the one task that mutates the engine, one event at a time, in event-time order.

It takes events from the lanes, puts them back in order (the reorder buffer), feeds the core,
and has the writer persist what the core decided; in quiet moments it decides first pages, and
a long burst never holds back the API or the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from correlators.types import Change

from ..core.engine import Engine, EngineOutput
from ..core.events import AlertEvent, CatchUp, ChangeStatus, Event, Sample, SampleBatch
from ..core.reorder import ReorderBuffer
from ..telemetry.metrics import Metrics
from ..workspace.service import Workspace
from .admission import Admission, describe
from .lanes import Lanes, Quarantine
from .mode import Mode
from .persist import OutputWriter

__all__ = ["AnalysisLoop"]

log = logging.getLogger("whatchanged.daemon")


class AnalysisLoop:
    """Owns the engine's mutations: every event goes through :meth:`handle` here."""

    def __init__(self, engine: Engine, lanes: Lanes, reorder: ReorderBuffer, admission: Admission,
                 writer: OutputWriter, workspace: Workspace, mode: Mode, *, metrics: Metrics,
                 quarantine: Quarantine, clock: Callable[[], float], save_incidents_every: float) -> None:
        self.engine = engine
        self.lanes = lanes
        self.reorder = reorder
        self.admission = admission
        self.writer = writer
        self.workspace = workspace
        self.mode = mode
        self.metrics = metrics
        self.quarantine = quarantine
        self.clock = clock
        self.save_incidents_every = save_incidents_every

    async def run(self) -> None:
        queue, bulk, writer = self.lanes.queue, self.lanes.bulk, self.writer
        yielded = time.monotonic()
        while True:
            if time.monotonic() - yielded > 0.02:
                # a long batch never awaits real I/O: let the outbox deliver pages and the API answer
                await asyncio.sleep(0)
                yielded = time.monotonic()
            if time.monotonic() - writer.saved_at > self.save_incidents_every:
                await writer.save_incidents()  # a long burst: the API sees its incidents at most this late
            got = self.lanes.next_nowait()
            if got is None:
                await writer.save_incidents()  # the burst is absorbed: save its incidents
                try:
                    async with asyncio.timeout(0.25):  # not wait_for: it can swallow a cancel on 3.11
                        got = (await queue.get(), queue)
                except TimeoutError:
                    if not bulk.empty():
                        continue
                    try:
                        for held in self.reorder.due(self.clock()):
                            await self.take(held)
                        await self.flush()  # a quiet moment: the batch is complete, decide first pages
                        await self.mode.quiet_work(writer.persist)
                    except Exception:  # one bad decision must not stop the analysis of everything else
                        log.exception("deciding pages failed; will try again at the next quiet moment")
                    continue
            ev, lane = got
            try:
                for ready in self.reorder.push(ev):
                    await self.take(ready)
            finally:
                lane.task_done()
            if self.mode.busy_work_due():
                await self.mode.busy_work(self.flush, writer.persist)

    async def take(self, ev: Event) -> None:
        try:
            await self.handle(ev, coalesce=True)
        except Exception:  # quarantined: logged with its traceback and counted
            self.quarantine(type(ev).__name__, f"failed to process event {describe(ev)}", exc_info=True)

    async def flush(self) -> None:
        self.mode.flushed()
        out = self.engine.flush()
        if out.pages or out.incidents:
            await self.writer.persist_reliably(out)

    async def handle(self, ev: Event, *, coalesce: bool = False) -> EngineOutput:
        """One event through the core, and persist what it decided (see
        :meth:`~daemon.runtime.persist.OutputWriter.persist` for ``coalesce``); a ``SampleBatch``
        (a query's result at one step) as a whole."""
        why = self.admission.inadmissible(ev)
        if why is not None:
            self.quarantine(type(ev).__name__, f"{describe(ev)}: {why}")
            return EngineOutput()
        if await self.mode.detect(ev, self.metrics):  # a replica: detect this shard; the leader groups
            return EngineOutput()
        started = time.perf_counter()
        stored = self.lanes.stored_changes
        stored_id = ev.id if isinstance(ev, Change) and ev.id in stored else None
        if stored_id is not None:  # submit_changes stored it before its 2xx
            stored.discard(stored_id)
        out = self.engine.ingest(ev)
        self.metrics.detect_seconds.observe(time.perf_counter() - started)
        if isinstance(ev, SampleBatch):
            self.metrics.samples.inc(len(ev))
            self.workspace.record_batch(ev)
        elif not isinstance(ev, (Change, AlertEvent, ChangeStatus, CatchUp)):
            self.metrics.samples.inc()
        if isinstance(ev, Sample):
            self.workspace.record_sample(ev)
        if stored_id is not None:  # not written (nor its change event enqueued) again
            out = replace(out, changes=[c for c in out.changes if c.id != stored_id])
        await self.writer.persist_reliably(out, coalesce=coalesce)
        if isinstance(ev, AlertEvent):
            # Processed once its consequences are stored (with coalescing, at the next incident
            # save): an alert marked before then would be lost by a crash, not fed again.
            self.writer.alerts_unsaved.append(ev.key)
            if (inbox := self.lanes.inbox_keys.pop(ev.key, None)) is not None:
                self.writer.alerts_unsaved.append(inbox)
            if not self.writer.unsaved:
                await self.writer.mark_alerts_processed()
        return out
