"""Rank candidate root causes of an incident: changes, dependency health, traffic, or none of these.

Pure and deterministic. Each candidate gets features, each one a piece of evidence:

- timing: ``log_timing`` is the log-likelihood of the lag between the cause and the onset of the
  anomalies it would explain (most changes bite within minutes, some creep for an hour; a cause
  dated after the onset beyond the estimate's tolerance is a dead end, within it ``after_onset``);
- scope through the topology: ``same_service`` (the changed service is itself anomalous),
  ``root`` (every anomalous service reaches it: the others are propagation), ``callee`` (not
  anomalous itself but called by every anomalous service: a callee's fault surfacing at its
  callers), ``shared`` (a dependency used, directly or through callees, by all of them);
- localisation: ``evidence`` (twice the confidence of the strongest deviation at the changed
  service near the onset, when it is not itself affected: a callee whose p99 left its own range, or
  fell as it failed fast, while only its caller's errors crossed a paging bar);
- coverage and the differential: ``coverage`` is the share of anomalous services the cause can
  reach, ``unexplained`` the share it cannot (anomalous too, so something else is going on), and
  ``quiet_users`` the share of the services it hits directly that stay healthy;
- signal shape: ``load_shape`` (latency up while errors stay flat), ``surge`` (log2 of the request
  rate ratio) and ``traffic_breadth`` (share of anomalous services whose request rate rose too) for
  traffic; ``load_pattern`` counts against the other candidates when the incident looks like load;
- priors: one indicator per kind of cause (``kind_deploy`` ... ``kind_traffic``).

The logit is linear in the features (weights are learnable: see :mod:`correlators.learning`),
and a softmax over every candidate plus "none of these" (logit 0) turns logits into scores that
behave like probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from .display import probability
from .hypotheses import describe_candidate, describe_dead_end
from .incidents import Incident, consensus_onset
from .recommend import recommend
from .signals import SignalRole, role_of
from .types import (
    Action,
    Anomaly,
    Candidate,
    Cause,
    CauseType,
    Change,
    ChangeKind,
    DeadEnd,
    HealthEvent,
    Ranking,
    Recommendation,
    Scored,
    Topology,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "FEATURES",
    "RankingPolicy",
    "Scored",
    "Weights",
    "features_of",
    "kind_feature",
    "logit",
    "rank",
]

Weights = Mapping[str, float]

DEFAULT_WEIGHTS: Weights = {
    "bias": -3.0,
    "log_timing": 1.0,
    "after_onset": -1.0,
    "coverage": 3.0,
    "unexplained": -3.0,
    "same_service": 1.5,
    "evidence": 1.0,
    "root": 1.5,
    "callee": 2.0,
    "shared": 1.0,
    "quiet_users": -1.0,
    "load_shape": 1.5,
    "surge": 0.75,
    "traffic_breadth": 1.5,
    "load_pattern": -2.5,
    "kind_deploy": 0.6,
    "kind_config": 0.5,
    "kind_feature_flag": 0.5,
    "kind_rollback": -0.3,
    "kind_infra": 0.2,
    "kind_scale": -0.6,
    "kind_dependency": 0.5,
    "kind_traffic": -0.5,
}
FEATURES: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)
"""Every feature a candidate may carry (``bias`` is 1 for every real candidate)."""


def kind_feature(cause: Cause, change: Change | None = None) -> str:
    """The prior's feature name of a cause: ``kind_deploy``, ``kind_dependency``, ``kind_traffic`` ..."""
    if cause.type is CauseType.CHANGE:
        return f"kind_{change.kind.value}" if change is not None else "kind_deploy"
    return f"kind_{cause.type.value}"


@dataclass(frozen=True)
class RankingPolicy:
    """Windows of the ranking, in seconds.

    lookback: changes and health transitions this long before the onset are considered.
    tolerance: a cause dated this long after the estimated onset is still plausible
        (the onset is an estimate: one or two steps of error).
    lag_scale: most causes bite within about this long (deploy rollout, config reload).
    slow_lag_scale: the tail of slow causes (leaks, creeping load, caches draining).
    slow_share: the share of causes that are slow.
    none_logit: the score of "no candidate explains this".
    low_confidence: a top score below this is said to be low confidence.
    roles: signal roles from the config, over the name-based defaults (:func:`~correlators.signals.role_of`).
    """

    lookback: float = 7200.0
    tolerance: float = 90.0
    lag_scale: float = 600.0
    slow_lag_scale: float = 3600.0
    min_surge: float = 1.5
    slow_share: float = 0.15
    none_logit: float = 0.0
    max_candidates: int = 5
    low_confidence: float = 0.5
    roles: Mapping[str, SignalRole] = field(default_factory=dict)


