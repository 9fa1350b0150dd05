"""Injected incidents: what happens, where, when, and what the truth says about it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from correlators.types import ChangeKind, ServiceInfo, Topology
from daemon.demo.changes import CONFIG_KEYS, FLAG_WORDS, PlannedChange
from daemon.demo.model import ServiceProfile, propagate_traffic
from daemon.demo.randomness import change_id, derive_rng
from daemon.demo.topology import all_dependencies, entry_services

__all__ = ["INCIDENT_KINDS", "SYMPTOMS", "Effect", "Incident", "plan_incident"]

INCIDENT_KINDS = (
    "bad_deploy", "dependency_down", "traffic_spike", "bad_config", "bad_flag", "slow_creep",
    "callee_deploy",
)
_CHANGE_KINDS = {"bad_deploy", "bad_config", "bad_flag", "slow_creep", "callee_deploy"}
_MAX_LAG = {"bad_deploy": 180.0, "callee_deploy": 180.0, "bad_config": 90.0, "bad_flag": 60.0,
            "slow_creep": 120.0, "dependency_down": 60.0, "traffic_spike": 0.0}
CREEP_RAMP = 1200.0
_NEGLIGIBLE_ERROR, _NEGLIGIBLE_LATENCY = 0.006, 1.15


@dataclass(frozen=True, slots=True)
class Effect:
    """What an incident does to one service at full strength."""

    error_add: float = 0.0
    latency_mult: float = 1.0
    rate_mult: float = 1.0

    def scaled(self, strength: float) -> Effect:
        """The effect at ``strength`` in [0, 1] (0 is no effect)."""
        return Effect(self.error_add * strength, 1.0 + (self.latency_mult - 1.0) * strength,
                      1.0 + (self.rate_mult - 1.0) * strength)


@dataclass(frozen=True)
class Incident:
    """One injected incident.

    Attributes
    ----------
    index
        Order of injection (0, 1, ...); ids of its changes derive from it.
    kind
        One of ``INCIDENT_KINDS``.
    at
        When the cause happens: the change, the first failed probe, the traffic surge.
    start, end
        When the effects on the metrics begin and stop (``start >= at``).
    target
        The service or dependency at fault.
    ramp
        Seconds over which the effect grows linearly (0: a step).
    effects
        Full-strength effect per affected service.
    services
        The services actually affected (the truth), the origin first.
    cause
        The truth cause, in ``truth.json`` form.
    changes
        The changes this incident emits (its cause and the recovery, if any).
    """

    index: int
    kind: str
    at: float
    start: float
    end: float
    target: str
    ramp: float
    effects: Mapping[str, Effect]
    services: tuple[str, ...]
    cause: Mapping[str, str]
    changes: tuple[PlannedChange, ...]

    def strength(self, ts: float) -> float:
        """How strong the incident is at ``ts``, in [0, 1]."""
        if ts < self.start or ts >= self.end:
            return 0.0
        if self.ramp <= 0.0:
            return 1.0
        return min(1.0, max(0.02, (ts - self.start) / self.ramp))

    def probe_down(self, target: str, ts: float) -> bool:
        """Whether a probe of ``target`` fails at ``ts`` because of this incident."""
        return self.kind == "dependency_down" and target == self.target and self.at <= ts < self.end

    def onset(self, grid_start: float, step: float) -> float:
        """The first sample time on the grid at which the effects show."""
        return grid_start + math.ceil((self.start - grid_start) / step - 1e-9) * step

    def truth(self, grid_start: float, step: float) -> dict[str, Any]:
        """This incident as one entry of ``truth.json``'s ``incidents``."""
        onset = self.onset(grid_start, step)
        return {"onset": int(onset) if float(onset).is_integer() else onset,
                "services": list(self.services), "cause": dict(self.cause)}


def _default_target(rng: np.random.Generator, kind: str, services: Sequence[ServiceInfo]) -> str:
    topo = Topology.from_services(services)
    if kind == "dependency_down":
        pool = all_dependencies(services)
    elif kind == "traffic_spike":
        pool = entry_services(services)
    elif kind == "callee_deploy":
        pool = [s.name for s in services if topo.callers(s.name)]
    else:
        pool = [s.name for s in services]
    if not pool:
        raise ValueError(f"no possible target for {kind} in this topology")
    return str(rng.choice(pool))


