"""The incident as every renderer reads it: a typed, immutable view of the incident document.

The daemon builds it once from the core's :class:`~correlators.incidents.Incident` (with what it knows
around it: lineage and the responses made) and stores, serves and pages its :meth:`IncidentView.to_json`.
Renderers that receive the JSON form (the CLI over HTTP, a notifier from its outbox, the workspace from
the store) read it back with :meth:`IncidentView.from_json` once, then read typed fields, never ``.get()``.

The JSON form is the one stored in SQLite/PostgreSQL and served by the HTTP API: :meth:`to_json` gives it
byte for byte, and :meth:`from_json` reads every document stored so far (keys added later are optional).
Fields the workspace adds to a document (a candidate's hypothesis state, a refuted dead end's time) are
kept when present and written back only when they were there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .confirm import ConfirmResult
from .incidents import Incident
from .signals import SignalRole, role_of
from .types import JSON, Action, Anomaly, Candidate, Cause, CauseType, Change, ChangeKind, DeadEnd, IncidentState

__all__ = [
    "CandidateView",
    "DeadEndView",
    "HypothesisMark",
    "IncidentView",
    "RecommendationView",
    "anomaly_from_json",
    "cause_from_json",
    "change_from_json",
]


def cause_from_json(data: Mapping[str, Any] | None) -> Cause:
    """A cause in its JSON form, leniently: an unknown or missing part reads as no cause or an empty ref.

    >>> cause_from_json({"type": "change", "id": "chg-1"}).key, cause_from_json({"type": "change"}).key
    ('change:chg-1', 'change:')
    >>> cause_from_json(None).key, cause_from_json({"type": "dependency", "target": "db"}).key
    ('none:', 'dependency:db')
    """
    data = data or {}
    try:
        kind = CauseType(data.get("type", "none"))
    except ValueError:
        return Cause(CauseType.NONE)
    if kind is CauseType.NONE:
        return Cause(kind)
    ref = data.get("id") or data.get("target") or data.get("service") or ""
    return Cause(kind, str(ref))


def anomaly_from_json(a: Mapping[str, Any]) -> Anomaly:
    """An anomaly from its JSON form (:meth:`~correlators.types.Anomaly.to_json`)."""
    onset = float(a.get("onset", 0.0))
    return Anomaly(str(a.get("service") or ""), str(a.get("signal") or ""), onset, float(a.get("detected_at", onset)),
                   str(a.get("direction", "up")), float(a.get("before", 0.0)), float(a.get("after", 0.0)),
                   float(a.get("confidence", 0.0)), _opt_float(a.get("recovered_at")), str(a.get("series") or ""),
                   _opt_float(a.get("rate")))


def change_from_json(c: Mapping[str, Any]) -> Change:
    """A change from its JSON form (:meth:`~correlators.types.Change.to_json`)."""
    try:
        kind = ChangeKind(c.get("kind", "deploy"))
    except ValueError:
        kind = ChangeKind.DEPLOY
    return Change(str(c["id"]), float(c.get("ts", 0.0)), kind, str(c.get("service", "")),
                  str(c.get("namespace", "")), str(c.get("summary", "")), str(c.get("actor", "")),
                  dict(c.get("attributes") or {}), str(c.get("status", "")), _opt_float(c.get("completed_at")))


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


@dataclass(frozen=True, slots=True)
class HypothesisMark:
    """What the responders said of a candidate (the workspace adds it; stored documents have none)."""

    state: str | None = None
    note: str = ""
    since: float | None = None


@dataclass(frozen=True, slots=True)
class CandidateView:
    """A ranked candidate: what it blames, its probability, the hypothesis and the test that confirms it."""

    rank: int | None
    cause: Cause
    score: float
    title: str = ""
    hypothesis: str = ""
    test: str = ""
    evidence: tuple[str, ...] = ()
    features: Mapping[str, float] | None = field(default_factory=dict)
    mark: HypothesisMark | None = None

    @property
    def name(self) -> str:
        """What a reader calls it: its title, else its cause's key."""
        return self.title or self.cause.key

    @property
    def state(self) -> str | None:
        """The hypothesis state a responder set (``investigating``, ``confirmed``), if any."""
        return self.mark.state if self.mark else None

    @property
    def note(self) -> str:
        return self.mark.note if self.mark else ""

    @classmethod
    def of(cls, c: Candidate) -> CandidateView:
        return cls(c.rank, c.cause, c.score, c.title, c.hypothesis, c.test, tuple(c.evidence), dict(c.features))

    @classmethod
    def from_json(cls, c: Mapping[str, Any]) -> CandidateView:
        mark = (HypothesisMark(c.get("hypothesis_state"), str(c.get("hypothesis_note") or ""),
                               _opt_float(c.get("hypothesis_since")))
                if "hypothesis_state" in c else None)
        rank = c.get("rank")
        feats = c.get("features")
        return cls(None if rank is None else int(rank), cause_from_json(c.get("cause")), float(c.get("score", 0.0)),
                   str(c.get("title") or ""), str(c.get("hypothesis") or ""), str(c.get("test") or ""),
                   tuple(str(e) for e in c.get("evidence") or ()),
                   None if feats is None else {str(k): float(v) for k, v in feats.items()}, mark)

    def to_json(self) -> JSON:
        out: JSON = {"rank": self.rank, "cause": self.cause.to_json(), "score": round(self.score, 4),
                     "title": self.title, "hypothesis": self.hypothesis, "test": self.test,
                     "evidence": list(self.evidence)}
        if self.features is not None:
            out["features"] = {k: round(v, 4) for k, v in sorted(self.features.items())}
        if self.mark is not None:
            out.update(hypothesis_state=self.mark.state, hypothesis_note=self.mark.note,
                       hypothesis_since=self.mark.since)
        return out