# -- evidence -------------------------------------------------------------------------------

def _log_timing(lag: float, policy: RankingPolicy) -> float:
    """Log-likelihood of a cause ``lag`` seconds before the onset (1.0 → 0 at lag 0).

    >>> p = RankingPolicy()
    >>> round(_log_timing(0, p), 2), round(_log_timing(600, p), 2), round(_log_timing(5400, p), 2)
    (0.0, -0.82, -3.39)
    >>> _log_timing(-60, p) < 0 < 1
    True
    """
    if lag < 0:
        return -1.5 * (lag / max(policy.tolerance, 1.0)) ** 2
    fast = (1.0 - policy.slow_share) * math.exp(-lag / policy.lag_scale)
    slow = policy.slow_share * math.exp(-lag / policy.slow_lag_scale)
    return max(math.log(fast + slow), -12.0)


def _after(lag: float, policy: RankingPolicy) -> float:
    """How far after the estimated onset, as a share of the tolerance (0 when before)."""
    return min(max(-lag / max(policy.tolerance, 1.0), 0.0), 1.0)


def _log_timing_traffic(lag: float, policy: RankingPolicy) -> float:
    """Traffic and the latency it causes move together; both onsets are estimates."""
    if lag < 0:
        return -0.5 * (lag / max(policy.tolerance, 1.0)) ** 2
    return math.log(math.exp(-lag / policy.lag_scale) * 0.9 + 0.1 * math.exp(-lag / policy.slow_lag_scale))


def _fmt_lag(lag: float) -> str:
    minutes = abs(lag) / 60.0
    when = "before" if lag >= 0 else "after"
    if minutes < 1.0:
        return f"{abs(lag):.0f} s {when} onset"
    return f"{minutes:.0f} min {when} onset"


def _onset_of(anomalies: Sequence[Anomaly], services: set[str]) -> float | None:
    """Onset of the anomalies a cause would explain (their consensus, robust to a stray estimate)."""
    return consensus_onset([a for a in anomalies if a.service in services])


@dataclass(frozen=True)
class _Shape:
    errors: float  # share of anomalous services with an error anomaly
    slow_only: float  # share with latency (or other) anomalies and no error anomaly
    rising: frozenset[str]  # services whose request rate rose

    @property
    def load(self) -> float:
        return self.slow_only - self.errors


def _rises(t: Anomaly) -> bool:
    """A request-rate shift that went up, by its levels (a detector's direction flag can disagree)."""
    return t.after > t.before


def _shape(incident: Incident, roles: Mapping[str, SignalRole]) -> _Shape:
    by_service: dict[str, set[SignalRole]] = {}
    for a in incident.anomalies:
        by_service.setdefault(a.service, set()).add(role_of(a.signal, roles))
    n = max(len(by_service), 1)
    errors = sum(SignalRole.ERRORS in r for r in by_service.values()) / n
    rising = frozenset(t.service for t in incident.traffic if _rises(t))
    return _Shape(errors, 1.0 - errors if by_service else 0.0, rising)


@dataclass(frozen=True)
class _View:
    """What every candidate is measured against, computed once per ranking."""

    affected: frozenset[str]
    roots: frozenset[str]  # anomalous services every other anomalous service reaches (the origin of propagation)
    evidence: Mapping[str, float]  # services with deviations at the onset only: their strongest confidence
    shape: _Shape
    topology: Topology

    @classmethod
    def of(cls, incident: Incident, topology: Topology, roles: Mapping[str, SignalRole]) -> _View:
        # Errors and latency propagate from callee to caller; lost traffic the other way (a failing
        # caller sends its callees less). So the services that locate the fault are those with
        # errors, latency or resource anomalies; traffic alone only when nothing else moved.
        located = [a.service for a in incident.anomalies if role_of(a.signal, roles) is not SignalRole.TRAFFIC]
        affected = frozenset(located) if located else frozenset(incident.services)
        roots = frozenset(s for s in affected if affected <= topology.blast_radius_of_service(s))
        evidence: dict[str, float] = {}
        for a in incident.evidence:
            if a.service not in affected and (a.direction == "up" or role_of(a.signal, roles) is SignalRole.LATENCY):
                evidence[a.service] = max(evidence.get(a.service, 0.0), a.confidence)
        return cls(affected, roots, evidence, _shape(incident, roles), topology)


