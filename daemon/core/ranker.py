"""Ranking inside the core: the candidate changes of an episode, the incident as ranking sees it
(measured traffic added, immaterial symptoms set aside as evidence), re-ranking, and the same-cause
test that tells a relapse from a new outage."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Protocol

from correlators.incidents import Incident, IncidentTracker, PageAction
from correlators.ranking import RankingPolicy, Weights, rank
from correlators.signals import SignalRole
from correlators.traffic import TrafficWindow
from correlators.types import Anomaly, Change, ChangeKind, Ranking, Topology

from .changes import ChangeLog

__all__ = ["Confirmer", "Ranker"]


class Confirmer(Protocol):
    """The engine's confirm hook (:class:`daemon.confirm.runner.ConfirmRunner`): re-ranks an incident
    with its top candidates' confirm tests, says which incidents wait for a test's data, and forgets
    those the engine forgot."""

    def __call__(self, inc: Incident, ranking: Ranking, ts: float, changes: Sequence[Change]) -> Ranking: ...
    def waiting(self, inc: Incident, ts: float) -> bool: ...
    def keep(self, incident_ids: Collection[str]) -> None: ...


class Ranker:
    """Ranks the engine's incidents against what it knows (changes, health, traffic). The incident
    tracker and the traffic window are the engine's current ones, passed in (a leader taking over
    starts a new tracker)."""

    def __init__(self, topology: Topology, log: ChangeLog, policy: RankingPolicy,
                 weights: Callable[[], Weights], confirm: Confirmer | None = None) -> None:
        self.topology = topology
        self.log = log
        self.confirm = confirm
        self.policy = policy
        self.weights = weights

    def rerank(self, inc: Incident, ts: float, tracker: IncidentTracker, traffic: TrafficWindow) -> list[PageAction]:
        candidates, responses = self.episode_changes(inc)
        ranking = rank(self.with_measured_traffic(inc, ts, tracker, traffic), candidates, self.log.health,
                       self.topology, policy=self.policy, weights=self.weights(), responses=responses)
        if self.confirm is not None:
            ranking = self.confirm(inc, ranking, ts, candidates)
        return tracker.set_ranking(inc, ranking, ts)

    def same_cause(self, inc: Incident, anomaly: Anomaly, tracker: IncidentTracker, traffic: TrafficWindow) -> bool:
        """Is a relapse of a resolved incident's series the same outage coming back? Only when the cause
        that would lead it now (ranked as an episode of its own: a change rolled back since, a dependency
        recovered, do not count) is the one that led the incident."""
        led = inc.ranking.top.cause if inc.ranking is not None and inc.ranking.top is not None else None
        if led is None:
            return True
        window = tracker.policy.window
        probe = Incident(inc.id, anomaly.onset, anomaly.detected_at, anomalies=[anomaly],
                         traffic=list(tracker.traffic_near(anomaly.onset, window)))
        candidates, _ = self.episode_changes(probe)
        ranking = rank(self.with_measured_traffic(probe, anomaly.detected_at, tracker, traffic), candidates,
                       self.log.health, self.topology, policy=self.policy, weights=self.weights())
        return ranking.top is not None and ranking.top.cause == led

    def episode_changes(self, inc: Incident) -> tuple[list[Change], list[Change]]:
        """The changes that could have caused this episode, and those made in response to it.

        A change made after the incident was paged (a rollback, a mitigation) is a response, never
        a candidate; a change already rolled back before this episode began cannot lead it.
        """
        changes = self.log.changes
        opened = inc.paged_at if inc.paged_at is not None else float("inf")
        before = [c for c in changes if c.ts <= opened]
        responses = [c for c in changes if c.ts > opened]
        undone = {c.id for c in before for r in before
                  if r.kind is ChangeKind.ROLLBACK and r.service == c.service and c.kind is not ChangeKind.ROLLBACK
                  and c.ts < r.ts <= inc.estimated_onset - self.policy.tolerance}
        return [c for c in before if c.id not in undone], responses

    def with_measured_traffic(self, inc: Incident, ts: float, tracker: IncidentTracker,
                              traffic: TrafficWindow) -> Incident:
        """The incident as ranking sees it: its traffic anomalies plus request-rate rises measured
        across its onset at services whose detector has not (or not yet) reported one."""
        seen = {t.service for t in inc.traffic if t.after > t.before}
        tol = self.policy.tolerance
        measured = [a for a in traffic.shifts(inc.estimated_onset, tol, ts) if a.service not in seen]
        inc = replace(inc, traffic=inc.traffic + measured) if measured else inc
        # Where the fault sits is told by what users feel and by strong resource shifts; a symptom
        # too small to matter (a p99 going 8 ms -> 19 ms) is evidence, not a service to explain.
        impact = tracker.policy.impact
        small = [a for a in inc.anomalies if impact.pages(a.signal) and not impact.is_material(a)
                 and impact.role(a.signal) is not SignalRole.TRAFFIC]
        if small and len(small) < len(inc.anomalies):
            kept = [a for a in inc.anomalies if a not in small]
            inc = replace(inc, anomalies=kept, evidence=inc.evidence + small)
        return inc