@dataclass(frozen=True, slots=True)
class DeadEndView:
    """A cause ruled out and why (by the ranking, or refuted by a responder at ``refuted_at``)."""

    cause: Cause
    reason: str
    title: str = ""
    refuted_at: float | None = None
    mark: HypothesisMark | None = None

    @property
    def name(self) -> str:
        return self.title or self.cause.key

    @classmethod
    def of(cls, d: DeadEnd) -> DeadEndView:
        return cls(d.cause, d.reason, d.title)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DeadEndView:
        mark = (HypothesisMark(d.get("hypothesis_state"), str(d.get("hypothesis_note") or ""))
                if "hypothesis_note" in d else None)
        return cls(cause_from_json(d.get("cause")), str(d.get("reason") or ""), str(d.get("title") or ""),
                   _opt_float(d.get("refuted_at")), mark)

    def to_json(self) -> JSON:
        out: JSON = {"cause": self.cause.to_json(), "title": self.title, "reason": self.reason}
        if self.refuted_at is not None:
            out["refuted_at"] = self.refuted_at
        if self.mark is not None:
            if self.refuted_at is None:
                out["hypothesis_state"] = self.mark.state
            out["hypothesis_note"] = self.mark.note
        return out


@dataclass(frozen=True, slots=True)
class RecommendationView:
    """What to do first: an action, the command (a shell command or prose) and why."""

    action: str
    command: str = ""
    why: str = ""

    @classmethod
    def from_json(cls, r: Mapping[str, Any]) -> RecommendationView:
        return cls(str(r.get("action") or ""), str(r.get("command") or ""), str(r.get("why") or ""))

    def to_json(self) -> JSON:
        return {"action": self.action, "command": self.command, "why": self.why}

    @property
    def is_watch(self) -> bool:
        """The response has been made: watch for recovery, nothing to run."""
        return self.action == Action.WATCH.value


