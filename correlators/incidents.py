"""Group anomalies into incidents and decide when to page, update and resolve.

Pure and driven by event time: the same code runs live, in replay and in tests.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .signals import SignalRole, is_bad_direction, role_of
from .types import Anomaly, Cause, IncidentState, Ranking, Topology

__all__ = ["Incident", "IncidentTracker", "PageKind", "PageAction", "GroupingPolicy"]


class PageKind(str, enum.Enum):
    TRIGGER = "trigger"
    UPDATE = "update"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class PageAction:
    """What the notifier must do, keyed by the incident id (dedup key for receivers)."""

    kind: PageKind
    incident_id: str
    ts: float
    reason: str


@dataclass
class Incident:
    id: str
    onset: float
    opened_at: float
    anomalies: list[Anomaly] = field(default_factory=list)
    traffic: list[Anomaly] = field(default_factory=list)
    state: IncidentState = IncidentState.OPEN
    paged_at: float | None = None
    resolved_at: float | None = None
    ranking: Ranking | None = None
    paged_top: Cause | None = None
    reopened: int = 0

    @property
    def services(self) -> list[str]:
        """Anomalous services, the earliest onset first."""
        seen: dict[str, float] = {}
        for a in self.anomalies:
            seen[a.service] = min(seen.get(a.service, a.onset), a.onset)
        return sorted(seen, key=lambda s: (seen[s], s))

    @property
    def active(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.recovered_at is None]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Incident:
        """Restore an incident from its stored document (its ranking is recomputed on the next event)."""

        def anomaly(a: dict[str, Any]) -> Anomaly:
            return Anomaly(a["service"], a["signal"], float(a["onset"]), float(a["detected_at"]), a["direction"],
                           float(a["before"]), float(a["after"]), float(a["confidence"]), a.get("recovered_at"),
                           a.get("series", ""))

        cands = doc.get("candidates") or []
        return cls(
            id=doc["id"], onset=float(doc["onset"]), opened_at=float(doc["opened_at"]),
            anomalies=[anomaly(a) for a in doc.get("anomalies", [])],
            traffic=[anomaly(a) for a in doc.get("traffic", [])],
            state=IncidentState(doc.get("state", "open")), paged_at=doc.get("paged_at"),
            resolved_at=doc.get("resolved_at"),
            paged_top=Cause.from_json(cands[0]["cause"]) if cands and doc.get("paged_at") is not None else None,
            reopened=int(doc.get("reopened", 0)),
        )

    def to_json(self) -> dict[str, object]:
        ranking = self.ranking
        return {
            "id": self.id,
            "state": self.state.value,
            "onset": self.onset,
            "opened_at": self.opened_at,
            "paged_at": self.paged_at,
            "resolved_at": self.resolved_at,
            "services": self.services,
            "anomalies": [a.to_json() for a in self.anomalies],
            "traffic": [a.to_json() for a in self.traffic],
            "candidates": [c.to_json() for c in ranking.candidates] if ranking else [],
            "dead_ends": [d.to_json() for d in ranking.dead_ends] if ranking else [],
            "recommendation": ranking.recommendation.to_json() if ranking else None,
            "low_confidence": ranking.low_confidence if ranking else False,
            "reopened": self.reopened,
        }


@dataclass(frozen=True)
class GroupingPolicy:
    """How anomalies join incidents and when those page.

    Parameters
    ----------
    window
        Anomalies whose onsets are within this many seconds of an open incident's
        (and connected to it in the topology) join it.
    reopen_within
        A relapse this soon after resolution re-opens the same incident (flapping): no new page.
    traffic_memory
        Traffic shifts are kept this long to be attached to an incident that opens later.
    min_confidence
        An incident pages once it holds an anomaly at least this confident, or two anomalies.
    """

    window: float = 900.0
    reopen_within: float = 600.0
    traffic_memory: float = 1800.0
    min_confidence: float = 0.5


def _incident_id(anomaly: Anomaly) -> str:
    digest = hashlib.sha1(f"{anomaly.key}@{anomaly.onset:.0f}".encode()).hexdigest()
    return f"inc-{digest[:10]}"


class IncidentTracker:
    """Holds open and recent incidents; every method returns the page actions it decided."""

    def __init__(self, topology: Topology, policy: GroupingPolicy | None = None) -> None:
        self.topology = topology
        self.policy = policy or GroupingPolicy()
        self._reset()

    def _reset(self) -> None:
        self.incidents: dict[str, Incident] = {}
        self._traffic: list[Anomaly] = []

    # -- grouping ---------------------------------------------------------------
    def _connected(self, service: str, incident: Incident) -> bool:
        topo = self.topology
        if service not in topo.services:
            return True  # unknown topology: group by time alone
        mine = topo.blast_radius_of_service(service) | topo.downstream_of(service)
        deps = set(topo.services[service].dependencies)
        for other in incident.services + [t.service for t in incident.traffic]:
            if other == service or other in mine or other not in topo.services:
                return True
            if deps & set(topo.services[other].dependencies):
                return True
        return False

    def _find(self, anomaly: Anomaly) -> Incident | None:
        best: Incident | None = None
        for inc in self.incidents.values():
            if inc.state is IncidentState.OPEN:
                near = abs(anomaly.onset - inc.onset) <= self.policy.window
            else:
                assert inc.resolved_at is not None
                near = anomaly.onset - inc.resolved_at <= self.policy.reopen_within and anomaly.onset >= inc.onset
            if near and self._connected(anomaly.service, inc):
                if best is None or inc.opened_at > best.opened_at:
                    best = inc
        return best

    def add_anomaly(self, anomaly: Anomaly) -> tuple[Incident | None, list[PageAction]]:
        """Take a new anomaly; return the incident it joined or opened (None if it only was remembered)."""
        if role_of(anomaly.signal) is SignalRole.TRAFFIC or not is_bad_direction(anomaly.signal, anomaly.direction):
            self._traffic = [t for t in self._traffic if anomaly.onset - t.onset <= self.policy.traffic_memory]
            self._traffic.append(anomaly)
            inc = self._find(anomaly)
            if inc is not None and inc.state is IncidentState.OPEN:
                inc.traffic.append(anomaly)
                return inc, []
            return None, []
        inc = self._find(anomaly)
        actions: list[PageAction] = []
        if inc is None:
            inc = Incident(_incident_id(anomaly), anomaly.onset, anomaly.detected_at)
            inc.traffic = [t for t in self._traffic if abs(t.onset - anomaly.onset) <= self.policy.window]
            self.incidents[inc.id] = inc
        elif inc.state is IncidentState.RESOLVED:
            inc.state = IncidentState.OPEN
            inc.resolved_at = None
            inc.reopened += 1
            if inc.paged_at is not None:
                # Flapping: the same incident and the same page, updated in place (the outbox holds
                # resolves back for a while, so a quick relapse never reaches the phone as a new page).
                actions.append(PageAction(PageKind.UPDATE, inc.id, anomaly.detected_at, "relapsed: re-opened"))
        inc.anomalies.append(anomaly)
        inc.onset = self.onset_of(inc.anomalies)
        return inc, actions

    def onset_of(self, anomalies: list[Anomaly]) -> float:
        """The incident's onset: the earliest onset among its confident anomalies.

        A weak anomaly's onset estimate is noisy (a small shift is found late and its
        start guessed from few samples); it only counts when nothing confident exists.
        """
        confident = [a.onset for a in anomalies if a.confidence >= self.policy.min_confidence]
        return min(confident or [a.onset for a in anomalies])

    def recover(self, series: str, ts: float) -> list[PageAction]:
        """A series came back; resolve incidents whose anomalies all recovered."""
        actions: list[PageAction] = []
        for inc in self.incidents.values():
            if inc.state is not IncidentState.OPEN:
                continue
            changed = False
            for i, a in enumerate(inc.anomalies):
                if a.key == series and a.recovered_at is None:
                    inc.anomalies[i] = replace(a, recovered_at=ts)
                    changed = True
            if changed and not inc.active:
                inc.state = IncidentState.RESOLVED
                inc.resolved_at = ts
                if inc.paged_at is not None:
                    actions.append(PageAction(PageKind.RESOLVE, inc.id, ts, "all anomalies recovered"))
        return actions

    def restore(self, incident: Incident) -> None:
        self.incidents[incident.id] = incident

    def open_incidents(self) -> Iterable[Incident]:
        return [i for i in self.incidents.values() if i.state is IncidentState.OPEN]

    # -- paging -----------------------------------------------------------------
    def should_page(self, inc: Incident) -> bool:
        if inc.paged_at is not None or inc.state is not IncidentState.OPEN:
            return False
        confident = any(a.confidence >= self.policy.min_confidence for a in inc.anomalies)
        return confident or len(inc.anomalies) >= 2

    def set_ranking(self, inc: Incident, ranking: Ranking, ts: float) -> list[PageAction]:
        """Attach a new ranking; update the page when the top cause changed since it was paged."""
        inc.ranking = ranking
        top = ranking.top.cause if ranking.top else None
        if inc.paged_at is not None and inc.state is IncidentState.OPEN and top != inc.paged_top:
            inc.paged_top = top
            return [PageAction(PageKind.UPDATE, inc.id, ts, "top candidate changed")]
        return []

    def page(self, inc: Incident, ts: float) -> list[PageAction]:
        """Page for the first time, if the incident deserves it (call once its timestamp is complete)."""
        if not self.should_page(inc):
            return []
        inc.paged_at = ts
        inc.paged_top = inc.ranking.top.cause if inc.ranking and inc.ranking.top else None
        return [PageAction(PageKind.TRIGGER, inc.id, ts, "new incident")]
