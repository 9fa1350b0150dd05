"""The daemon: sources feed the core on event time; the store, outbox and HTTP API around it.

``asyncio.TaskGroup`` runs one task per source, the analysis loop, the outbox
deliverer, periodic checkpoints and the HTTP server. SIGINT/SIGTERM stop intake,
drain the queue, checkpoint, give in-flight deliveries a moment, and exit.

:class:`Daemon` wires the parts and runs their lifecycle; each part holds one job:
:class:`~daemon.runtime.admission.Admission` (what the core and the edge may take),
:class:`~daemon.runtime.intake.Intake` (changes, alerts, feedback stored, then queued),
:class:`~daemon.runtime.analysis.AnalysisLoop` (the engine's one writer),
:class:`~daemon.runtime.persist.OutputWriter` (what the core decided, written),
:class:`~daemon.runtime.paging.PagePlanner` (pages and their receivers),
:class:`~daemon.runtime.restore.Restorer` (start-up), :class:`~daemon.runtime.health.Health`
(readiness, gauges), and :mod:`~daemon.runtime.mode` (a single node or a cluster replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from aiohttp import web

from correlators.incidents import PageAction
from correlators.learning import OnlineWeights
from correlators.types import Cause, Change, Topology
from detectors import SEASONAL_SIGNALS

from ..api.auth import ApiTokens
from ..cluster.node import ClusterNode
from ..config import DeliveryConfig
from ..confirm.live import LiveConfirm
from ..core.engine import Engine, EngineOutput, detection_factories
from ..core.events import AlertEvent, ChangeStatus, Event
from ..core.guard import TimeWindow
from ..core.intake import IntakeLimits
from ..core.policy import Policies
from ..core.policy import policy as build_policy
from ..core.reorder import ReorderBuffer
from ..core.series_buffer import SeriesBuffer
from ..notify.dispatch import Dispatcher
from ..notify.factory import build_retry
from ..notify.outbox import Outbox
from ..notify.routing import Router
from ..notify.types import Notifier, Page
from ..sources.base import Source, SourceStatus
from ..store import Store, StoreError
from ..telemetry import redact
from ..telemetry.metrics import Metrics
from ..workspace.service import Workspace
from .admission import Admission
from .analysis import AnalysisLoop
from .health import Health
from .intake import Intake
from .lanes import Lanes, Quarantine
from .mode import Clustered, Mode, SingleNode
from .paging import PagePlanner
from .persist import OutputWriter, StoreHealth
from .restore import Restorer

__all__ = ["Daemon"]

log = logging.getLogger("whatchanged.daemon")


class Daemon:
    """Wires the parts around one engine and runs them; every mutation of the engine happens in the analysis loop."""

    def __init__(
        self, *, store: Store, topology: Topology, sources: Sequence[Source], notifiers: Mapping[str, Notifier],
        statuses: Sequence[SourceStatus] = (), step: float = 30.0, base_url: str = "",
        clock: Callable[[], float] = time.time, policy: Policies | None = None, checkpoint_every: float = 60.0,
        retention: float = 30 * 86400.0, metrics: Metrics | None = None, api_tokens: ApiTokens | None = None,
        series_horizon: float = 6 * 3600.0, max_series: int = 20_000, webhooks: Any = None,
        cluster: ClusterNode | None = None, router: Router | None = None, delivery: DeliveryConfig | None = None,
        save_incidents_every: float = 0.5, vectorised: bool = True, seasonal: Collection[str] = SEASONAL_SIGNALS,
        time_window: TimeWindow | None = None, intake: IntakeLimits | None = None, reorder_within: float = 0.0,
        confirm: LiveConfirm | None = None,
    ) -> None:
        pol = policy or build_policy(None, step)  # the composition root passes policy(config, step)
        self.store, self.topology, self.clock = store, topology, clock
        self.sources = list(sources)
        self.statuses = {s.name: s for s in statuses}
        self.metrics = metrics or Metrics()
        self.api_tokens = api_tokens or ApiTokens()
        self.webhooks = webhooks  # api.webhooks.WebhookSettings; None: open webhooks
        self.cluster = cluster
        self.checkpoint_every, self.retention = checkpoint_every, retention
        self.base_url = base_url.rstrip("/")
        if self.base_url:
            redact.allow_host(self.base_url)  # links to our own pages are shown whole in logs
        self.learner = OnlineWeights()  # evidence weights, updated by responders' feedback
        self.confirm = confirm  # the top candidates' confirm tests, run live (daemon.confirm)
        detector, bank = detection_factories(seasonal, vectorised)
        self.engine = Engine(topology, grouping=pol.grouping, ranking=pol.ranking, weights=self.learner.weights,
                             detector_factory=detector, bank_factory=bank, forget_incidents_after=3600.0,
                             confirm=confirm.runner if confirm else None)
        dc = delivery or DeliveryConfig(resolve_hold=0.0)
        self.outbox = Outbox(store, notifiers, clock=clock, metrics=self.metrics, retry=build_retry(dc),
                             send_timeout=dc.send_timeout, breaker_threshold=dc.breaker_threshold,
                             breaker_cool_down=dc.breaker_cool_down, resolve_hold=dc.resolve_hold)
        self.workspace = Workspace(store, self.engine, SeriesBuffer(horizon=series_horizon, step=step,
                                                                    max_series=max_series),
                                   clock=clock, feedback=self, notes=self)
        self.dispatcher = Dispatcher(store, self.outbox, router, clock=clock, silenced=self.workspace.silenced)
        self.mode: Mode = (Clustered(cluster, self.engine) if cluster is not None
                           else SingleNode(self.engine, store, self.workspace, clock))
        self._stop = asyncio.Event()
        self.lanes = Lanes(topology)
        self.quarantine = Quarantine(self.metrics)
        self.admission = Admission(self.engine, topology, self.lanes, time_window=time_window or TimeWindow(),
                                   intake=intake or IntakeLimits(), clock=clock, metrics=self.metrics,
                                   quarantine=self.quarantine)
        self.planner = PagePlanner(self.engine, self.dispatcher, self.outbox, self.mode, base_url=self.base_url,
                                   clock=clock)
        self.writes = StoreHealth()
        self.writer = OutputWriter(store, self.engine, self.planner, self.outbox, self.workspace,
                                   metrics=self.metrics, quarantine=self.quarantine, clock=clock,
                                   stopping=self._stop, health=self.writes)
        self.intake = Intake(store, self.lanes, self.admission, self.planner, self.learner, metrics=self.metrics,
                             clock=clock)
        self.analysis = AnalysisLoop(self.engine, self.lanes, ReorderBuffer(reorder_within), self.admission,
                                     self.writer, self.workspace, self.mode, metrics=self.metrics,
                                     quarantine=self.quarantine, clock=clock,
                                     save_incidents_every=save_incidents_every)
        self.restorer = Restorer(store, self.engine, self.learner, self.mode, self.admission,
                                 quarantine=self.quarantine, clock=clock)
        self.health = Health(store, self.engine, self.mode, self.statuses, writes=self.writes,
                             metrics=self.metrics, clock=clock)

    # -- lifecycle ----------------------------------------------------------------
    async def restore(self) -> None:
        """Resume from the last checkpoint (:meth:`~daemon.runtime.restore.Restorer.restore`)."""
        await self.restorer.restore(self.lanes.inbox_keys, self.lanes.put_alert)

    async def checkpoint(self) -> None:
        await self.mode.checkpoint()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, host: str | None = None, port: int | None = None,
                  ready: asyncio.Event | None = None, app: web.Application | None = None) -> None:
        """Run until :meth:`stop`; with ``host``, ``port`` and ``app`` (the HTTP API the composition
        root built, :func:`daemon.api.app.create_app`), serve it once restored."""
        await self.restore()
        runner: web.AppRunner | None = None
        if host is not None and port is not None:
            if app is None:
                raise ValueError("Daemon.run: give the HTTP app to serve (daemon.config.compose.serve builds it)")
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            log.info("listening on http://%s:%d", host, port)
            if self.api_tokens.open:
                log.warning("no api tokens configured: the API and pages are open to anyone who can reach "
                            "http://%s:%d (set api.read_tokens and api.write_tokens)", host, port)
        if ready is not None:
            ready.set()
        try:
            async with asyncio.TaskGroup() as tg:
                await self._serve(tg)
        finally:
            with contextlib.suppress(Exception):
                await self.mode.leave()
            if runner is not None:
                await runner.cleanup()
            log.info("stopped")

    async def _serve(self, tg: asyncio.TaskGroup) -> None:
        queue, bulk = self.lanes.queue, self.lanes.bulk
        workers = [tg.create_task(self._pump(s), name=f"source:{s.name}") for s in self.sources]
        deliverer = tg.create_task(self.outbox.run(), name="outbox")
        workers.append(tg.create_task(self._checkpoints(), name="checkpoints"))
        if self.confirm is not None:
            workers.append(tg.create_task(self.confirm.run(), name="confirm"))
        workers += [tg.create_task(coro, name=name) for name, coro in self.mode.tasks()]
        analysis = tg.create_task(self.analysis.run(), name="analysis")
        await self._stop.wait()
        log.info("stopping: intake closed, draining %d queued events", queue.qsize())
        for w in workers:
            w.cancel()
        # Python 3.11's wait_for can swallow a cancellation when the awaited call finishes at
        # the same moment (CPython gh-86296): a source would then run on and the shutdown hang.
        while pending := [w for w in workers if not w.done()]:
            await asyncio.wait(pending, timeout=1.0)
            for w in pending:
                w.cancel()
        await queue.join()
        await bulk.join()
        analysis.cancel()
        await asyncio.gather(analysis, return_exceptions=True)
        for held in self.analysis.reorder.drain():  # nothing can overtake them any more
            await self.analysis.take(held)
        await self.flush()
        await self.writer.persist_reliably(EngineOutput())  # incidents the loop has not saved yet
        self.outbox.stop()  # deliver what the last events paged, finish in-flight sends
        try:
            await asyncio.wait_for(asyncio.shield(deliverer), timeout=10.0)
        except TimeoutError:
            deliverer.cancel()

    async def _pump(self, source: Source) -> None:
        delay = 1.0
        while True:
            try:
                async for ev in source.events():
                    if isinstance(ev, Change):  # a source's changes are kept like the API's: stored, then fed
                        await self.intake.submit_changes([ev], source=source.name)
                    elif isinstance(ev, ChangeStatus):  # so is a rollout's outcome
                        await self.intake.submit_change_status(ev, source=source.name)
                    else:
                        await self.lanes.queue.put(ev)
                    delay = 1.0
                log.warning("source %s ended; restarting", source.name)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.metrics.source_errors.labels(source.name).inc()
                if source.name in self.statuses:
                    self.statuses[source.name].error(str(e))
                log.exception("source %s failed; restarting in %.0fs", source.name, delay,
                              extra={"source": source.name})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self.checkpoint_every)
            try:
                await self.checkpoint()
                await self.store.retention.prune(self.clock() - self.retention)
                await self.workspace.db.retention.prune_workspace(self.clock() - self.retention)
                self.writes.ok = True
            except (StoreError, OSError, Exception) as e:  # keep running; readiness shows it
                self.writes.ok = False
                log.warning("checkpoint failed: %s", e)

    # -- the parts' entry points (the API's protocols, daemon.core.ports; tests drive them here) --------
    @property
    def queue(self) -> asyncio.Queue[Event]:
        return self.lanes.queue

    @property
    def pending(self) -> int:
        return self.lanes.pending

    @property
    def time_window(self) -> TimeWindow:
        return self.admission.time_window

    async def handle(self, ev: Event, *, coalesce: bool = False) -> EngineOutput:
        return await self.analysis.handle(ev, coalesce=coalesce)

    async def flush(self) -> None:
        await self.analysis.flush()

    async def persist(self, out: EngineOutput, *, coalesce: bool = False) -> None:
        await self.writer.persist(out, coalesce=coalesce)

    async def _save_incidents(self) -> None:
        await self.writer.save_incidents()

    async def _plan_page(self, action: PageAction) -> tuple[Page, list[str]] | None:
        return await self.planner.plan_page(action)

    def admit(self, source: str, n: int) -> None:
        self.admission.admit(source, n)

    def admit_alerts(self, alerts: Sequence[AlertEvent]) -> None:
        self.admission.admit_alerts(alerts)

    async def submit_changes(self, changes: Sequence[Change], source: str) -> list[bool]:
        return await self.intake.submit_changes(changes, source)

    async def submit_change_status(self, st: ChangeStatus, source: str) -> str:
        return await self.intake.submit_change_status(st, source)

    async def submit_alerts(self, alerts: Sequence[AlertEvent]) -> list[bool]:
        return await self.intake.submit_alerts(alerts)

    async def record_feedback(self, incident_id: str, cause: Cause, note: str, actor: str) -> int:
        return await self.intake.record_feedback(incident_id, cause, note, actor)

    async def send_note(self, doc: dict[str, Any], text: str, ts: float) -> int:
        return await self.planner.send_note(doc, text, ts)

    async def notify_incident(self, incident_id: str, text: str, *, action: str = "note", actor: str = "") -> int:
        """Send a note (or ``acknowledge``) about an incident to the receivers paged about it.

        The entry point for people and the hypothesis loop: it goes through the same
        routing, silences and outbox as the pages. Idempotent per incident, action,
        second and text. Returns how many notifications were queued; raises KeyError
        for an unknown incident and ValueError for an unknown action.
        """
        if action not in ("note", "acknowledge", "update"):
            raise ValueError(f"action: expected note, acknowledge or update, not {action!r}")
        inc = self.engine.incidents.get(incident_id)
        doc = inc.to_json() if inc is not None else await self.store.incidents.get(incident_id)
        if doc is None:
            raise KeyError(incident_id)
        return await self.planner.notify_incident(doc, text, action=action, actor=actor)

    async def readiness(self) -> tuple[bool, list[str]]:
        return await self.health.readiness()

    async def refresh_gauges(self) -> None:
        await self.health.refresh_gauges()

    def cluster_status(self) -> dict[str, Any]:
        return self.mode.status()