def _scope(radius: set[str], origin: set[str], view: _View) -> dict[str, float]:
    """Where the cause sits relative to the anomalous services."""
    affected, topology, roots = view.affected, view.topology, view.roots
    if not affected:
        return {"coverage": 0.0, "unexplained": 0.0}
    coverage = len(affected & radius) / len(affected)
    same = bool(origin & affected)
    callee = not same and bool(origin) and all(
        any(topology.distance(s, o) for o in origin) for s in affected)
    return {
        "coverage": coverage,
        "unexplained": 1.0 - coverage,
        "same_service": 1.0 if same else 0.0,
        "root": 1.0 if origin & roots else 0.0,
        "callee": 1.0 if callee else 0.0,
    }


def _scope_words(scope: Mapping[str, float], origin: str, affected: AbstractSet[str],
                 radius: AbstractSet[str]) -> list[str]:
    ev: list[str] = []
    if scope.get("root"):
        ev.append(f"{origin} is anomalous and every other anomalous service calls it (directly or not)")
    elif scope.get("same_service"):
        ev.append(f"{origin} itself is anomalous")
    elif scope.get("evidence"):
        ev.append(f"{origin} deviated at the onset too (beyond anything it sustained in its recent history)")
    elif scope.get("callee"):
        ev.append(f"{origin} shows no anomaly of its own, but every anomalous service calls it")
    elif scope.get("shared"):
        ev.append(f"{origin} is a dependency shared by every anomalous service")
    ev.append(f"explains {scope['coverage']:.0%} of the anomalous services through the call graph")
    if scope["unexplained"] > 0:
        ev.append(f"cannot reach {', '.join(sorted(affected - radius))}, which are anomalous too")
    return ev


@dataclass(frozen=True)
class _Outage:
    target: str
    down: float
    up: float | None
    detail: str


def _outages(health: Sequence[HealthEvent]) -> dict[str, list[_Outage]]:
    out: dict[str, list[_Outage]] = {}
    for h in sorted(health, key=lambda e: e.ts):
        spans = out.setdefault(h.target, [])
        if not h.healthy:
            if not spans or spans[-1].up is not None:
                spans.append(_Outage(h.target, h.ts, None, h.detail))
        elif spans and spans[-1].up is None:
            spans[-1] = _Outage(h.target, spans[-1].down, h.ts, spans[-1].detail)
    return out


def features_of(
    incident: Incident, changes: Sequence[Change], health: Sequence[HealthEvent], topology: Topology,
    policy: RankingPolicy,
) -> tuple[list[Scored], list[DeadEnd]]:
    """Build every candidate with its features and evidence; rule out the impossible ones."""
    view = _View.of(incident, topology, policy.roles)
    dead: list[DeadEnd] = []
    # Traffic first: how much the incident looks like load bears on every other candidate.
    traffic = _traffic_candidates(incident, view, policy)
    load_pattern = max((s.features["traffic_breadth"] * max(s.features["load_shape"], 0.0) for s in traffic),
                       default=0.0)
    scored = _change_candidates(incident, changes, view, policy, load_pattern, dead)
    scored += _dependency_candidates(incident, health, view, policy, load_pattern, dead)
    return scored + traffic, dead


def _change_candidates(
    incident: Incident, changes: Sequence[Change], view: _View, policy: RankingPolicy, load_pattern: float,
    dead: list[DeadEnd],
) -> list[Scored]:
    topology, affected = view.topology, view.affected
    deps = {d for s in topology.services.values() for d in s.dependencies}
    out: list[Scored] = []
    for ch in changes:
        cause = Cause(CauseType.CHANGE, ch.id)
        if ch.service in topology.services or ch.service in affected:
            origin = {ch.service}
            radius = topology.blast_radius_of_service(ch.service) if ch.service in topology.services else origin
        elif ch.service in deps:  # a change to an external dependency (a database upgrade, a DNS change)
            origin = topology.users_of(ch.service)
            radius = topology.blast_radius_of_dependency(ch.service)
        elif ch.kind is ChangeKind.INFRA:  # cluster-wide: nodes, network, mesh
            origin, radius = set(), set(topology.services) | affected
        else:
            origin = radius = {ch.service}
        onset = _onset_of(incident.anomalies, radius)
        if onset is None:
            if 0.0 <= incident.onset - ch.ts <= policy.lookback:
                dead.append(describe_dead_end(
                    cause, f"{ch.service} is not on any call path to the anomalous services "
                           f"({', '.join(sorted(affected))})", ch))
            continue
        lag = onset - ch.ts
        if lag > policy.lookback:
            continue
        if lag < -policy.tolerance:
            if lag > -policy.lookback:
                dead.append(describe_dead_end(
                    cause, f"{ch.summary or ch.kind.value} came {_fmt_lag(lag)}, after the anomaly had begun", ch))
            continue
        scope = _scope(radius, origin, view)
        if not scope.get("same_service") and origin & view.evidence.keys():
            scope["evidence"] = 2.0 * max(view.evidence[o] for o in origin & view.evidence.keys())
        if ch.service in deps:
            scope["shared"] = 1.0 if affected <= radius else 0.0
        feats = {"bias": 1.0, "log_timing": _log_timing(lag, policy), "after_onset": _after(lag, policy),
                 kind_feature(cause, ch): 1.0, "load_pattern": load_pattern, **scope}
        ev = [f"{ch.kind.value} of {ch.service} {_fmt_lag(lag)}"]
        ev += _scope_words(scope, ch.service, affected, radius)
        if load_pattern > 0.3:
            ev.append("the incident looks like load (request rates up, latency up, errors flat), "
                      "which a change does not explain")
        out.append(Scored(cause, feats, ev, change=ch))
    return out