def _check_target(kind: str, target: str, services: Sequence[ServiceInfo]) -> None:
    names = {s.name for s in services}
    if kind == "dependency_down":
        if target not in all_dependencies(services):
            raise ValueError(f"{target!r} is not a dependency of any service")
    elif target not in names:
        raise ValueError(f"{target!r} is not a service")
    elif kind == "callee_deploy" and not Topology.from_services(services).callers(target):
        raise ValueError(f"{target!r} has no callers, so a callee deploy cannot surface elsewhere")


def _spread_to_callers(
    rng: np.random.Generator, topo: Topology, origin: Mapping[str, Effect],
) -> tuple[dict[str, Effect], list[str]]:
    """Errors and latency of the origin services surface, attenuated, at their callers.

    Each hop keeps 40-75 % of the added error ratio and 50-85 % of the added latency; the
    spread stops where both become negligible, so the affected set is what really shows.
    """
    effects = dict(origin)
    order = list(origin)
    frontier = list(origin)
    while frontier:
        level: dict[str, Effect] = {}
        for callee in frontier:
            for caller in sorted(topo.callers(callee)):
                if caller in effects:
                    continue
                seen = effects[callee]
                att, lat_att = float(rng.uniform(0.4, 0.75)), float(rng.uniform(0.5, 0.85))
                new = Effect(seen.error_add * att, 1.0 + (seen.latency_mult - 1.0) * lat_att)
                if new.error_add < _NEGLIGIBLE_ERROR and new.latency_mult < _NEGLIGIBLE_LATENCY:
                    continue  # faded out: this caller is not affected, nor (through it) its callers
                old = level.get(caller, Effect())
                level[caller] = Effect(max(old.error_add, new.error_add),
                                       max(old.latency_mult, new.latency_mult))
        effects.update(level)
        order.extend(sorted(level))
        frontier = sorted(level)
    return effects, order


SYMPTOMS = ("errors", "latency", "both")


def _fault_effect(rng: np.random.Generator, kind: str, symptom: str | None) -> Effect:
    """The effect at the faulty service: errors, latency or both."""
    if kind in {"slow_creep", "bad_flag"}:
        mode = "errors" if kind == "slow_creep" or rng.random() < 0.8 else "both"
    else:
        mode = str(rng.choice(SYMPTOMS, p=(0.5, 0.2, 0.3)))
    mode = symptom or mode
    error = float(rng.uniform(0.05, 0.15)) if mode != "latency" else 0.0
    latency = float(rng.uniform(2.0, 4.0)) if mode != "errors" else 1.0
    return Effect(error, latency)


def _origin_effects(
    rng: np.random.Generator, kind: str, target: str, services: Sequence[ServiceInfo], symptom: str | None,
) -> dict[str, Effect]:
    topo = Topology.from_services(services)
    if kind == "dependency_down":
        return {u: Effect(float(rng.uniform(0.08, 0.2)), float(rng.uniform(1.0, 1.5)))
                for u in sorted(topo.users_of(target))}
    if kind == "callee_deploy":
        origin = {target: Effect(float(rng.uniform(0.002, 0.006)), float(rng.uniform(1.0, 1.15)))}
        for caller in sorted(topo.callers(target)):
            origin[caller] = Effect(float(rng.uniform(0.06, 0.14)), float(rng.uniform(1.0, 1.3)))
        return origin
    return {target: _fault_effect(rng, kind, symptom)}


def _traffic_effects(
    rng: np.random.Generator, target: str, services: Sequence[ServiceInfo],
    profiles: Mapping[str, ServiceProfile],
) -> dict[str, Effect]:
    factors = propagate_traffic(services, profiles, target, float(rng.uniform(2.5, 4.0)))
    return {name: Effect(0.0, 1.0 + profiles[name].load_sensitivity * (f - 1.0), f)
            for name, f in factors.items()}