@dataclass(frozen=True, slots=True)
class IncidentView:
    """One incident as stored, served and rendered: its symptoms, evidence, ranked candidates, dead ends,
    recommendation, page state (paged, resolved, re-opened, merged) and lineage."""

    id: str
    state: str
    onset: float
    """The estimated onset (the anomalies' consensus)."""
    first_onset: float
    """The earliest anomaly's onset estimate."""
    opened_at: float
    paged_at: float | None = None
    resolved_at: float | None = None
    services: tuple[str, ...] = ()
    """Affected services, then those with evidence only."""
    affected: tuple[str, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    traffic: tuple[Anomaly, ...] = ()
    evidence: tuple[Anomaly, ...] = ()
    candidates: tuple[CandidateView, ...] = ()
    dead_ends: tuple[DeadEndView, ...] = ()
    recommendation: RecommendationView | None = None
    low_confidence: bool = False
    reopened: int = 0
    merged_into: str | None = None
    follows: str | None = None
    follows_by: float | None = None
    """Seconds between the incident it follows resolving and this one's onset, where known."""
    merged_from: tuple[str, ...] = ()
    responses: tuple[Change, ...] | None = None
    """Changes made in response to the incident (None: not looked up, as in the core's own document)."""
    tests: tuple[ConfirmResult, ...] = ()
    """The confirm tests run on the candidates (correlators.confirm), in the order they were run."""
    ranked_without_tests: tuple[Cause, ...] = ()
    """The candidates' causes in the order before the tests re-ranked them (kept only when a test ran)."""
    roles: Mapping[str, SignalRole] | None = field(default=None, compare=False)
    """Configured signal roles (the name implies the rest); not part of the JSON form."""

    # -- building ------------------------------------------------------------------------
    @classmethod
    def of(cls, inc: Incident, *, follows_by: float | None = None, merged_from: Iterable[str] = (),
           responses: Sequence[Change] | None = None, roles: Mapping[str, SignalRole] | None = None) -> IncidentView:
        """The view of a core :class:`~correlators.incidents.Incident`, with what the daemon knows around it."""
        ranking = inc.ranking
        return cls(
            id=inc.id, state=inc.state.value, onset=inc.estimated_onset, first_onset=inc.onset,
            opened_at=inc.opened_at, paged_at=inc.paged_at, resolved_at=inc.resolved_at,
            services=tuple(inc.involved), affected=tuple(inc.services),
            anomalies=tuple(inc.anomalies), traffic=tuple(inc.traffic), evidence=tuple(inc.evidence),
            candidates=tuple(CandidateView.of(c) for c in ranking.candidates) if ranking else (),
            dead_ends=tuple(DeadEndView.of(d) for d in ranking.dead_ends) if ranking else (),
            recommendation=(RecommendationView(ranking.recommendation.action.value, ranking.recommendation.command,
                                               ranking.recommendation.why) if ranking else None),
            low_confidence=ranking.low_confidence if ranking else False,
            tests=tuple(ranking.tests) if ranking else (),
            ranked_without_tests=tuple(ranking.untested) if ranking and ranking.tests else (),
            reopened=inc.reopened, merged_into=inc.merged_into, follows=inc.follows, follows_by=follows_by,
            merged_from=tuple(merged_from), responses=None if responses is None else tuple(responses),
            roles=roles,
        )

    @classmethod
    def coerce(cls, doc: IncidentView | Mapping[str, Any]) -> IncidentView:
        """The view itself, or the view of a document in its JSON form."""
        return doc if isinstance(doc, IncidentView) else cls.from_json(doc)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, roles: Mapping[str, SignalRole] | None = None) -> IncidentView:
        """Read a stored or served document (any shape stored so far: later keys are optional).

        >>> v = IncidentView.from_json({"id": "inc-1", "state": "open", "onset": 60.0, "opened_at": 90.0,
        ...     "anomalies": [{"service": "a", "signal": "error_ratio", "onset": 60.0, "before": 0.01,
        ...                    "after": 0.2}]})
        >>> v.first_onset, v.anomalies[0].after, v.candidates, v.responses is None
        (60.0, 0.2, (), True)
        """
        onset = float(doc.get("onset", 0.0))
        rec = doc.get("recommendation")
        responses = doc.get("responses")
        return cls(
            id=str(doc.get("id", "?")), state=str(doc.get("state", "open")), onset=onset,
            first_onset=float(doc.get("first_onset", onset)), opened_at=float(doc.get("opened_at", onset)),
            paged_at=_opt_float(doc.get("paged_at")), resolved_at=_opt_float(doc.get("resolved_at")),
            services=tuple(str(s) for s in doc.get("services") or ()),
            affected=tuple(str(s) for s in doc.get("affected") or ()),
            anomalies=tuple(anomaly_from_json(a) for a in doc.get("anomalies") or ()),
            traffic=tuple(anomaly_from_json(a) for a in doc.get("traffic") or ()),
            evidence=tuple(anomaly_from_json(a) for a in doc.get("evidence") or ()),
            candidates=tuple(CandidateView.from_json(c) for c in doc.get("candidates") or ()),
            dead_ends=tuple(DeadEndView.from_json(d) for d in doc.get("dead_ends") or ()),
            recommendation=RecommendationView.from_json(rec) if rec else None,
            low_confidence=bool(doc.get("low_confidence", False)),
            tests=tuple(ConfirmResult.from_json(t) for t in doc.get("tests") or ()),
            ranked_without_tests=tuple(cause_from_json(c) for c in doc.get("ranked_without_tests") or ()),
            reopened=int(doc.get("reopened") or 0),
            merged_into=doc.get("merged_into"), follows=doc.get("follows"),
            follows_by=_opt_float(doc.get("follows_by")),
            merged_from=tuple(str(m) for m in doc.get("merged_from") or ()),
            responses=None if responses is None else tuple(change_from_json(c) for c in responses),
            roles=roles,
        )

    def to_json(self) -> JSON:
        """The stored and served document (key for key what the daemon has always written)."""
        doc: JSON = {
            "id": self.id, "state": self.state, "onset": self.onset, "first_onset": self.first_onset,
            "opened_at": self.opened_at, "paged_at": self.paged_at, "resolved_at": self.resolved_at,
            "services": list(self.services), "affected": list(self.affected),
            "anomalies": [a.to_json() for a in self.anomalies],
            "traffic": [a.to_json() for a in self.traffic],
            "evidence": [a.to_json() for a in self.evidence],
            "candidates": [c.to_json() for c in self.candidates],
            "dead_ends": [d.to_json() for d in self.dead_ends],
            "recommendation": self.recommendation.to_json() if self.recommendation else None,
            "low_confidence": self.low_confidence,
            **({"tests": [t.to_json() for t in self.tests],
                "ranked_without_tests": [c.to_json() for c in self.ranked_without_tests]} if self.tests else {}),
            "reopened": self.reopened, "merged_into": self.merged_into, "follows": self.follows,
        }
        if self.follows_by is not None:
            doc["follows_by"] = self.follows_by
        if self.merged_from:
            doc["merged_from"] = list(self.merged_from)
        if self.responses is not None:
            doc["responses"] = [c.to_json() for c in self.responses]
        return doc

    # -- reading -------------------------------------------------------------------------
    def role(self, signal: str) -> SignalRole:
        """A signal's role: configured, else implied by its name (:func:`~correlators.signals.role_of`)."""
        return role_of(signal, self.roles)

    @property
    def first_symptom(self) -> Anomaly | None:
        """The anomaly that shows first (the earliest onset, then by service): what the page leads with."""
        return min(self.anomalies, key=lambda a: (a.onset, a.service), default=None)

    @property
    def began(self) -> float:
        """When the outage began, for durations: the earlier of the estimated onset and the first anomaly's
        (a re-ranked estimate may move later than the page; no duration comes out negative)."""
        return min(self.onset, self.first_onset)

    def tests_of(self, cause: Cause) -> tuple[ConfirmResult, ...]:
        """The confirm tests run on one candidate's cause (``confirmed: new pods (revision 15) ...``)."""
        return tuple(t for t in self.tests if t.cause == cause)

    @property
    def top(self) -> CandidateView | None:
        return self.candidates[0] if self.candidates else None

    @property
    def is_open(self) -> bool:
        return self.state == IncidentState.OPEN.value