def _dependency_candidates(
    incident: Incident, health: Sequence[HealthEvent], view: _View, policy: RankingPolicy, load_pattern: float,
    dead: list[DeadEnd],
) -> list[Scored]:
    """Dependencies down at the onset of what they would explain; recovered or healthy ones are dead ends."""
    topology, affected = view.topology, view.affected
    outages = _outages(health)
    out: list[Scored] = []
    for dep in sorted({d for s in topology.services.values() for d in s.dependencies} | set(outages)):
        cause = Cause(CauseType.DEPENDENCY, dep)
        users = topology.users_of(dep)
        radius = topology.blast_radius_of_dependency(dep) or set(affected)
        onset = _onset_of(incident.anomalies, radius)
        if onset is None:
            continue
        known = [o for o in outages.get(dep, []) if onset - o.down <= policy.lookback]
        spans = [o for o in known if o.down <= onset + policy.tolerance]
        if not spans:
            if known:
                dead.append(describe_dead_end(cause, f"{dep} became unhealthy only {_fmt_lag(onset - known[0].down)}"))
            elif users & affected:
                dead.append(describe_dead_end(cause, f"{dep} stayed healthy around the onset; "
                                                     f"used by {', '.join(sorted(users & affected))}"))
            continue
        o = spans[-1]
        if o.up is not None and o.up < onset - policy.tolerance:
            dead.append(describe_dead_end(
                cause, f"{dep} was unhealthy {_fmt_lag(onset - o.down)} but recovered {_fmt_lag(onset - o.up)}, "
                       "before the anomaly began"))
            continue
        lag = onset - o.down
        scope = _scope(radius, users & affected or users, view)
        scope["shared"] = 1.0 if affected <= radius and len(affected) > 1 else 0.0
        scope["quiet_users"] = len(users - affected) / len(users) if users else 0.0
        feats = {"bias": 1.0, "log_timing": _log_timing(lag, policy), "after_onset": _after(lag, policy),
                 "kind_dependency": 1.0, "load_pattern": load_pattern, **scope}
        state = "still unhealthy" if o.up is None else f"healthy again {_fmt_lag(onset - o.up)}"
        ev = [f"{dep} became unhealthy {_fmt_lag(lag)} ({o.detail or 'probes failed'}); {state}",
              f"used by {', '.join(sorted(users)) or 'unknown services'}"]
        ev += _scope_words({**scope, "root": 0.0, "same_service": 0.0, "callee": 0.0}, dep, affected, radius)
        if users and scope["quiet_users"]:
            ev.append(f"{', '.join(sorted(users - affected))} also use {dep} and look healthy")
        out.append(Scored(cause, feats, ev))
    return out