def _cause_change(
    rng: np.random.Generator, index: int, kind: str, target: str, at: float,
) -> PlannedChange | None:
    key = f"incident:{index}:cause"
    actor = str(rng.choice(("ci", "argocd", "alice", "bob")))
    if kind in {"bad_deploy", "slow_creep", "callee_deploy"}:
        return PlannedChange(at, key, ChangeKind.DEPLOY, target, actor)
    if kind == "bad_config":
        return PlannedChange(at, key, ChangeKind.CONFIG, target, actor,
                             {"keys_changed": str(rng.choice(CONFIG_KEYS))})
    if kind == "bad_flag":
        flag = f"{target}.{rng.choice(FLAG_WORDS)}"
        return PlannedChange(at, key, ChangeKind.FEATURE_FLAG, target, actor,
                             {"flag": flag, "enabled": True,
                              "rollout_percent": int(rng.choice((25, 50, 100)))})
    return None


def _recovery_change(cause: PlannedChange, index: int, ts: float) -> PlannedChange:
    key = f"incident:{index}:recovery"
    if cause.kind is ChangeKind.DEPLOY:
        return PlannedChange(ts, key, ChangeKind.ROLLBACK, cause.service, "oncall")
    if cause.kind is ChangeKind.CONFIG:
        return PlannedChange(ts, key, ChangeKind.CONFIG, cause.service, "oncall",
                             {**cause.detail, "revert": True})
    return PlannedChange(ts, key, ChangeKind.FEATURE_FLAG, cause.service, "oncall",
                         {"flag": cause.detail["flag"], "enabled": False, "rollout_percent": 0})


def _truth_cause(seed: int, kind: str, target: str, cause: PlannedChange | None) -> dict[str, str]:
    if cause is not None:
        return {"type": "change", "id": change_id(seed, cause.key)}
    if kind == "dependency_down":
        return {"type": "dependency", "target": target}
    return {"type": "traffic", "service": target}


def plan_incident(
    seed: int, index: int, kind: str, at: float, duration: float, target: str | None,
    services: Sequence[ServiceInfo], profiles: Mapping[str, ServiceProfile],
    recovery_change: bool = True, symptom: str | None = None,
) -> Incident:
    """Decide everything about one incident up front.

    Parameters
    ----------
    seed
        The simulation seed.
    index
        The incident's number in the simulation (its draws and change ids depend on it).
    kind
        One of ``INCIDENT_KINDS``.
    at
        When the cause happens (Unix seconds).
    duration
        How long the effects last, in seconds, before recovery.
    target
        The faulty service (the entry service for a traffic spike, the dependency for an
        outage); None picks one at random.
    services, profiles
        The topology and baselines.
    recovery_change
        Whether the recovery emits a change (rollback, config revert, flag off).
    symptom
        For a faulty service (deploy, config, flag, creep): ``errors``, ``latency`` or ``both``;
        None draws one.

    Returns
    -------
    Incident

    Raises
    ------
    ValueError
        For an unknown kind, an impossible target or a non-positive duration.
    """
    if kind not in INCIDENT_KINDS:
        raise ValueError(f"unknown incident kind {kind!r}; expected one of {', '.join(INCIDENT_KINDS)}")
    if duration <= 0:
        raise ValueError("duration must be positive")
    if symptom is not None and symptom not in SYMPTOMS:
        raise ValueError(f"unknown symptom {symptom!r}; expected one of {', '.join(SYMPTOMS)}")
    rng = derive_rng(seed, "incident", index, kind)
    target = target if target is not None else _default_target(rng, kind, services)
    _check_target(kind, target, services)
    start = at + float(rng.uniform(0.0, _MAX_LAG[kind]))
    if kind == "traffic_spike":
        effects = _traffic_effects(rng, target, services, profiles)
        order = [target] + sorted(set(effects) - {target})
    else:
        origin = _origin_effects(rng, kind, target, services, symptom)
        effects, order = _spread_to_callers(rng, Topology.from_services(services), origin)
    cause = _cause_change(rng, index, kind, target, at)
    changes: list[PlannedChange] = [cause] if cause else []
    if cause is not None and recovery_change:
        rollback_at = max(at + 1.0, math.floor(start + duration - rng.uniform(30.0, 90.0)))
        changes.append(_recovery_change(cause, index, rollback_at))
    ramp = min(CREEP_RAMP, 0.8 * duration) if kind == "slow_creep" else 0.0
    return Incident(index, kind, at, start, start + duration, target, ramp, effects, tuple(order),
                    _truth_cause(seed, kind, target, cause), tuple(changes))
