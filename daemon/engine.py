"""The core loop: events in timestamp order in, anomalies, incidents and page actions out.

Pure: no I/O, no asyncio, no wall clock. The live daemon, ``replay`` and the
tests all drive this same class; only where events come from differs.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from correlators.health import HealthTracker
from correlators.incidents import GroupingPolicy, Incident, IncidentTracker, PageAction
from correlators.ranking import DEFAULT_WEIGHTS, RankingPolicy, Weights, rank
from correlators.signals import SignalRole, role_of
from correlators.traffic import TrafficWindow
from correlators.types import Anomaly, Change, ChangeKind, HealthEvent, IncidentState, Topology
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

from .events import AlertEvent, CatchUp, ChangeStatus, Event, ProbeResult, Sample, SampleBatch

if TYPE_CHECKING:
    from .confirm.runner import ConfirmRunner

__all__ = ["BankFactory", "DetectorFactory", "Engine", "EngineOutput", "default_bank_factory",
           "default_detector_factory", "object_banks"]

DetectorFactory = Callable[[str], Detector]
BankFactory = Callable[[str], SeriesBank]


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
    ``bank_factory``: a :class:`SampleBatch` (one query's result at one step) advances
    them together, a :class:`Sample` one series; both give the same detections. Without a
    ``bank_factory`` the banks are vectorised when ``detector_factory`` is the default one,
    and one ``detector_factory`` object per series otherwise.

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
        confirm: ConfirmRunner | None = None,
    ) -> None:
        self.confirm = confirm
        """Runs the top candidates' confirm tests after each ranking (:mod:`daemon.confirm`)."""
        self.topology = topology
        self.forget_incidents_after = forget_incidents_after
        self.detector_factory = detector_factory
        if bank_factory is None:
            bank_factory = (default_bank_factory if detector_factory is default_detector_factory
                            else object_banks(detector_factory))
        self.bank_factory = bank_factory
        self.ranking_policy = ranking or RankingPolicy()
        self.weights = weights or (lambda: DEFAULT_WEIGHTS)
        self.tracker = IncidentTracker(topology, grouping)
        self.tracker.same_cause = self._same_cause
        self.health_tracker = health or HealthTracker()
        self.change_retention = change_retention
        self._banks: dict[str, SeriesBank] = {}  # per signal
        self._signals: dict[str, str] = {}       # series key -> the signal whose bank holds it
        self._changes: list[Change] = []  # sorted by ts
        self._change_ids: set[str] = set()
        self._health: list[HealthEvent] = []
        self._traffic = TrafficWindow()
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
        if self.confirm is not None and not self.in_history:
            for inc in self.tracker.open_incidents():
                if inc.ranking is not None and self.confirm.waiting(inc, self.now):
                    out.pages += self._rerank(inc, self.now)  # a confirm test has more data now
                    out.incidents[inc.id] = inc
        if self.forget_incidents_after is not None:
            self.tracker.forget(self.now, self.forget_incidents_after)
            if self.confirm is not None:
                self.confirm.keep(self.tracker.incidents)
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
        return self._bank(self._signals.setdefault(key, s.signal)).update_one(key, s.ts, s.value)

    def _bank(self, signal: str) -> SeriesBank:
        bank = self._banks.get(signal)
        if bank is None:
            bank = self._banks[signal] = self.bank_factory(signal)
        return bank

    def _on_batch(self, b: SampleBatch) -> EngineOutput:
        """Detect on the whole step, then take its detections and traffic in the samples' order,
        as the same samples one at a time would."""
        found = self._detect_batch(b)
        out = EngineOutput()
        traffic = role_of(b.signal) is SignalRole.TRAFFIC
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
        found = self._detect_batch(b)
        if role_of(b.signal) is SignalRole.TRAFFIC:
            self._observe_traffic(b, 0, len(b))
        return found

    def _detect_batch(self, b: SampleBatch) -> list[tuple[int, Detection]]:
        self.now = max(self.now, b.ts)
        sig, signals = b.signal, self._signals
        elsewhere = [i for i, k in enumerate(b.keys) if signals.setdefault(k, sig) != sig]
        if not elsewhere:
            return self._bank(sig).update(b.ts, b.keys, b.values)
        # Series first seen under another signal stay in that signal's bank (as one at a time).
        other = set(elsewhere)
        here = [i for i in range(len(b)) if i not in other]
        found = [(here[j], d) for j, d in self._bank(sig).update(
            b.ts, [b.keys[i] for i in here], [b.values[i] for i in here])]
        for i in elsewhere:
            d = self._bank(signals[b.keys[i]]).update_one(b.keys[i], b.ts, b.values[i])
            if d is not None:
                found.append((i, d))
        found.sort(key=lambda p: p[0])
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
            joined, _ = self.tracker.add_evidence(anomaly)  # evidence never decides a page
            if joined is not None:
                out.incidents[joined.id] = joined
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
        self._rerank_open(out, self.now)
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
        self._rerank_open(out, self.now)
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
        candidates, responses = self.episode_changes(inc)
        ranking = rank(self._with_measured_traffic(inc, ts), candidates, self._health,
                       self.topology, policy=self.ranking_policy, weights=self.weights(), responses=responses)
        if self.confirm is not None:
            ranking = self.confirm(inc, ranking, ts, candidates)
        return self.tracker.set_ranking(inc, ranking, ts)

    def _same_cause(self, inc: Incident, anomaly: Anomaly) -> bool:
        """Is a relapse of a resolved incident's series the same outage coming back? Only when the cause
        that would lead it now (ranked as an episode of its own: a change rolled back since, a dependency
        recovered, do not count) is the one that led the incident."""
        led = inc.ranking.top.cause if inc.ranking is not None and inc.ranking.top is not None else None
        if led is None:
            return True
        window = self.tracker.policy.window
        probe = Incident(inc.id, anomaly.onset, anomaly.detected_at, anomalies=[anomaly],
                         traffic=[t for t in self.tracker.traffic_near(anomaly.onset, window)])
        candidates, _ = self.episode_changes(probe)
        ranking = rank(self._with_measured_traffic(probe, anomaly.detected_at), candidates, self._health,
                       self.topology, policy=self.ranking_policy, weights=self.weights())
        return ranking.top is not None and ranking.top.cause == led

    def episode_changes(self, inc: Incident) -> tuple[list[Change], list[Change]]:
        """The changes that could have caused this episode, and those made in response to it.

        A change made after the incident was paged (a rollback, a mitigation) is a response, never
        a candidate; a change already rolled back before this episode began cannot lead it.
        """
        opened = inc.paged_at if inc.paged_at is not None else float("inf")
        before = [c for c in self._changes if c.ts <= opened]
        responses = [c for c in self._changes if c.ts > opened]
        undone = {c.id for c in before for r in before
                  if r.kind is ChangeKind.ROLLBACK and r.service == c.service and c.kind is not ChangeKind.ROLLBACK
                  and c.ts < r.ts <= inc.estimated_onset - self.ranking_policy.tolerance}
        return [c for c in before if c.id not in undone], responses

    def _with_measured_traffic(self, inc: Incident, ts: float) -> Incident:
        """The incident as ranking sees it: its traffic anomalies plus request-rate rises measured
        across its onset at services whose detector has not (or not yet) reported one."""
        seen = {t.service for t in inc.traffic if t.after > t.before}
        tol = self.ranking_policy.tolerance
        measured = [a for a in self._traffic.shifts(inc.estimated_onset, tol, ts) if a.service not in seen]
        inc = replace(inc, traffic=inc.traffic + measured) if measured else inc
        # Where the fault sits is told by what users feel and by strong resource shifts; a symptom
        # too small to matter (a p99 going 8 ms -> 19 ms) is evidence, not a service to explain.
        impact = self.tracker.policy.impact
        small = [a for a in inc.anomalies if impact.pages(a.signal) and not impact.is_material(a)
                 and impact.role(a.signal) is not SignalRole.TRAFFIC]
        if small and len(small) < len(inc.anomalies):
            kept = [a for a in inc.anomalies if a not in small]
            inc = replace(inc, anomalies=kept, evidence=inc.evidence + small)
        return inc

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
        """A checkpoint: each signal's bank whole (numpy rows as bytes for a vectorised one), and health."""
        return {
            "version": 2,
            "now": self.now,
            "banks": {sig: bank.state_dict() for sig, bank in self._banks.items()},
            "health": self.health_tracker.state_dict(),
        }

    @property
    def series_count(self) -> int:
        return len(self._signals)

    def series_keys(self) -> list[str]:
        """The series that have a detector here."""
        return list(self._signals)

    def series_state(self, key: str) -> tuple[str, dict[str, Any]]:
        """``(signal, detector state)`` of one series, for a per-series checkpoint."""
        sig = self._signals[key]
        return sig, self._banks[sig].state(key)

    def load_series(self, key: str, signal: str, state: dict[str, Any]) -> None:
        """Resume one series' detector from its checkpoint (a shard taken over stays warm)."""
        self._bank(signal).load(key, state)  # raises on a bad state before anything changes
        old = self._signals.get(key)
        if old is not None and old != signal:
            self._banks[old].drop(key)
        self._signals[key] = signal

    def drop_series(self, key: str) -> None:
        """Forget a series (its shard moved to another replica)."""
        sig = self._signals.pop(key, None)
        if sig is not None:
            self._banks[sig].drop(key)

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore detectors and health from a checkpoint; incidents come back from the store.

        Version 2 holds whole banks; version 1 (older releases) one detector state per series.
        """
        version = state.get("version")
        if version not in (1, 2):
            raise ValueError(f"engine checkpoint version {version!r} is not supported")
        banks: dict[str, SeriesBank] = {}
        signals: dict[str, str] = {}
        if version == 2:
            for sig, bank_state in state["banks"].items():
                bank = banks[sig] = self.bank_factory(sig)
                bank.load_state(bank_state)
                signals.update((k, sig) for k in bank.keys())
        else:
            for key, entry in state["detectors"].items():
                sig = entry["signal"]
                if sig not in banks:
                    banks[sig] = self.bank_factory(sig)
                banks[sig].load(key, entry["state"])
                signals[key] = sig
        self.now = float(state["now"])
        self._banks, self._signals = banks, signals
        self.health_tracker.load_state(state["health"])