def _traffic_candidates(incident: Incident, view: _View, policy: RankingPolicy) -> list[Scored]:
    """Request-rate rises at the most upstream rising services: traffic flows to callees."""
    topology, affected, shape = view.topology, view.affected, view.shape
    out: list[Scored] = []
    seen: set[str] = set()
    rising = [t for t in incident.traffic if _rises(t) and t.after >= policy.min_surge * t.before]
    for t in sorted(rising, key=lambda a: (a.onset, a.service)):
        if t.service in seen or topology.callers(t.service) & shape.rising:
            continue
        seen.add(t.service)
        cause = Cause(CauseType.TRAFFIC, t.service)
        radius = topology.downstream_of(t.service) if t.service in topology.services else set(affected)
        onset = _onset_of(incident.anomalies, radius)
        if onset is None:
            continue
        lag = onset - t.onset
        scope = _scope(radius, {t.service}, view)
        ratio = t.after / t.before if t.before > 0 else 8.0
        reached = affected & radius
        breadth = len(reached & shape.rising) / len(reached) if reached else 0.0
        feats = {"bias": 1.0, "log_timing": _log_timing_traffic(lag, policy), "kind_traffic": 1.0,
                 "load_shape": shape.load, "surge": min(max(math.log2(max(ratio, 1e-9)), 0.0), 3.0),
                 "traffic_breadth": breadth, "coverage": scope["coverage"], "unexplained": scope["unexplained"]}
        ev = [f"request rate at {t.service} rose ×{ratio:.1f} ({t.before:.0f} → {t.after:.0f}/s) {_fmt_lag(lag)}",
              (f"{shape.slow_only:.0%} of the anomalous services are slower without more errors, "
               f"{shape.errors:.0%} show errors"),
              f"request rate rose at {breadth:.0%} of the anomalous services it feeds",
              f"traffic from {t.service} reaches {scope['coverage']:.0%} of the anomalous services"]
        out.append(Scored(cause, feats, ev))
    return out


def logit(features: Mapping[str, float], weights: Weights) -> float:
    """The candidate's log-odds against "none of these": a weighted sum of its evidence."""
    return sum(weights.get(k, 0.0) * v for k, v in features.items())


def rank(
    incident: Incident,
    changes: Sequence[Change],
    health: Sequence[HealthEvent],
    topology: Topology,
    *,
    policy: RankingPolicy | None = None,
    weights: Weights | None = None,
    responses: Sequence[Change] = (),
) -> Ranking:
    """Rank the causes of ``incident`` from what changed around its onset.

    ``responses`` are changes made after the incident was found (a rollback, a flag turned off):
    never candidates; once one acts on the top candidate's service, the recommendation is to watch.
    """
    policy = policy or RankingPolicy()
    weights = weights or DEFAULT_WEIGHTS
    scored, dead = features_of(incident, changes, health, topology, policy)
    for s in scored:
        s.logit = logit(s.features, weights)
    none = Scored(Cause(CauseType.NONE), {}, logit=policy.none_logit)
    top_logit = max([s.logit for s in scored] + [none.logit])
    z = sum(math.exp(s.logit - top_logit) for s in [*scored, none])
    ordered = sorted([*scored, none], key=lambda s: (-s.logit, s.cause.type is CauseType.NONE, s.cause))
    shown = [s for s in ordered if s.cause.type is not CauseType.NONE][: policy.max_candidates]
    kept = {id(s) for s in shown} | {id(none)}
    candidates: list[Candidate] = []
    for s in ordered:
        if id(s) in kept:
            p = math.exp(s.logit - top_logit) / z
            candidates.append(describe_candidate(len(candidates) + 1, s, p, incident, topology,
                                                 low_confidence=p < policy.low_confidence, roles=policy.roles))
        else:
            p = math.exp(s.logit - top_logit) / z
            dead.append(describe_dead_end(s.cause, f"less likely than the top {policy.max_candidates} "
                                          f"({probability(p)})",
                                          s.change))
    top = candidates[0]
    low = top.cause.type is CauseType.NONE or top.score < policy.low_confidence
    changes_by_id = {c.id: c for c in changes}
    rec = recommend(candidates, changes_by_id, topology, incident)
    done = _response_to(top, changes_by_id, responses)
    if done is not None:
        rec = Recommendation(Action.WATCH, "", f"{done.summary or done.kind.value + ' of ' + done.service} "
                             f"was made at {_clock(done.ts)} UTC, after the incident began: watch "
                             f"{', '.join(incident.services[:3])} recover before doing more.")
    return Ranking(tuple(candidates), tuple(dead), rec, low_confidence=low)


def _clock(ts: float) -> str:
    import datetime as _dt
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%H:%M")


def _response_to(top: Candidate, changes: Mapping[str, Change], responses: Sequence[Change]) -> Change | None:
    """The latest response on the top candidate's service (or, for a dependency, any rollback)."""
    if top.cause.type is CauseType.CHANGE and top.cause.ref in changes:
        service = changes[top.cause.ref].service
        acted = [r for r in responses if r.service == service]
    else:
        return None
    return max(acted, key=lambda r: r.ts) if acted else None
