"""The daemon: sources feed the core on event time; the store, outbox and HTTP API around it.

``asyncio.TaskGroup`` runs one task per source, the analysis loop, the outbox
deliverer, periodic checkpoints and the HTTP server. SIGINT/SIGTERM stop intake,
drain the queue, checkpoint, give in-flight deliveries a moment, and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from correlators.incidents import GroupingPolicy, Incident, PageAction, PageKind
from correlators.learning import OnlineWeights
from correlators.types import Cause, Change, Topology
from correlators.view import IncidentView
from detectors import SEASONAL_SIGNALS

from .api.auth import ApiTokens
from .cluster.node import ClusterNode
from .config import Config, DeliveryConfig, load_config_or_report
from .confirm.build import build_confirm
from .confirm.live import LiveConfirm
from .engine import Engine, EngineOutput, detection_factories
from .events import AlertEvent, CatchUp, ChangeStatus, Event, Sample, SampleBatch
from .guard import TimeWindow, clean_alert, clean_change, is_clean
from .intake import Busy, IntakeLimits
from .metrics import Metrics
from .notify.dispatch import Dispatcher
from .notify.factory import build_retry, build_router
from .notify.outbox import Outbox
from .notify.render import render_resolve_text, render_text, render_title
from .notify.routing import Router, severity_of
from .notify.types import Notifier, Page
from .policy import policies
from . import redact
from .reorder import ReorderBuffer
from .series_buffer import SeriesBuffer
from .sources.base import Source, SourceStatus
from .store import StatusOutcome, Store, StoreError
from .store.alerts import alert_of
from .store.store import describe_store_error
from .workspace.service import Workspace

__all__ = ["Daemon", "add_parsers", "serve"]

log = logging.getLogger("whatchanged.daemon")


def _permanent(e: BaseException) -> bool:
    """The store refused the data itself (too long, not encodable, out of range): retrying cannot help."""
    from sqlalchemy import exc
    if isinstance(e, (exc.DataError, exc.IntegrityError, UnicodeError, ValueError, TypeError, OverflowError)):
        return True
    if isinstance(e, exc.StatementError) and not isinstance(e, exc.DBAPIError):
        return isinstance(e.orig, (UnicodeError, ValueError, TypeError, OverflowError))
    return False


def _describe(ev: Event) -> str:
    """An event for a log line: its type, time and what it is about, clipped."""
    what = getattr(ev, "service", "") or getattr(ev, "target", "") or getattr(ev, "change_id", "") \
        or getattr(ev, "signal", "")
    return f"{type(ev).__name__}(ts={ev.ts!r}, {str(what)[:80]!r})"


def _event_times(doc: dict[str, Any]) -> list[float]:
    """The event times an incident document records (onset, opening, paging, its anomalies), finite ones."""
    times = [doc.get("onset"), doc.get("opened_at"), doc.get("paged_at"), doc.get("resolved_at")]
    for a in doc.get("anomalies") or []:
        times += [a.get("onset"), a.get("detected_at"), a.get("recovered_at")]
    return [float(t) for t in times if isinstance(t, (int, float)) and math.isfinite(t)] or [float("-inf")]

ENGINE_CHECKPOINT = "engine"
LEARNING_CHECKPOINT = "learning"


class Daemon:
    """Owns the engine; every mutation of it happens in the analysis loop."""

    def __init__(
        self,
        *,
        store: Store,
        topology: Topology,
        sources: Sequence[Source],
        notifiers: Mapping[str, Notifier],
        statuses: Sequence[SourceStatus] = (),
        step: float = 30.0,
        base_url: str = "",
        clock: Callable[[], float] = time.time,
        grouping: GroupingPolicy | None = None,
        checkpoint_every: float = 60.0,
        retention: float = 30 * 86400.0,
        metrics: Metrics | None = None,
        api_tokens: ApiTokens | None = None,
        series_horizon: float = 6 * 3600.0,
        max_series: int = 20_000,
        webhooks: Any = None,
        cluster: ClusterNode | None = None,
        router: Router | None = None,
        delivery: DeliveryConfig | None = None,
        save_incidents_every: float = 0.5,
        vectorised: bool = True,
        seasonal: Collection[str] = SEASONAL_SIGNALS,
        time_window: TimeWindow | None = None,
        intake: IntakeLimits | None = None,
        reorder_within: float = 0.0,
        confirm: LiveConfirm | None = None,
    ) -> None:
        pol = policies(step)
        self.confirm = confirm  # the top candidates' confirm tests, run live (daemon.confirm)
        self.store = store
        self.topology = topology
        self.time_window = time_window or TimeWindow()  # event times the edge and the core accept
        self.intake = intake or IntakeLimits()
        self.reorder = ReorderBuffer(reorder_within)  # observations back in event-time order
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.learner = OnlineWeights()  # evidence weights, updated by responders' feedback
        detector, bank = detection_factories(seasonal, vectorised)
        self.engine = Engine(topology, grouping=grouping or pol.grouping, ranking=pol.ranking,
                             weights=self.learner.weights, detector_factory=detector, bank_factory=bank,
                             forget_incidents_after=3600.0, confirm=confirm.runner if confirm else None)
        self.sources = list(sources)
        self.statuses = {s.name: s for s in statuses}
        dc = delivery or DeliveryConfig(resolve_hold=0.0)
        self.outbox = Outbox(store, notifiers, clock=clock, metrics=self.metrics, retry=build_retry(dc),
                             send_timeout=dc.send_timeout, breaker_threshold=dc.breaker_threshold,
                             breaker_cool_down=dc.breaker_cool_down, resolve_hold=dc.resolve_hold)
        self.base_url = base_url.rstrip("/")
        if self.base_url:
            redact.allow_host(self.base_url)  # links to our own pages are shown whole in logs
        self.checkpoint_every = checkpoint_every
        self.save_incidents_every = save_incidents_every
        self.retention = retention
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=100_000)
        # alerts about services the topology does not know wait here: a flood of them never
        # delays the analysis of anything else (bounded by intake.max_pending at the edge)
        self.bulk: asyncio.Queue[Event] = asyncio.Queue()
        self._taken = 0
        self._inbox_keys: dict[str, str] = {}  # replayed alert's key -> its inbox row's, where cleaning changed it
        self._store_reason = ""
        self._stop = asyncio.Event()
        self._store_ok = True
        self.api_tokens = api_tokens or ApiTokens()
        self.workspace = Workspace(self, SeriesBuffer(horizon=series_horizon, step=step, max_series=max_series))
        self.dispatcher = Dispatcher(store, self.outbox, router, clock=clock, silenced=self.workspace.silenced)
        self.webhooks = webhooks  # api.webhooks.WebhookSettings; None: open webhooks
        self.cluster = cluster
        self._ticked = 0.0
        self._flushed = 0.0
        self._unsaved: dict[str, Incident] = {}  # changed by the analysis loop since their last save
        self._alerts_unsaved: list[str] = []  # inbox keys of alerts whose incidents are among _unsaved
        self._saved_at = 0.0  # monotonic time the analysis loop last saved them
        self._stored_changes: set[str] = set()  # ids stored by submit_changes, not yet through the core
        self._lineage: dict[str, dict[str, Any]] = {}  # incident id -> follows_by, merged_from (kept once forgotten)
        if cluster is not None:
            cluster.attach(self.engine)

    # -- lifecycle ----------------------------------------------------------------
    async def restore(self) -> None:
        """Resume from the last checkpoint: detectors warm, open incidents and their pages known.

        A replica of a cluster takes its shard's detectors instead; incidents are the leader's.
        """
        if self.cluster is not None:
            await self.cluster.join()
        elif await self._resume(ENGINE_CHECKPOINT, self.engine.load_state, "checkpoint", "detectors warm up again"):
            log.info("resumed %d series from checkpoint", self.engine.series_count)
        if await self._resume(LEARNING_CHECKPOINT, self.learner.load_state, "learned weights",
                              "ranking starts from its priors"):
            log.info("resumed ranking weights learned from %d answers", self.learner.updates)
        latest = float("-inf")
        for doc in await self.store.incidents.find(state="open", limit=500) if self.cluster is None else []:
            try:
                inc = Incident.from_json(doc)
                latest = max(latest, *_event_times(doc))
            except (KeyError, TypeError, ValueError) as e:
                self.quarantine("incident", f"stored incident {doc.get('id')!r} is unreadable ({e})")
                continue
            self.engine.tracker.restore(inc)
        if not math.isfinite(self.engine.now) and math.isfinite(latest):
            # no checkpoint (a crash before the first one): the core's clock resumes at the latest
            # time the restored incidents saw, so a page decided now carries a real event time
            self.engine.now = latest
        now = self.clock()
        for ch in await self.store.changes.find(since=now - self.engine.change_retention, limit=10_000):
            good = self._admissible_change(ch, "stored change")
            if good is not None:
                self.engine.add_change(good)
        for h in reversed(await self.store.health.find(since=now - self.engine.change_retention, limit=10_000)):
            if math.isfinite(h.ts) and h.ts <= self.horizon():
                self.engine.add_health(h)
        replay: list[AlertEvent] = []
        poisoned: list[str] = []
        for key, raw in await self.store.alerts.unprocessed_rows():
            try:
                alert = clean_alert(alert_of(raw))
                if alert.ts > self.horizon():
                    raise ValueError(self.time_window.check(alert.ts, self._reference_now()))
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                self.quarantine("alert", f"stored alert {key!r} set aside at start-up: {e}")
                poisoned.append(key)
                continue
            if alert.key[:600] != key:  # fixed up: mark the row it came from once the core has it
                self._inbox_keys[alert.key] = key
            replay.append(alert)
        if poisoned:  # never replayed again: one bad alert must not stop every start
            await self.store.alerts.mark_processed(poisoned, now)
        if self.cluster is None and (released := await self.store.notifications.release_claims(now)):
            # the only deliverer: pages its previous process had claimed (and perhaps died sending)
            # go out now with their keys, not after the claim's lease
            log.info("%d pending page(s) from before the last stop are due now", released)
        if replay:  # received and acknowledged before a crash, never taken by the core: take them now
            log.info("feeding %d alert(s) received before the last stop to the core", len(replay))
        for a in replay:
            await self._enqueue_alert(a)

    async def _resume(self, key: str, load: Callable[[dict[str, Any]], None], what: str, fallback: str) -> bool:
        """Load one checkpoint into ``load``; an unusable one is logged and skipped, never fatal."""
        state = await self.store.checkpoints.load(key)
        if not state:
            return False
        try:
            load(state)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("ignoring unusable %s (%s); %s", what, e, fallback)
            return False
        return True

    async def checkpoint(self) -> None:
        if self.cluster is not None:
            await self.cluster.checkpoint()
            return
        await self.store.checkpoints.save(ENGINE_CHECKPOINT, self.engine.state_dict(), now=self.clock())
        await self.workspace.snapshot_open()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, host: str | None = None, port: int | None = None,
                  ready: asyncio.Event | None = None) -> None:
        await self.restore()
        runner: web.AppRunner | None = None
        if host is not None and port is not None:
            from .api.app import create_app
            runner = web.AppRunner(create_app(self), access_log=None)
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
                workers = [tg.create_task(self._pump(s), name=f"source:{s.name}") for s in self.sources]
                deliverer = tg.create_task(self.outbox.run(), name="outbox")
                workers.append(tg.create_task(self._checkpoints(), name="checkpoints"))
                if self.confirm is not None:
                    workers.append(tg.create_task(self.confirm.run(), name="confirm"))
                if self.cluster is not None:
                    workers.append(tg.create_task(self.cluster.run(), name="cluster"))
                analysis = tg.create_task(self._analysis(), name="analysis")
                await self._stop.wait()
                log.info("stopping: intake closed, draining %d queued events", self.queue.qsize())
                for w in workers:
                    w.cancel()
                # Python 3.11's wait_for can swallow a cancellation when the awaited call finishes at
                # the same moment (CPython gh-86296): a source would then run on and the shutdown hang.
                while pending := [w for w in workers if not w.done()]:
                    await asyncio.wait(pending, timeout=1.0)
                    for w in pending:
                        w.cancel()
                await self.queue.join()
                await self.bulk.join()
                analysis.cancel()
                await asyncio.gather(analysis, return_exceptions=True)
                for held in self.reorder.drain():  # nothing can overtake them any more
                    await self._take(held)
                await self.flush()
                await self.persist_reliably(EngineOutput())  # incidents the loop has not saved yet
                self.outbox.stop()  # deliver what the last events paged, finish in-flight sends
                try:
                    await asyncio.wait_for(asyncio.shield(deliverer), timeout=10.0)
                except TimeoutError:
                    deliverer.cancel()
        finally:
            with contextlib.suppress(Exception):
                await (self.checkpoint() if self.cluster is None else self.cluster.leave())
            if runner is not None:
                await runner.cleanup()
            log.info("stopped")

    async def _pump(self, source: Source) -> None:
        delay = 1.0
        while True:
            try:
                async for ev in source.events():
                    if isinstance(ev, Change):  # a source's changes are kept like the API's: stored, then fed
                        await self.submit_changes([ev], source=source.name)
                    elif isinstance(ev, ChangeStatus):  # so is a rollout's outcome
                        await self.submit_change_status(ev, source=source.name)
                    else:
                        await self.queue.put(ev)
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

    def _next_nowait(self) -> tuple[Event, asyncio.Queue[Event]] | None:
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

    async def _analysis(self) -> None:
        yielded = time.monotonic()
        while True:
            if time.monotonic() - yielded > 0.02:
                # a long batch never awaits real I/O: let the outbox deliver pages and the API answer
                await asyncio.sleep(0)
                yielded = time.monotonic()
            if time.monotonic() - self._saved_at > self.save_incidents_every:
                await self._save_incidents()  # a long burst: the API sees its incidents at most this late
            got = self._next_nowait()
            if got is None:
                await self._save_incidents()  # the burst is absorbed: save its incidents
                try:
                    async with asyncio.timeout(0.25):  # not wait_for: it can swallow a cancel on 3.11
                        got = (await self.queue.get(), self.queue)
                except TimeoutError:
                    if not self.bulk.empty():
                        continue
                    try:
                        for held in self.reorder.due(self.clock()):
                            await self._take(held)
                        await self.flush()  # a quiet moment: the batch is complete, decide first pages
                        if self.cluster is not None:
                            await self._cluster_tick()
                    except Exception:  # one bad decision must not stop the analysis of everything else
                        log.exception("deciding pages failed; will try again at the next quiet moment")
                    continue
            ev, lane = got
            try:
                for ready in self.reorder.push(ev):
                    await self._take(ready)
            finally:
                lane.task_done()
            if self.cluster is not None and time.monotonic() - self._ticked > 1.0:  # a busy stream: lead anyway
                await self._cluster_tick()
            elif self.cluster is None and time.monotonic() - self._flushed > 1.0:
                # A stream that never pauses (an alert storm) must not hold back first pages for ever.
                try:
                    await self.flush()
                except Exception:
                    log.exception("deciding pages failed; will try again")

    async def _take(self, ev: Event) -> None:
        try:
            await self.handle(ev, coalesce=True)
        except Exception:  # noqa: BLE001 - quarantined: logged with its traceback and counted
            self.quarantine(type(ev).__name__, f"failed to process event {_describe(ev)}", exc_info=True)

    def quarantine(self, kind: str, message: str, *, exc_info: bool = False) -> None:
        """Set one bad event aside: a log line and a count on /metrics, never a retry for ever."""
        self.metrics.quarantined.labels(kind).inc()
        log.warning("quarantined: %s", message, exc_info=exc_info)

    async def _save_incidents(self) -> None:
        """Save the incidents the loop changed without a page. Not once stopping: the stop path
        cancels this loop and saves them itself (a cancel must not land inside a write)."""
        if not self._unsaved or self._stop.is_set():
            return
        try:
            await self.persist_reliably(EngineOutput())
        except Exception:
            log.exception("failed to save %d incidents", len(self._unsaved))

    async def _cluster_tick(self) -> None:
        assert self.cluster is not None
        self._ticked = time.monotonic()
        try:
            await self.cluster.tick(self.persist)
        except Exception:
            log.exception("cluster tick failed; retrying")

    async def flush(self) -> None:
        self._flushed = time.monotonic()
        out = self.engine.flush()
        if out.pages or out.incidents:
            await self.persist_reliably(out)

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self.checkpoint_every)
            try:
                await self.checkpoint()
                await self.store.retention.prune(self.clock() - self.retention)
                await self.workspace.db.retention.prune_workspace(self.clock() - self.retention)
                self._store_ok = True
            except (StoreError, OSError, Exception) as e:  # noqa: BLE001 - keep running; readiness shows it
                self._store_ok = False
                log.warning("checkpoint failed: %s", e)

    # -- the core, one event at a time -----------------------------------------------
    async def handle(self, ev: Event, *, coalesce: bool = False) -> EngineOutput:
        """One event through the core, and persist what it decided (see :meth:`persist` for
        ``coalesce``); a ``SampleBatch`` (a query's result at one step) as a whole."""
        why = self._inadmissible(ev)
        if why is not None:
            self.quarantine(type(ev).__name__, f"{_describe(ev)}: {why}")
            return EngineOutput()
        started = time.perf_counter()
        if self.cluster is not None and isinstance(ev, Sample):  # detect this shard; the leader groups
            if await self.cluster.on_sample(ev):
                self.metrics.samples.inc()
            self.metrics.detect_seconds.observe(time.perf_counter() - started)
            return EngineOutput()
        if self.cluster is not None and isinstance(ev, SampleBatch):
            self.metrics.samples.inc(await self.cluster.on_batch(ev))
            self.metrics.detect_seconds.observe(time.perf_counter() - started)
            return EngineOutput()
        stored_id = ev.id if isinstance(ev, Change) and ev.id in self._stored_changes else None
        if stored_id is not None:  # submit_changes stored it before its 2xx
            self._stored_changes.discard(stored_id)
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
        await self.persist_reliably(out, coalesce=coalesce)
        if isinstance(ev, AlertEvent):
            # Processed once its consequences are stored (with coalescing, at the next incident
            # save): an alert marked before then would be lost by a crash, not fed again.
            self._alerts_unsaved.append(ev.key)
            if (stored := self._inbox_keys.pop(ev.key, None)) is not None:
                self._alerts_unsaved.append(stored)
            if not self._unsaved:
                await self._mark_alerts_processed()
        return out

    def _inadmissible(self, ev: Event) -> str | None:
        """Why the core must not take ``ev`` (a time that is not finite, or far ahead of now: the
        core's clock would jump there and stay), or ``None``. Every source passes through here."""
        ts = ev.ts
        if not isinstance(ts, (int, float)) or not math.isfinite(ts):
            return "event time is not finite"
        if ts > self.horizon():
            return self.time_window.check(ts, self._reference_now())
        if isinstance(ev, AlertEvent) and not (is_clean(ev.service) and is_clean(ev.signal)):
            return "text the store cannot hold"
        return None

    def _admissible_change(self, ch: Change, what: str) -> Change | None:
        """``ch`` cleaned for the store and the core, or ``None`` (quarantined) when its time is unusable."""
        try:
            good = clean_change(ch)
        except ValueError as e:
            self.quarantine("change", f"{what} {ch.id[:80]!r} set aside: {e}")
            return None
        if good.ts > self.horizon():
            self.quarantine("change", f"{what} {ch.id[:80]!r} set aside: "
                                      f"{self.time_window.check(good.ts, self._reference_now())}")
            return None
        return good

    def _reference_now(self) -> float:
        """Now, for the core's guard: the wall clock, or the core's event time when it is ahead
        (a replay or a test feeding event time faster than the clock)."""
        now = self.clock()
        return max(now, self.engine.now) if math.isfinite(self.engine.now) else now

    def horizon(self) -> float:
        """The latest event time the core takes (``intake.max_future`` ahead of now)."""
        return self._reference_now() + self.time_window.max_future

    # -- intake: back-pressure -------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events waiting for the core (both lanes)."""
        return self.queue.qsize() + self.bulk.qsize()

    def admit(self, source: str, n: int) -> None:
        """Take ``n`` events from ``source`` now, or raise :class:`~daemon.intake.Busy` (HTTP 429)."""
        try:
            self.intake.admit(source, n, self.pending)
        except Busy:
            self.metrics.intake_refused.labels(source).inc(n)
            raise

    def admit_alerts(self, alerts: Sequence[AlertEvent]) -> None:
        """Alerts about known services only count against the rate limit; a flood of alerts about
        unknown ones is refused first, and never shuts the door on the known ones."""
        known = sum(1 for a in alerts if a.service in self.topology.services)
        self.admit("alertmanager", len(alerts) - known)
        if known:
            self.intake.admit("alertmanager:known", known, self.queue.qsize())

    async def _enqueue_alert(self, a: AlertEvent) -> None:
        await (self.queue if a.service in self.topology.services else self.bulk).put(a)

    async def persist_reliably(self, out: EngineOutput, *, give_up_after_stop: float = 10.0,
                               coalesce: bool = False) -> None:
        """Persist, retrying while the store is down or full: the engine has already decided these
        pages, so dropping the write would lose them. Writes are idempotent (upserts, outbox keys).
        Once stopping, give up after ``give_up_after_stop`` seconds rather than hang the shutdown."""
        delay = 0.2
        stop_seen: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.persist(out, coalesce=coalesce)
                self._store_ok, self._store_reason = True, ""
                return
            except Exception as e:
                if not _permanent(e) and not isinstance(e, (SQLAlchemyError, StoreError, OSError, TimeoutError)):
                    raise
                if _permanent(e):  # this data can never be stored: set it aside, keep the rest going
                    out = await self._set_aside_unstorable(out, e)
                    continue
                self._store_ok, self._store_reason = False, describe_store_error(e)
                if self._stop.is_set():
                    stop_seen = stop_seen if stop_seen is not None else loop.time()
                    if loop.time() - stop_seen > give_up_after_stop:
                        log.error("store still failing at shutdown; %d pages not written: %s", len(out.pages), e)
                        raise
                log.warning("store write failed (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _set_aside_unstorable(self, out: EngineOutput, err: Exception) -> EngineOutput:
        """The store refused this data itself (not a failure of the store): find the incidents it
        cannot hold, one by one, and quarantine them with their pages, so the rest is written and
        nothing is retried for ever."""
        bad: set[str] = set()
        for inc_id, inc in list(self._unsaved.items()):
            try:
                await self.store.incidents.save(inc.to_json(), now=self.clock())
            except Exception as e:
                if not _permanent(e):
                    raise
                bad.add(inc_id)
                self._unsaved.pop(inc_id, None)
                self.quarantine("incident", f"incident {inc_id} cannot be stored ({type(e).__name__}); "
                                            "its pages are not sent")
        if not bad:  # not an incident: the health, stream changes or alerts of this output
            self.quarantine("output", f"the store refused a decision ({type(err).__name__}: {str(err)[:200]})")
            self._alerts_unsaved = []
            return EngineOutput()
        return replace(out, pages=[p for p in out.pages if p.incident_id not in bad],
                       incidents={k: v for k, v in out.incidents.items() if k not in bad})

    async def persist(self, out: EngineOutput, *, coalesce: bool = False) -> None:
        """Write what the core decided: health, stream changes, incidents, then pages.

        With ``coalesce`` (the analysis loop), an incident that changed without a page is only
        marked unsaved: the loop saves those when the queue runs dry, every
        ``save_incidents_every`` seconds of a long burst, and at shutdown. An incident is saved
        whole (its document grows with its anomalies), so saving it after every event of an
        alert storm made absorbing the storm quadratic. Any page still goes out after the
        incidents are saved, as without ``coalesce``: a restart never re-decides a page it sent.
        """
        for a in out.anomalies:
            self.metrics.anomalies.labels(self.metrics.signal_label(a.signal)).inc()
        if out.health:
            await self.store.health.add(out.health)
        if out.changes:  # changes handed to the core directly; submit_changes stored its own already
            await self.store.changes.add(out.changes, source="stream", received_at=self.clock())
        self._unsaved.update(out.incidents)
        if not coalesce or out.pages:
            planned = [p for p in [await self._plan_page(a) for a in out.pages] if p is not None]
            await self._save_unsaved(planned)
        for ch in out.changes:
            await self._forward_change(ch)

    async def _save_unsaved(self, planned: Sequence[tuple[Page, list[str]]] = ()) -> None:
        """Save the changed incidents, the pages decided about them and the alerts they took in one
        transaction: a kill at any instant leaves all of it or none of it (never an incident
        marked paged whose page is not in the outbox)."""
        now = self.clock()
        self._saved_at = time.monotonic()
        items = list(self._unsaved.items())
        docs = [self.incident_doc(inc) for _, inc in items]
        rows: list[dict[str, Any]] = []
        withdraw: list[tuple[str, str]] = []
        for page, receivers in planned:
            reason, page_rows = self.outbox.plan(page, receivers, now)
            if reason is not None:
                withdraw.append((page.dedup_key, reason))
            rows += page_rows
        keys, self._alerts_unsaved = self._alerts_unsaved, []
        try:
            new = await self.store.decisions.commit(docs, rows, withdraw=withdraw, alert_keys=keys, now=now)
        except BaseException:
            self._alerts_unsaved = keys + self._alerts_unsaved
            raise
        for inc_id, _ in items:
            self._unsaved.pop(inc_id, None)
        for doc in docs:
            await self.workspace.snapshot(doc, self.engine.now)
        for page, receivers in planned:
            log.info("page %s for %s queued (%d receivers): %s", page.action, page.incident_id, len(receivers),
                     page.title, extra={"incident_id": page.incident_id})
        if new:
            self.outbox.wake()

    async def _mark_alerts_processed(self) -> None:
        if self._alerts_unsaved:
            keys, self._alerts_unsaved = self._alerts_unsaved, []
            await self.store.alerts.mark_processed(keys, self.clock())

    async def _forward_change(self, ch: Change) -> None:
        """Forward a newly recorded change to receivers that take change events (PagerDuty's Change Events)."""
        receivers = [name for name, n in self.outbox.notifiers.items() if getattr(n, "change_events", False)]
        if not receivers:
            return
        title = ch.summary or f"{ch.kind.value} {ch.service}"
        page = Page("change", ch.id[:64], ch.id[:128], ch.ts, title, "", {"change": ch.to_json()},
                    f"{self.base_url}/api/v1/changes?service={ch.service}" if self.base_url else "",
                    severity="info", service=ch.service, reason="change")
        await self.outbox.enqueue(page, receivers)

    def incident_doc(self, inc: Incident) -> dict[str, Any]:
        """The incident's document with what the engine knows around it: the incident it follows and
        how long after that one resolved, those merged into it, and the changes made in response to it
        (a rollback, a flag turned off) with their times, for the pages, the API and the postmortem."""
        return self.incident_view(inc).to_json()

    def incident_view(self, inc: Incident) -> IncidentView:
        """The typed view of :meth:`incident_doc`: what every renderer reads."""
        known = self._lineage.setdefault(inc.id, {})
        earlier = self.engine.incidents.get(inc.follows) if inc.follows else None
        if earlier is not None and earlier.resolved_at is not None:
            known["follows_by"] = max(0.0, inc.onset - earlier.resolved_at)
        merged = sorted(i.id for i in self.engine.incidents.values() if i.merged_into == inc.id)
        if merged:
            known["merged_from"] = sorted(set(known.get("merged_from", [])) | set(merged))
        return IncidentView.of(inc, follows_by=known.get("follows_by"), merged_from=known.get("merged_from", ()),
                               responses=self.responses_to(inc))

    def responses_to(self, inc: Incident) -> list[Change]:
        """Changes made after the incident was paged to its services or to its top candidate's service."""
        _, responses = self.engine.episode_changes(inc)
        services = set(inc.involved)
        top = inc.ranking.top if inc.ranking else None
        if top is not None and (ch := self.engine.change(top.cause.ref)) is not None:
            services.add(ch.service)
        return [c for c in responses if c.service in services]

    def page_for(self, action: PageAction) -> Page:
        """The page for a decision. Its event time is always finite: a decision made before the core
        saw any event time (a restart without a checkpoint) takes the incident's own latest time."""
        view = self.incident_view(self.engine.incidents[action.incident_id])
        doc = view.to_json()
        ts = action.ts
        if not math.isfinite(ts):
            ts = max(_event_times(doc))
            ts = ts if math.isfinite(ts) else self.clock()
            log.warning("page %s for %s had no event time; using %.0f", action.kind.value, action.incident_id, ts,
                        extra={"incident_id": action.incident_id})
        text = render_resolve_text(view) if action.kind is PageKind.RESOLVE else render_text(view)
        return self.page_of_doc(doc, action.kind.value, ts, text, action.reason)

    def page_of_doc(self, doc: dict[str, Any], action: str, ts: float, text: str, reason: str) -> Page:
        """The page for an incident document: title, link, severity, first service, runbook."""
        url = f"{self.base_url}/incidents/{doc['id']}" if self.base_url else ""
        services = list(doc.get("services") or [])
        return Page(action, doc["id"], doc["id"], ts, render_title(doc), text, doc, url,
                    severity=severity_of(doc), service=services[0] if services else "",
                    runbook=self.dispatcher.router.runbook(services), reason=reason)

    async def _plan_page(self, action: PageAction) -> tuple[Page, list[str]] | None:
        """The page and its receivers (routing, silences: the workspace's), to be written with the incident."""
        if self.cluster is not None and not self.cluster.may_page():
            log.warning("not leading: page %s for %s dropped", action.kind.value, action.incident_id)
            return None
        page = self.page_for(action)
        head = self.engine.history_until
        if action.kind is PageKind.RESOLVE and action.ts < head:
            # Decided while reading history: the data up to the head already shows whether it relapsed,
            # so the flap damping is held on event time, not again on wall time.
            page = replace(page, hold=max(0.0, self.outbox.resolve_hold - (head - action.ts)))
        return await self.dispatcher.plan(page)

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
        note = f"{text}\n— {actor}" if actor else text
        page = self.page_of_doc(doc, action, self.clock(), note, f"{action} by {actor}" if actor else action)
        return await self.dispatcher.dispatch(page)

    # -- API entry points -----------------------------------------------------------
    async def submit_changes(self, changes: Sequence[Change], source: str) -> list[bool]:
        """Store first (durable), then feed the core through the queue. A change whose time is not
        finite or far ahead of now is set aside (quarantined), never stored."""
        admitted = [self._admissible_change(ch, f"change from {source}") for ch in changes]
        good = [ch for ch in admitted if ch is not None]
        stored = iter(await self.store.changes.add(good, source=source, received_at=self.clock()) if good else [])
        inserted = [False if ch is None else next(stored) for ch in admitted]
        for ch, new in zip(admitted, inserted, strict=True):
            if ch is None:
                continue
            if new:
                self.metrics.changes.labels(source).inc()
                await self._forward_change(ch)  # idempotent on the change id: the core's output may repeat it
                self._stored_changes.add(ch.id)
                await self.queue.put(ch)
            elif ch.status:  # a known change sent again with its outcome (a CI hook reporting completion)
                await self.submit_change_status(ChangeStatus(self.clock(), ch.id, ch.status, ch.completed_at),
                                                source=source)
        return inserted

    async def submit_change_status(self, st: ChangeStatus, source: str) -> str:
        """A change's outcome: stored on the change first, then fed to the core (re-ranks, hypotheses).

        Returns ``updated``, ``unchanged`` (a repeat) or ``unknown`` (no change with that id:
        logged and dropped, as an outcome means nothing without its change).
        """
        res = await self.store.changes.update_status(st)
        if res.outcome is StatusOutcome.UNKNOWN:
            log.info("%s: outcome %s of unknown change %s ignored", source, st.status, st.change_id,
                     extra={"change_ids": [st.change_id]})
            return "unknown"
        if res.outcome is StatusOutcome.UNCHANGED:
            return "unchanged"
        log.info("%s: change %s is %s", source, st.change_id, st.status, extra={"change_ids": [st.change_id]})
        await self.queue.put(st)
        return "updated"

    async def submit_alerts(self, alerts: Sequence[AlertEvent]) -> list[bool]:
        """External alerts (Alertmanager): stored first, so an answered webhook survives a crash,
        then fed to the core through the queue. A re-sent alert (same fingerprint, startsAt and
        status) is not fed twice. Returns, per alert, whether it was new."""
        alerts = [clean_alert(a) for a in alerts]
        new = await self.store.alerts.add(alerts, self.clock())
        for a, fresh in zip(alerts, new, strict=True):
            self.metrics.alerts.labels("firing" if a.firing else "resolved").inc()
            if fresh:
                await self._enqueue_alert(a)
        return new

    async def record_feedback(self, incident_id: str, cause: Cause, note: str, actor: str) -> int:
        """Store the answer, then learn from it: the evidence of the true cause against the rest
        of what was shown. The learned weights are checkpointed at once, so they survive restarts."""
        fid = await self.store.feedback.add(incident_id, cause.to_json(), note, actor, self.clock())
        doc = await self.store.incidents.get(incident_id)
        shown = [(Cause.from_json(c["cause"]), c.get("features") or {}) for c in (doc or {}).get("candidates", [])]
        if self.learner.update(shown, cause):
            await self.store.checkpoints.save(LEARNING_CHECKPOINT, self.learner.state_dict(), now=self.clock())
            log.info("learned from feedback on %s (%d answers so far)", incident_id, self.learner.updates,
                     extra={"incident_id": incident_id})
        return fid

    async def readiness(self) -> tuple[bool, list[str]]:
        reasons = []
        if not await self.store.ping():
            reasons.append("store unreachable")
        elif (why := await self.store.unwritable()) is not None:
            reasons.append(f"store cannot be written: {why}")
        elif not self._store_ok:
            reasons.append(f"store writes failing: {self._store_reason or 'see the log'}")
        now = self.clock()
        for st in self.statuses.values():
            if st.stale(now):
                reasons.append(f"source {st.name} stale" + (f": {st.last_error}" if st.last_error else ""))
        return not reasons, reasons

    async def refresh_gauges(self) -> None:
        self.metrics.series.set(self.engine.series_count)
        leading = self.cluster is None or self.cluster.may_page()
        self.metrics.cluster_leader.set(1.0 if leading else 0.0)
        self.metrics.cluster_members.set(len(self.cluster.shard.members) if self.cluster is not None else 1)
        self.metrics.incidents_open.set(len(list(self.engine.tracker.open_incidents())))
        now = self.clock()
        for st in self.statuses.values():
            self.metrics.source_up.labels(st.name).set(0.0 if st.stale(now) else 1.0)
            if st.newest_data is not None:
                self.metrics.source_lag.labels(st.name).set(max(0.0, now - st.newest_data))
        with contextlib.suppress(Exception):
            self.metrics.outbox_depth.set(await self.store.notifications.depth())


# -- building from config -------------------------------------------------------------
def build_notifiers(cfg: Config, store: Store | None = None) -> dict[str, Notifier]:
    """The configured receivers (Slack in bot mode keeps its message refs in ``store``)."""
    from .notify.factory import build_notifiers as _build
    return _build(cfg, None if store is None else store.refs)


def api_tokens_of(cfg: Config) -> ApiTokens:
    return ApiTokens.of([t.resolve().get_secret_value() for t in cfg.api.read_tokens],
                        [t.resolve().get_secret_value() for t in cfg.api.write_tokens])


def topology_of(cfg: Config) -> Topology:
    from correlators.types import ServiceInfo
    return Topology.from_services([ServiceInfo(s.name, s.namespace, tuple(s.calls), tuple(s.dependencies))
                                   for s in cfg.services])


async def serve(daemon: Daemon, host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, daemon.stop)
    try:
        await daemon.run(host=host, port=port)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s (pick another with --listen HOST:PORT)", host, port, e.strerror)
        return 1
    return 0


async def _run_from_config(cfg: Config) -> int:
    from .api.webhooks import WebhookSettings
    from .sources.factory import build_sources
    try:
        store = await Store.open(cfg.store.url)
    except StoreError as e:
        log.error("%s (check store.url)", e)
        return 1
    try:
        sources, statuses = build_sources(cfg, store)
        step = cfg.prometheus.step if cfg.prometheus else 30.0
        cluster = None
        if cfg.cluster is not None:
            from .cluster.build import build_node
            try:
                cluster = build_node(cfg.cluster, cfg.store, store, address=cfg.listen)
            except ValueError as e:
                log.error("bad cluster settings: %s", e)
                return 2
        daemon = Daemon(cluster=cluster, store=store, topology=topology_of(cfg), sources=sources,
                        notifiers=build_notifiers(cfg, store), statuses=statuses, step=step,
                        base_url=cfg.base_url or f"http://{cfg.listen}",
                        grouping=grouping_of(cfg),
                        retention=cfg.store.retention, api_tokens=api_tokens_of(cfg),
                        webhooks=WebhookSettings.from_config(cfg.webhooks),
                        checkpoint_every=cfg.cluster.checkpoint if cfg.cluster is not None else 60.0,
                        router=build_router(cfg), delivery=cfg.delivery, vectorised=cfg.detection.vectorised,
                        seasonal=cfg.detection.seasonal,
                        time_window=TimeWindow(cfg.intake.max_age, cfg.intake.max_future),
                        intake=IntakeLimits(cfg.intake.rate, float(cfg.intake.burst), cfg.intake.max_pending),
                        reorder_within=cfg.intake.reorder_within,
                        confirm=build_confirm(cfg, sources, topology_of(cfg)))
        host, port = cfg.host_port
        return await serve(daemon, host, port)
    finally:
        await store.close()


def grouping_of(cfg: Config) -> GroupingPolicy:
    """How anomalies group and page, from ``detection`` and the step (the daemon and the backtest alike:
    the same :func:`daemon.policy.policies` that replay uses)."""
    step = cfg.prometheus.step if cfg.prometheus else 30.0
    return policies(step, cfg.detection, cfg.all_signals()).grouping


def _cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config_or_report(args.config)
    if cfg is None:
        return 2
    if args.listen:
        cfg = cfg.model_copy(update={"listen": args.listen})
    return asyncio.run(_run_from_config(cfg))


def _cmd_check(args: argparse.Namespace) -> int:
    from .cli_service import check_config
    return check_config(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .sources.demo import run_demo
    return asyncio.run(run_demo(listen=args.listen, db=args.db, seed=args.seed, step=args.step,
                                every=args.every, first_after=args.first_after, fresh=args.fresh))


def add_parsers(sub: Any) -> None:
    """``run``, ``check-config``, ``demo`` and ``drill`` (the parsers live in :mod:`daemon.cli_service`,
    which imports nothing heavy, so that ``--help`` is quick)."""
    from .cli_service import add_parsers as add_service
    from .notify.drill import add_parser as add_drill
    add_service(sub)
    add_drill(sub)
