"""The core loop: events in timestamp order in, anomalies, incidents and page actions out.

Pure: no I/O, no asyncio, no wall clock. The live daemon, ``replay`` and the
tests all drive this same class; only where events come from differs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from correlators.health import HealthTracker
from correlators.incidents import GroupingPolicy, Incident, IncidentTracker, PageAction
from correlators.ranking import DEFAULT_WEIGHTS, RankingPolicy, Weights
from correlators.signals import SignalRole
from correlators.traffic import TrafficWindow
from correlators.types import Anomaly, Change, HealthEvent, IncidentState, Topology
from detectors import (
    Detection,
    Detector,
    DetectorBank,
    Direction,
    EventKind,
    SeriesBank,
    make_bank,
    make_detector,
)

from .changes import ChangeLog
from .events import AlertEvent, CatchUp, ChangeStatus, Event, ProbeResult, Sample, SampleBatch
from .policy import DEFAULT_STEP, policy
from .ranker import Confirmer, Ranker
from .series import BankFactory, SeriesDetectors

__all__ = ["BankFactory", "DetectorFactory", "Engine", "EngineOutput", "alert_detection", "default_bank_factory",
           "default_detector_factory", "object_banks"]

DetectorFactory = Callable[[str], Detector]


def default_detector_factory(signal: str) -> Detector:
    """The pipeline's detector for one series of ``signal``."""
    return make_detector(signal)


def default_bank_factory(signal: str) -> SeriesBank:
    """The vectorised bank of the series of ``signal``: the events of :func:`default_detector_factory`'s detectors."""
    return make_bank(signal)


def detection_factories(seasonal: Collection[str], vectorised: bool = True) -> tuple[DetectorFactory, BankFactory]:
    """The detector and bank factories of a configuration (``detection.seasonal`` and
    ``.vectorised``), one place for the daemon and the backtest.

    >>> detector, bank = detection_factories(seasonal=[], vectorised=True)
    >>> type(detector("request_rate")).__name__, type(bank("request_rate")).__name__
    ('EnvelopeShift', 'DetectorBank')
    """
    chosen = frozenset(seasonal)

    def detector(signal: str) -> Detector:
        return make_detector(signal, chosen)

    def bank(signal: str) -> SeriesBank:
        return make_bank(signal, chosen)
    return detector, (bank if vectorised else object_banks(detector))


def object_banks(detector_factory: DetectorFactory) -> BankFactory:
    """Banks of one ``detector_factory(signal)`` object per series (no vectorisation).

    >>> bank = object_banks(default_detector_factory)("error_ratio")
    >>> type(bank).__name__, len(bank)
    ('DetectorBank', 0)
    """
    def bank(signal: str) -> SeriesBank:
        return DetectorBank(lambda: detector_factory(signal))
    return bank


def alert_detection(a: AlertEvent, active: bool) -> Detection | None:
    """The detection an external alert stands for: a shift when it fires (unless its anomaly is
    ``active`` already: a re-sent alert), a recovery when it resolves an active one, else none."""
    if a.firing:
        return None if active else Detection(EventKind.SHIFT, a.ts, a.ts, Direction.UP, 0.0, 1.0, a.confidence)
    return Detection(EventKind.RECOVERY, a.ts, a.ts, Direction.DOWN, 1.0, 0.0, a.confidence) if active else None


@dataclass
class EngineOutput:
    """What one event caused: things to store and pages to send."""

    anomalies: list[Anomaly] = field(default_factory=list)
    recoveries: list[tuple[str, float]] = field(default_factory=list)
    health: list[HealthEvent] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    changes_updated: list[Change] = field(default_factory=list)
    pages: list[PageAction] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)

    def extend(self, other: EngineOutput) -> None:
        self.anomalies += other.anomalies
        self.recoveries += other.recoveries
        self.health += other.health
        self.changes += other.changes
        self.changes_updated += other.changes_updated
        self.pages += other.pages
        self.incidents.update(other.incidents)


