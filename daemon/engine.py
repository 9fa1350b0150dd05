"""The core loop: events in timestamp order in, anomalies, incidents and page actions out.

Pure: no I/O, no asyncio, no wall clock. The live daemon, ``replay`` and the
tests all drive this same class; only where events come from differs.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from correlators.health import HealthTracker
from correlators.incidents import GroupingPolicy, Incident, IncidentTracker, PageAction
from correlators.ranking import DEFAULT_WEIGHTS, RankingPolicy, Weights, rank
from correlators.signals import SignalRole, role_of
from correlators.traffic import TrafficWindow
from correlators.types import Anomaly, Change, HealthEvent, IncidentState, Topology
from detectors import Detection, Detector, Direction, EventKind, RobustCusum

from .events import AlertEvent, ChangeStatus, Event, ProbeResult, Sample

__all__ = ["Engine", "EngineOutput", "DetectorFactory", "default_detector_factory"]

DetectorFactory = Callable[[str], Detector]


def default_detector_factory(signal: str) -> Detector:
    try:
        from detectors import make_detector  # type: ignore[attr-defined]
    except ImportError:
        return RobustCusum()
    return make_detector(signal)  # type: ignore[no-any-return]


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
    """Detect, group, rank and decide pages, all on event time."""

    def __init__(
        self,
        topology: Topology,
        *,
        detector_factory: DetectorFactory = default_detector_factory,
        grouping: GroupingPolicy | None = None,
        ranking: RankingPolicy | None = None,
        weights: Callable[[], Weights] | None = None,
        health: HealthTracker | None = None,
        change_retention: float = 6 * 3600.0,
    ) -> None:
        self.topology = topology
        self.detector_factory = detector_factory
        self.ranking_policy = ranking or RankingPolicy()
        self.weights = weights or (lambda: DEFAULT_WEIGHTS)
        self.tracker = IncidentTracker(topology, grouping)
        self.health_tracker = health or HealthTracker()
        self.change_retention = change_retention
        self._detectors: dict[str, Detector] = {}
        self._signals: dict[str, str] = {}
        self._changes: list[Change] = []  # sorted by ts
        self._change_ids: set[str] = set()
        self._health: list[HealthEvent] = []
        self._traffic = TrafficWindow()
        self.now = float("-inf")

    # -- ingestion ----------------------------------------------------------------
    def ingest(self, event: Event) -> EngineOutput:
        """Process one event. First pages are decided once all events of a timestamp are in
        (the next timestamp arrives, or :meth:`flush`), so simultaneous anomalies page together."""
        out = EngineOutput()
        if event.ts > self.now > float("-inf"):
            out.extend(self.flush())
        self.now = max(self.now, event.ts)
        if isinstance(event, Sample):
            out.extend(self._on_sample(event))
        elif isinstance(event, ProbeResult):
            out.extend(self._on_probe(event))
        elif isinstance(event, AlertEvent):
            out.extend(self._on_alert(event))
        elif isinstance(event, ChangeStatus):
            out.extend(self.update_change(event))
        else:
            out.extend(self.add_change(event))
        return out

    def flush(self) -> EngineOutput:
        """Page the incidents that deserve a first page, with a ranking as of now."""
        out = EngineOutput()
        for inc in self.tracker.open_incidents():
            if self.tracker.should_page(inc):
                self._rerank(inc, self.now)
                out.pages += self.tracker.page(inc, self.now)
                out.incidents[inc.id] = inc
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
        if role_of(s.signal) is SignalRole.TRAFFIC:
            self._traffic.observe(s.service, s.signal, s.ts, s.value)
        key = s.key
        det = self._detectors.get(key)
        if det is None:
            det = self._detectors[key] = self.detector_factory(s.signal)
            self._signals[key] = s.signal
        return det.update(s.ts, s.value)

    def add_detection(self, service: str, signal: str, series: str, d: Detection) -> EngineOutput:
        """Take a detection (from a detector here, another replica, or an external alert) into the incidents."""
        self.now = max(self.now, d.detected_at)
        out = EngineOutput()
        if d.kind is EventKind.RECOVERY:
            out.recoveries.append((series, d.detected_at))
            out.pages += self.tracker.recover(series, d.detected_at)
            for inc in self.tracker.incidents.values():
                if any(a.key == series for a in inc.anomalies):
                    out.incidents[inc.id] = inc
            return out
        anomaly = Anomaly(service, signal, d.onset, d.detected_at, d.direction.value, d.before, d.after,
                          d.confidence, series=series)
        out.anomalies.append(anomaly)
        inc, pages = self.tracker.add_anomaly(anomaly)
        out.pages += pages
        if inc is not None and inc.state is IncidentState.OPEN:
            out.pages += self._rerank(inc, d.detected_at)
            out.incidents[inc.id] = inc
        return out

    def _on_alert(self, a: AlertEvent) -> EngineOutput:
        """A firing alert is an anomaly (once, however often it is re-sent); resolved recovers it."""
        active = any(an.key == a.series and an.recovered_at is None
                     for inc in self.tracker.open_incidents() for an in inc.anomalies)
        if a.firing:
            if active:
                return EngineOutput()
            d = Detection(EventKind.SHIFT, a.ts, a.ts, Direction.UP, 0.0, 1.0, a.confidence)
        else:
            if not active:
                return EngineOutput()
            d = Detection(EventKind.RECOVERY, a.ts, a.ts, Direction.DOWN, 1.0, 0.0, a.confidence)
        return self.add_detection(a.service, a.signal, a.series, d)

    def _on_probe(self, p: ProbeResult) -> EngineOutput:
        h = self.health_tracker.observe(p.ts, p.target, p.healthy)
        if h is None:
            return EngineOutput()
        return self.add_health(h, now=p.ts)

    def add_health(self, h: HealthEvent, now: float | None = None) -> EngineOutput:
        self.now = max(self.now, h.ts)
        bisect.insort(self._health, h, key=lambda e: e.ts)
        out = EngineOutput(health=[h])
        self._rerank_open(out, now if now is not None else self.now)
        return out

    def add_change(self, ch: Change) -> EngineOutput:
        """Record a change (idempotent on id) and re-rank the open incidents."""
        if ch.id in self._change_ids:
            return EngineOutput()
        self._change_ids.add(ch.id)
        bisect.insort(self._changes, ch, key=lambda c: c.ts)
        self._expire(self.now)
        out = EngineOutput(changes=[ch])
        self._rerank_open(out, max(self.now, ch.ts))
        return out

    def update_change(self, st: ChangeStatus) -> EngineOutput:
        """A recorded change's outcome (a rollout completed or failed): idempotent; the open
        incidents are re-ranked so their hypotheses can say when it finished. An outcome for a
        change this engine does not hold (unknown, or past retention) changes nothing here."""
        i = next((i for i, c in enumerate(self._changes) if c.id == st.change_id), None)
        if i is None:
            return EngineOutput()
        updated = st.applied_to(self._changes[i])
        if updated is None:
            return EngineOutput()
        self._changes[i] = updated
        out = EngineOutput(changes_updated=[updated])
        self._rerank_open(out, max(self.now, st.ts))
        return out

    def _expire(self, now: float) -> None:
        horizon = now - self.change_retention
        while self._changes and self._changes[0].ts < horizon:
            self._change_ids.discard(self._changes.pop(0).id)
        while self._health and self._health[0].ts < horizon:
            self._health.pop(0)

    # -- ranking -----------------------------------------------------------------
    def _rerank_open(self, out: EngineOutput, ts: float) -> None:
        for inc in self.tracker.open_incidents():
            out.pages += self._rerank(inc, ts)
            out.incidents[inc.id] = inc

    def _rerank(self, inc: Incident, ts: float) -> list[PageAction]:
        ranking = rank(self._with_measured_traffic(inc, ts), self.changes_known_at(ts), self._health,
                       self.topology, policy=self.ranking_policy, weights=self.weights())
        return self.tracker.set_ranking(inc, ranking, ts)

    def _with_measured_traffic(self, inc: Incident, ts: float) -> Incident:
        """The incident as ranking sees it: its traffic anomalies plus request-rate rises measured
        across its onset at services whose detector has not (or not yet) reported one."""
        seen = {t.service for t in inc.traffic if t.after > t.before}
        tol = self.ranking_policy.tolerance
        measured = [a for a in self._traffic.shifts(inc.estimated_onset, tol, ts) if a.service not in seen]
        return replace(inc, traffic=inc.traffic + measured) if measured else inc

    def changes_known_at(self, ts: float) -> list[Change]:
        """Changes recorded so far (their own ts may be later than ``ts`` for late webhooks)."""
        return list(self._changes)

    @property
    def incidents(self) -> dict[str, Incident]:
        return self.tracker.incidents

    def change(self, change_id: str) -> Change | None:
        return next((c for c in self._changes if c.id == change_id), None)

    # -- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "now": self.now,
            "detectors": {k: {"signal": self._signals[k], "state": d.state_dict()}
                          for k, d in self._detectors.items()},
            "health": self.health_tracker.state_dict(),
        }

    @property
    def series_count(self) -> int:
        return len(self._detectors)

    def series_keys(self) -> list[str]:
        """The series that have a detector here."""
        return list(self._detectors)

    def series_state(self, key: str) -> tuple[str, dict[str, Any]]:
        """``(signal, detector state)`` of one series, for a per-series checkpoint."""
        return self._signals[key], self._detectors[key].state_dict()

    def load_series(self, key: str, signal: str, state: dict[str, Any]) -> None:
        """Resume one series' detector from its checkpoint (a shard taken over stays warm)."""
        det = self.detector_factory(signal)
        det.load_state(state)
        self._detectors[key] = det
        self._signals[key] = signal

    def drop_series(self, key: str) -> None:
        """Forget a series (its shard moved to another replica)."""
        self._detectors.pop(key, None)
        self._signals.pop(key, None)

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore detectors and health from a checkpoint; incidents come back from the store."""
        if state.get("version") != 1:
            raise ValueError(f"engine checkpoint version {state.get('version')!r} is not supported")
        self.now = float(state["now"])
        self._detectors, self._signals = {}, {}
        for key, entry in state["detectors"].items():
            det = self.detector_factory(entry["signal"])
            det.load_state(entry["state"])
            self._detectors[key] = det
            self._signals[key] = entry["signal"]
        self.health_tracker.load_state(state["health"])


