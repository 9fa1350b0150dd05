"""Domain types of the core: changes, health, anomalies, incidents and their rankings.

All are immutable value objects timed by event timestamps (Unix seconds).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .confirm.judge import ConfirmResult

__all__ = [
    "JSON",
    "Action",
    "Anomaly",
    "Candidate",
    "Cause",
    "CauseType",
    "Change",
    "ChangeKind",
    "DeadEnd",
    "HealthEvent",
    "IncidentState",
    "Ranking",
    "Recommendation",
    "Scored",
    "ServiceInfo",
    "Topology",
]

JSON = dict[str, Any]


class CauseType(str, enum.Enum):
    CHANGE = "change"
    DEPENDENCY = "dependency"
    TRAFFIC = "traffic"
    NONE = "none"


_REF_KEY = {CauseType.CHANGE: "id", CauseType.DEPENDENCY: "target", CauseType.TRAFFIC: "service"}


@dataclass(frozen=True, slots=True, order=True)
class Cause:
    """What a candidate blames: a change id, a dependency target, a service's traffic, or nothing.

    Serialises to the scenario format's cause forms:

    >>> Cause(CauseType.CHANGE, "chg-1").to_json()
    {'type': 'change', 'id': 'chg-1'}
    >>> Cause.from_json({"type": "dependency", "target": "db"}) == Cause(CauseType.DEPENDENCY, "db")
    True
    """

    type: CauseType
    ref: str = ""

    def to_json(self) -> JSON:
        if self.type is CauseType.NONE:
            return {"type": "none"}
        return {"type": self.type.value, _REF_KEY[self.type]: self.ref}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cause:
        kind = CauseType(data["type"])
        if kind is CauseType.NONE:
            return cls(kind)
        return cls(kind, str(data[_REF_KEY[kind]]))

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.ref}"


class ChangeKind(str, enum.Enum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    CONFIG = "config"
    FEATURE_FLAG = "feature_flag"
    SCALE = "scale"
    INFRA = "infra"


@dataclass(frozen=True, slots=True)
class Change:
    """Something that changed: the schema of ``changes.jsonl`` and ``POST /api/v1/changes``.

    ``status`` and ``completed_at`` are optional: a rollout's outcome (``progressing``,
    ``complete`` or ``failed``) and when it finished or failed, known later than the change
    itself. They appear in the JSON only when set, so older readers see the same documents.

    >>> ch = Change("chg-1", 100.0, ChangeKind.DEPLOY, "checkout", status="complete", completed_at=160.0)
    >>> plain = Change("c", 1.0, ChangeKind.CONFIG, "a")
    >>> ch.to_json()["status"], ch.to_json()["completed_at"], "status" in plain.to_json()
    ('complete', 160.0, False)
    """

    id: str
    ts: float
    kind: ChangeKind
    service: str
    namespace: str = ""
    summary: str = ""
    actor: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status: str = ""
    completed_at: float | None = None

    def to_json(self) -> JSON:
        out: JSON = {
            "id": self.id, "ts": self.ts, "kind": self.kind.value, "service": self.service,
            "namespace": self.namespace, "summary": self.summary, "actor": self.actor,
            "attributes": dict(self.attributes),
        }
        if self.status:
            out["status"] = self.status
        if self.completed_at is not None:
            out["completed_at"] = self.completed_at
        return out


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A dependency's health transition (debounced from probes)."""

    ts: float
    target: str
    healthy: bool
    detail: str = ""

    def to_json(self) -> JSON:
        return {"ts": self.ts, "target": self.target, "healthy": self.healthy, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A detected shift of one series of one service."""

    service: str
    signal: str
    onset: float
    detected_at: float
    direction: str
    before: float
    after: float
    confidence: float
    recovered_at: float | None = None
    series: str = ""
    rate: float | None = None
    """Requests a second at the service before the onset, where measured: the traffic behind a ratio."""

    @property
    def key(self) -> str:
        return self.series or f"{self.service}/{self.signal}"

    def to_json(self) -> JSON:
        doc: JSON = {
            "service": self.service, "signal": self.signal, "onset": self.onset,
            "detected_at": self.detected_at, "direction": self.direction,
            "before": self.before, "after": self.after, "confidence": round(self.confidence, 4),
            "recovered_at": self.recovered_at, "series": self.key,
        }
        if self.rate is not None:
            doc["rate"] = self.rate
        return doc


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    namespace: str = ""
    calls: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topology:
    """Services, who calls whom, and which external dependencies each uses.

    >>> t = Topology.from_services([ServiceInfo("web", calls=("api",)), ServiceInfo("api", dependencies=("db",))])
    >>> sorted(t.blast_radius_of_service("api"))
    ['api', 'web']
    >>> sorted(t.blast_radius_of_dependency("db"))
    ['api', 'web']
    """

    services: Mapping[str, ServiceInfo]

    @classmethod
    def from_services(cls, services: Sequence[ServiceInfo]) -> Topology:
        return cls({s.name: s for s in services})

    def namespace(self, service: str) -> str:
        info = self.services.get(service)
        return info.namespace if info else ""

    def callers(self, service: str) -> set[str]:
        return {s.name for s in self.services.values() if service in s.calls}

    def callees(self, service: str) -> set[str]:
        info = self.services.get(service)
        return set(info.calls) if info else set()

    def _closure(self, start: set[str], step: Any) -> set[str]:
        seen = set(start)
        todo = list(start)
        while todo:
            for nxt in step(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def blast_radius_of_service(self, service: str) -> set[str]:
        """The service and every service that (transitively) calls it: where its faults surface."""
        return self._closure({service}, self.callers)

    def downstream_of(self, service: str) -> set[str]:
        """The service and everything it (transitively) calls: where its traffic flows."""
        return self._closure({service}, self.callees)

    def users_of(self, dependency: str) -> set[str]:
        return {s.name for s in self.services.values() if dependency in s.dependencies}

    def blast_radius_of_dependency(self, dependency: str) -> set[str]:
        return self._closure(self.users_of(dependency), self.callers)

    def distance(self, a: str, b: str) -> int | None:
        """Hops from caller ``a`` down to callee ``b`` (0 if equal), None if ``b`` is not reachable."""
        if a == b:
            return 0
        frontier, seen, hops = {a}, {a}, 0
        while frontier:
            hops += 1
            nxt = set().union(*(self.callees(s) for s in frontier)) - seen
            if b in nxt:
                return hops
            seen |= nxt
            frontier = nxt
        return None


@dataclass(frozen=True, slots=True)
class Candidate:
    rank: int
    cause: Cause
    score: float
    hypothesis: str
    test: str
    evidence: tuple[str, ...]
    title: str = ""
    features: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> JSON:
        return {
            "rank": self.rank, "cause": self.cause.to_json(), "score": round(self.score, 4),
            "title": self.title, "hypothesis": self.hypothesis, "test": self.test,
            "evidence": list(self.evidence),
            "features": {k: round(v, 4) for k, v in sorted(self.features.items())},
        }


@dataclass(frozen=True, slots=True)
class DeadEnd:
    cause: Cause
    reason: str
    title: str = ""

    def to_json(self) -> JSON:
        return {"cause": self.cause.to_json(), "title": self.title, "reason": self.reason}


class Action(str, enum.Enum):
    ROLLBACK = "rollback"
    MITIGATE = "mitigate"
    FAILOVER = "failover"
    SCALE_OUT = "scale_out"
    INVESTIGATE = "investigate"
    WATCH = "watch"
    """The recommended response has been made: watch for recovery, nothing to run."""


@dataclass(frozen=True, slots=True)
class Recommendation:
    action: Action
    command: str
    why: str

    def to_json(self) -> JSON:
        return {"action": self.action.value, "command": self.command, "why": self.why}


@dataclass(frozen=True, slots=True)
class Ranking:
    candidates: tuple[Candidate, ...]
    dead_ends: tuple[DeadEnd, ...]
    recommendation: Recommendation
    low_confidence: bool = False
    tests: tuple[ConfirmResult, ...] = ()
    """The confirm tests run on the candidates (:mod:`correlators.confirm`), latest per cause."""
    untested: tuple[Cause, ...] = ()
    """The candidates' causes in the order the evidence alone ranked them (set with ``tests``)."""

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class IncidentState(str, enum.Enum):
    OPEN = "open"
    RESOLVED = "resolved"
    MERGED = "merged"
    """Joined into another incident (``merged_into``): one outage across services, one page."""


@dataclass
class Scored:
    """A candidate cause while it is ranked: its evidence features, the sentences behind them, the
    change it stands for (if any), and its score before normalisation (``logit``)."""

    cause: Cause
    features: dict[str, float]
    evidence: list[str] = field(default_factory=list)
    change: Change | None = None
    logit: float = 0.0