class Engine:
    """Detect, group, rank and decide pages, all on event time.

    Each signal's series live in a :class:`~detectors.series_bank.SeriesBank` made by
    ``bank_factory`` (by default one ``detector_factory`` object per series): a :class:`SampleBatch`
    (one query's result at one step) advances them together, a :class:`Sample` one series; both
    give the same detections.

    With ``forget_incidents_after`` (the daemon), incidents resolved or merged that long past
    their re-open window are dropped from memory at the next :meth:`flush` (the store keeps
    them); without it (replay, backtest) every incident stays, for the report.
    """

    def __init__(
        self,
        topology: Topology,
        *,
        detector_factory: DetectorFactory = default_detector_factory,
        bank_factory: BankFactory | None = None,
        grouping: GroupingPolicy | None = None,
        ranking: RankingPolicy | None = None,
        weights: Callable[[], Weights] | None = None,
        health: HealthTracker | None = None,
        change_retention: float = 6 * 3600.0,
        forget_incidents_after: float | None = None,
        confirm: Confirmer | None = None,
    ) -> None:
        self.topology = topology
        self.forget_incidents_after = forget_incidents_after
        self.detector_factory = detector_factory
        if bank_factory is None:
            bank_factory = (default_bank_factory if detector_factory is default_detector_factory
                            else object_banks(detector_factory))
        self.bank_factory = bank_factory
        if grouping is None or ranking is None:  # the one builder's windows (daemon.core.policy), at its default step
            defaults = policy(None, DEFAULT_STEP)
            grouping, ranking = grouping or defaults.grouping, ranking or defaults.ranking
        self.ranking_policy = ranking
        self.weights = weights or (lambda: DEFAULT_WEIGHTS)
        self.tracker = IncidentTracker(topology, grouping)
        self.health_tracker = health or HealthTracker()
        self.change_retention = change_retention
        self.series = SeriesDetectors(bank_factory)
        self.log = ChangeLog(change_retention)
        self.ranker = Ranker(topology, self.log, ranking, self.weights, confirm)  # confirm: daemon.confirm
        self._traffic = TrafficWindow()
        self.tracker.same_cause = lambda inc, anomaly: self.ranker.same_cause(inc, anomaly, self.tracker,
                                                                                 self._traffic)
        self.now = float("-inf")
        self.history_until = float("-inf")
        """Events before this are history (a catch-up, a backfill): recorded, never first-paged."""

    # -- ingestion ----------------------------------------------------------------
    def ingest(self, event: Event) -> EngineOutput:
        """Process one event. First pages are decided once all events of a timestamp are in
        (the next timestamp arrives, or :meth:`flush`), so simultaneous anomalies page together."""
        out = EngineOutput()
        if isinstance(event, (Change, ChangeStatus)):
            # A change is not an observation of time: a future-dated or late one must neither move
            # the clock nor hold back the page decision of the samples still to come.
            return self.add_change(event) if isinstance(event, Change) else self.update_change(event)
        if isinstance(event, CatchUp):
            self.history_until = max(self.history_until, event.ts)
            return out
        if event.ts > self.now > float("-inf"):
            out.extend(self.flush())
        self.now = max(self.now, event.ts)
        if isinstance(event, Sample):
            out.extend(self._on_sample(event))
        elif isinstance(event, SampleBatch):
            out.extend(self._on_batch(event))
        elif isinstance(event, ProbeResult):
            out.extend(self._on_probe(event))
        elif isinstance(event, AlertEvent):
            out.extend(self._on_alert(event))
        elif isinstance(event, ChangeStatus):
            out.extend(self.update_change(event))
        else:
            out.extend(self.add_change(event))
        return out

    @property
    def in_history(self) -> bool:
        """Is the engine still reading history (before the head of a catch-up, see :class:`CatchUp`)?"""
        return self.now < self.history_until

    def flush(self) -> EngineOutput:
        """Page the incidents that deserve a first page, with a ranking as of now.

        Not while reading history: what a catch-up found is paged at its head only if still open
        there (an incident that opened and resolved inside it is recorded, never paged)."""
        out = EngineOutput()
        for inc in [] if self.in_history else self.tracker.open_incidents():
            if self.tracker.should_page(inc):
                self._rerank(inc, self.now)
                out.pages += self.tracker.page(inc, self.now)
                out.incidents[inc.id] = inc
        if (confirm := None if self.in_history else self.ranker.confirm) is not None:
            for inc in self.tracker.open_incidents():
                if inc.ranking is not None and confirm.waiting(inc, self.now):
                    out.pages += self._rerank(inc, self.now)  # a confirm test has more data now
                    out.incidents[inc.id] = inc
        if self.forget_incidents_after is not None:
            self.tracker.forget(self.now, self.forget_incidents_after)
            if self.ranker.confirm is not None:
                self.ranker.confirm.keep(self.tracker.incidents)
        return out

    def ingest_many(self, events: Iterable[Event]) -> EngineOutput:
        out = EngineOutput()
        for ev in events:
            out.extend(self.ingest(ev))
        return out

    def _on_sample(self, s: Sample) -> EngineOutput:
        found = self.detect(s)
        if found is None:
            return EngineOutput()
        return self.add_detection(s.service, s.signal, s.key, found)

    def detect(self, s: Sample) -> Detection | None:
        """Advance the sample's detector only: no grouping (a replica that does not lead uses this)."""
        self.now = max(self.now, s.ts)
        if self._is_traffic(s.signal):
            self._traffic.observe(s.service, s.signal, s.ts, s.value)
        return self.series.update_one(s.key, s.signal, s.ts, s.value)

    def _is_traffic(self, signal: str) -> bool:
        return self.tracker.policy.impact.role(signal) is SignalRole.TRAFFIC  # the config's role, or the name's

    def _on_batch(self, b: SampleBatch) -> EngineOutput:
        """Detect on the whole step, then take its detections and traffic in the samples' order,
        as the same samples one at a time would."""
        self.now = max(self.now, b.ts)
        found = self.series.update_batch(b)
        out = EngineOutput()
        traffic = self._is_traffic(b.signal)
        seen = 0
        for i, d in found:
            if traffic:
                self._observe_traffic(b, seen, i + 1)
                seen = i + 1
            out.extend(self.add_detection(b.services[i], b.signal, b.keys[i], d))
        if traffic:
            self._observe_traffic(b, seen, len(b))
        return out

    def _observe_traffic(self, b: SampleBatch, start: int, end: int) -> None:
        observe, sig, ts = self._traffic.observe, b.signal, b.ts
        for svc, v in zip(b.services[start:end], b.values[start:end], strict=True):
            observe(svc, sig, ts, v)

    def detect_batch(self, b: SampleBatch) -> list[tuple[int, Detection]]:
        """Advance the batch's detectors only (no grouping): ``(position in the batch, detection)``."""
        self.now = max(self.now, b.ts)
        found = self.series.update_batch(b)
        if self._is_traffic(b.signal):
            self._observe_traffic(b, 0, len(b))
        return found

    def add_detection(self, service: str, signal: str, series: str, d: Detection) -> EngineOutput:
        """Take a detection (from a detector here, another replica, or an external alert) into the incidents."""
        self.now = max(self.now, d.detected_at)
        out = EngineOutput()
        if d.kind is EventKind.RECOVERY:
            out.recoveries.append((series, d.detected_at))
            out.pages += self.tracker.recover(series, d.detected_at)
            for touched in self.tracker.incidents.values():
                if any(a.key == series for a in touched.anomalies):
                    out.incidents[touched.id] = touched
            return out
        impact = self.tracker.policy.impact
        rate = self._traffic.rate_before(service, d.onset) if impact.role(signal) is SignalRole.ERRORS else None
        anomaly = Anomaly(service, signal, d.onset, d.detected_at, d.direction.value, d.before, d.after,
                          d.confidence, series=series, rate=rate)
        out.anomalies.append(anomaly)
        if d.kind is EventKind.EVIDENCE:
            joined, _ = self.tracker.add_evidence(anomaly)  # evidence never opens an incident, but it may
            if joined is not None:  # move the ranking of the one it joins (a deviation at a changed service)
                out.incidents[joined.id] = joined
                out.pages += self._rerank(joined, d.detected_at) if joined.state is IncidentState.OPEN else []
            return out
        inc, pages = self.tracker.add_anomaly(anomaly)
        out.pages += pages
        if inc is not None and inc.state is IncidentState.OPEN:
            out.pages += self._rerank(inc, d.detected_at)
            out.incidents[inc.id] = inc
            # Incidents this anomaly merged into ``inc`` changed too (to "merged"): they are
            # saved now, not left "open" in the store until one of their series recovers.
            for other in self.tracker.incidents.values():
                if other.merged_into == inc.id and other.resolved_at == d.detected_at:
                    out.incidents[other.id] = other
        return out

    def _on_alert(self, a: AlertEvent) -> EngineOutput:
        """A firing alert is an anomaly (once, however often it is re-sent); resolved recovers it."""
        active = any(an.key == a.series and an.recovered_at is None
                     for inc in self.tracker.open_incidents() for an in inc.anomalies)
        d = alert_detection(a, active)
        return EngineOutput() if d is None else self.add_detection(a.service, a.signal, a.series, d)

    def _on_probe(self, p: ProbeResult) -> EngineOutput:
        h = self.health_tracker.observe(p.ts, p.target, p.healthy)
        if h is None:
            return EngineOutput()
        return self.add_health(h, now=p.ts)

    def add_health(self, h: HealthEvent, now: float | None = None) -> EngineOutput:
        self.now = max(self.now, h.ts)
        self.log.add_health(h)
        out = EngineOutput(health=[h])
        self._rerank_open(out, now if now is not None else self.now)
        return out

    def add_change(self, ch: Change) -> EngineOutput:
        """Record a change (idempotent on id) and re-rank the open incidents."""
        if not self.log.add(ch):
            return EngineOutput()
        self.log.expire(self.now)
        out = EngineOutput(changes=[ch])
        self._rerank_open(out, self.now)
        return out

    def update_change(self, st: ChangeStatus) -> EngineOutput:
        """A recorded change's outcome (a rollout completed or failed): idempotent; the open
        incidents are re-ranked so their hypotheses can say when it finished. An outcome for a
        change this engine does not hold (unknown, or past retention) changes nothing here."""
        updated = self.log.update(st)
        if updated is None:
            return EngineOutput()
        out = EngineOutput(changes_updated=[updated])
        self._rerank_open(out, self.now)
        return out

    # -- ranking -----------------------------------------------------------------
    def _rerank_open(self, out: EngineOutput, ts: float) -> None:
        for inc in self.tracker.open_incidents():
            out.pages += self._rerank(inc, ts)
            out.incidents[inc.id] = inc

    def _rerank(self, inc: Incident, ts: float) -> list[PageAction]:
        return self.ranker.rerank(inc, ts, self.tracker, self._traffic)

    def open_incidents(self) -> Iterable[Incident]:
        """The incidents open now (what the workspace snapshots, what /metrics counts)."""
        return self.tracker.open_incidents()

    def changes_known_at(self, ts: float) -> list[Change]:
        """Changes recorded so far (their own ts may be later than ``ts`` for late webhooks)."""
        return list(self.log.changes)

    @property
    def incidents(self) -> dict[str, Incident]:
        return self.tracker.incidents

    def change(self, change_id: str) -> Change | None:
        return self.log.get(change_id)

    # -- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A checkpoint: each signal's bank whole (numpy rows as bytes for a vectorised one), and health."""
        return {
            "version": 2,
            "now": self.now,
            "banks": self.series.state_dict(),
            "health": self.health_tracker.state_dict(),
        }

    @property
    def series_count(self) -> int:
        return len(self.series.signals)

    def series_keys(self) -> list[str]:
        """The series that have a detector here."""
        return self.series.keys()

    def series_state(self, key: str) -> tuple[str, dict[str, Any]]:
        """``(signal, detector state)`` of one series, for a per-series checkpoint."""
        return self.series.state(key)

    def load_series(self, key: str, signal: str, state: dict[str, Any]) -> None:
        """Resume one series' detector from its checkpoint (a shard taken over stays warm)."""
        self.series.load(key, signal, state)

    def drop_series(self, key: str) -> None:
        """Forget a series (its shard moved to another replica)."""
        self.series.drop(key)

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore detectors and health from a checkpoint; incidents come back from the store.

        Version 2 holds whole banks; version 1 (older releases) one detector state per series.
        """
        version = state.get("version")
        if version not in (1, 2):
            raise ValueError(f"engine checkpoint version {version!r} is not supported")
        now = float(state["now"])
        self.series.load_state(version, state)
        self.now = now
        self.health_tracker.load_state(state["health"])
