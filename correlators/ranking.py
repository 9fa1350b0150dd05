"""Rank candidate root causes of an incident: changes, dependency health, traffic.

Pure and deterministic. Each candidate gets features (timing, scope, coverage,
differential, signal shape, kind prior), a log-linear score, and a softmax over
all candidates plus "none of these", so scores behave like probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .hypotheses import describe_candidate, describe_dead_end
from .incidents import Incident
from .recommend import recommend
from .signals import SignalRole, role_of
from .types import (
    Candidate, Cause, CauseType, Change, ChangeKind, DeadEnd, HealthEvent, Ranking, Topology,
)

__all__ = ["RankingPolicy", "Weights", "DEFAULT_WEIGHTS", "Scored", "rank", "features_of"]

Weights = Mapping[str, float]

DEFAULT_WEIGHTS: Weights = {
    "bias": -1.0,
    "timing": 3.0,
    "coverage": 3.0,
    "unexplained": -2.5,
    "origin_anomalous": 1.5,
    "origin_is_root": 1.5,
    "after_onset": -2.0,
    "prior": 1.0,
    "shape_load": 2.5,
    "shape_errors": 0.5,
    "health_down": 3.0,
}

_KIND_PRIOR: dict[ChangeKind, float] = {
    ChangeKind.DEPLOY: 0.6,
    ChangeKind.CONFIG: 0.5,
    ChangeKind.FEATURE_FLAG: 0.5,
    ChangeKind.ROLLBACK: -0.3,
    ChangeKind.INFRA: 0.2,
    ChangeKind.SCALE: -0.6,
}


@dataclass(frozen=True)
class RankingPolicy:
    """Windows of the ranking, in seconds.

    lookback: changes and health transitions this long before the onset are considered.
    tolerance: a cause dated this long after the estimated onset is still plausible
        (the onset is an estimate: one or two steps of error).
    lag_scale: how fast plausibility decays with the change-to-onset lag.
    none_logit: the score of "no candidate explains this".
    """

    lookback: float = 7200.0
    tolerance: float = 90.0
    lag_scale: float = 900.0
    none_logit: float = 0.0
    max_candidates: int = 5


@dataclass
class Scored:
    cause: Cause
    features: dict[str, float]
    evidence: list[str] = field(default_factory=list)
    change: Change | None = None
    logit: float = 0.0


def _timing(lag: float, policy: RankingPolicy) -> float:
    """Plausibility in [0, 1] of a cause ``lag`` seconds before the onset (negative: after)."""
    if lag < -policy.tolerance:
        return 0.0
    return math.exp(-max(lag, 0.0) / policy.lag_scale)


def _fmt_lag(lag: float) -> str:
    minutes = abs(lag) / 60.0
    when = "before" if lag >= 0 else "after"
    if minutes < 1.0:
        return f"{abs(lag):.0f} s {when} onset"
    return f"{minutes:.0f} min {when} onset"


def _shape(incident: Incident) -> dict[str, float]:
    roles = [role_of(a.signal) for a in incident.anomalies]
    n = max(len(roles), 1)
    return {
        "errors": sum(r is SignalRole.ERRORS for r in roles) / n,
        "latency": sum(r is SignalRole.LATENCY for r in roles) / n,
    }


def _scope(
    origin_radius: set[str], origin: set[str], affected: set[str], topology: Topology,
) -> dict[str, float]:
    covered = affected & origin_radius
    coverage = len(covered) / len(affected) if affected else 0.0
    unexplained = len(affected - origin_radius) / len(affected) if affected else 0.0
    origin_anomalous = 1.0 if origin & affected else 0.0
    # The root is the affected service deepest in the call graph: every other
    # affected service reaches it. A cause there explains the others as propagation.
    roots = {s for s in affected if affected <= topology.blast_radius_of_service(s)}
    origin_is_root = 1.0 if origin & roots else 0.0
    return {
        "coverage": coverage, "unexplained": unexplained,
        "origin_anomalous": origin_anomalous, "origin_is_root": origin_is_root,
    }


def features_of(
    incident: Incident, changes: Sequence[Change], health: Sequence[HealthEvent], topology: Topology,
    policy: RankingPolicy,
) -> tuple[list[Scored], list[DeadEnd]]:
    """Build every candidate with its features and evidence; rule out the impossible ones."""
    onset = incident.onset
    affected = set(incident.services)
    shape = _shape(incident)
    scored: list[Scored] = []
    dead: list[DeadEnd] = []

    for ch in changes:
        lag = onset - ch.ts
        if lag > policy.lookback:
            continue
        cause = Cause(CauseType.CHANGE, ch.id)
        if lag < -policy.tolerance:
            dead.append(describe_dead_end(cause, f"{ch.summary or ch.kind.value} came {_fmt_lag(lag)}, "
                                                 "after the anomaly had begun", ch))
            continue
        radius = topology.blast_radius_of_service(ch.service) if ch.service in topology.services else {ch.service}
        scope = _scope(radius, {ch.service}, affected, topology)
        if scope["coverage"] == 0.0:
            dead.append(describe_dead_end(
                cause, f"{ch.service} is not on any call path to the affected services "
                       f"({', '.join(sorted(affected))})", ch))
            continue
        feats = {
            "timing": _timing(lag, policy), "after_onset": 1.0 if lag < 0 else 0.0,
            "prior": _KIND_PRIOR.get(ch.kind, 0.0), **scope,
        }
        ev = [f"{ch.kind.value} of {ch.service} at {_fmt_lag(lag)}"]
        if scope["origin_anomalous"]:
            ev.append(f"{ch.service} itself is anomalous")
        elif ch.service in topology.services:
            ev.append(f"{ch.service} shows no anomaly of its own; its callers do")
        ev.append(f"explains {scope['coverage']:.0%} of the affected services through the call graph")
        if scope["unexplained"]:
            ev.append(f"cannot reach {', '.join(sorted(affected - radius))}")
        scored.append(Scored(cause, feats, ev, change=ch))

    # Dependencies: transitions near the onset, and those healthy throughout.
    down_at: dict[str, HealthEvent] = {}
    for ev_h in sorted(health, key=lambda e: e.ts):
        lag = onset - ev_h.ts
        if lag > policy.lookback or lag < -policy.tolerance * 2:
            continue
        if not ev_h.healthy and ev_h.target not in down_at:
            down_at[ev_h.target] = ev_h
    all_deps = {d for s in topology.services.values() for d in s.dependencies} | set(down_at)
    for dep in sorted(all_deps):
        cause = Cause(CauseType.DEPENDENCY, dep)
        users = topology.users_of(dep)
        if dep not in down_at:
            if users & affected:
                dead.append(describe_dead_end(cause, f"{dep} stayed healthy throughout; "
                                                     f"used by {', '.join(sorted(users & affected))}"))
            continue
        h = down_at[dep]
        lag = onset - h.ts
        radius = topology.blast_radius_of_dependency(dep) or set(affected)
        scope = _scope(radius, users or set(affected), affected, topology)
        feats = {"timing": _timing(lag, policy), "after_onset": 1.0 if lag < 0 else 0.0,
                 "health_down": 1.0, **scope}
        ev = [f"{dep} became unhealthy {_fmt_lag(lag)} ({h.detail or 'probes failed'})",
              f"used by {', '.join(sorted(users)) or 'unknown services'}",
              f"explains {scope['coverage']:.0%} of the affected services"]
        scored.append(Scored(cause, feats, ev))

    # Traffic: request-rate rises upstream of the affected services.
    seen_traffic: set[str] = set()
    for t in sorted(incident.traffic, key=lambda a: a.onset):
        if t.direction != "up" or t.service in seen_traffic:
            continue
        # Count only the most upstream rising service: traffic flows to callees.
        if any(o.service in topology.callers(t.service) for o in incident.traffic if o.direction == "up"):
            continue
        seen_traffic.add(t.service)
        cause = Cause(CauseType.TRAFFIC, t.service)
        lag = onset - t.onset
        radius = topology.downstream_of(t.service) if t.service in topology.services else set(affected)
        scope = _scope(radius, {t.service}, affected, topology)
        ratio = t.after / t.before if t.before > 0 else float("inf")
        feats = {"timing": _timing(lag, policy), "after_onset": 1.0 if lag < 0 else 0.0,
                 "shape_load": shape["latency"] - shape["errors"], "shape_errors": -shape["errors"],
                 "coverage": scope["coverage"], "unexplained": scope["unexplained"]}
        ev = [f"request rate at {t.service} rose ×{ratio:.1f} ({t.before:.0f} → {t.after:.0f}/s) {_fmt_lag(lag)}",
              f"{shape['latency']:.0%} of the anomalous signals are latency, {shape['errors']:.0%} errors",
              f"traffic from {t.service} reaches {scope['coverage']:.0%} of the affected services"]
        scored.append(Scored(cause, feats, ev))
    return scored, dead


def _logit(features: Mapping[str, float], weights: Weights) -> float:
    return weights.get("bias", 0.0) + sum(weights.get(k, 0.0) * v for k, v in features.items())


def rank(
    incident: Incident,
    changes: Sequence[Change],
    health: Sequence[HealthEvent],
    topology: Topology,
    *,
    policy: RankingPolicy | None = None,
    weights: Weights | None = None,
) -> Ranking:
    """Rank the causes of ``incident`` from what changed around its onset."""
    policy = policy or RankingPolicy()
    weights = weights or DEFAULT_WEIGHTS
    scored, dead = features_of(incident, changes, health, topology, policy)
    for s in scored:
        s.logit = _logit(s.features, weights)
    top_logit = max([s.logit for s in scored] + [policy.none_logit])
    z = math.exp(policy.none_logit - top_logit) + sum(math.exp(s.logit - top_logit) for s in scored)
    scored.sort(key=lambda s: (-s.logit, s.cause))
    candidates: list[Candidate] = []
    for s in scored[: policy.max_candidates]:
        p = math.exp(s.logit - top_logit) / z
        candidates.append(describe_candidate(len(candidates) + 1, s, p, incident, topology))
    for s in scored[policy.max_candidates:]:
        dead.append(DeadEnd(s.cause, f"ranked below the top {policy.max_candidates} "
                                     f"(score {math.exp(s.logit - top_logit) / z:.2f})"))
    p_none = math.exp(policy.none_logit - top_logit) / z
    low = not candidates or candidates[0].score < 0.5
    none_cand = describe_candidate(len(candidates) + 1, Scored(Cause(CauseType.NONE), {}), p_none, incident, topology)
    if not candidates or p_none > candidates[0].score:
        candidates.insert(0, none_cand)
        candidates = [_renumber(c, i + 1) for i, c in enumerate(candidates)]
    changes_by_id = {c.id: c for c in changes}
    rec = recommend(candidates, changes_by_id, topology, incident)
    return Ranking(tuple(candidates), tuple(dead), rec, low_confidence=low)


def _renumber(c: Candidate, rank_: int) -> Candidate:
    return Candidate(rank_, c.cause, c.score, c.hypothesis, c.test, c.evidence, c.title, c.features)
