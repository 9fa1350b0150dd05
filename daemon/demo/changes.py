"""The simulated change log: planned changes and their materialisation into ``Change`` events.

A change is *planned* (time, kind, service, a few details) when the simulator decides it will
happen and *built* when the simulator emits it, in time order, so that deploy revisions and
replica counts follow each other like a real cluster's history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from correlators.types import Change, ChangeKind
from daemon.demo.randomness import change_id, derive_rng

__all__ = [
    "ACTORS", "CONFIG_KEYS", "FLAG_WORDS", "ChangeLog", "PlannedChange", "background_changes", "kind_detail",
]

ACTORS = ("ci", "argocd", "alice", "bob", "carol")
CONFIG_KEYS = ("timeout_ms", "retries", "pool_size", "log_level", "cache_ttl", "batch_size")
FLAG_WORDS = ("new-flow", "async-retries", "fast-path", "v2-api", "smart-cache", "dark-launch")

_BACKGROUND_KINDS = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG, ChangeKind.SCALE,
                     ChangeKind.INFRA)
_BACKGROUND_WEIGHTS = (0.6, 0.15, 0.1, 0.1, 0.05)


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """A change decided but not yet emitted.

    Attributes
    ----------
    ts
        When it happens (Unix seconds).
    key
        Unique within the simulation; the change id is derived from it and the seed.
    kind
        The change kind.
    service
        The service changed.
    actor
        Who made it.
    detail
        Kind-specific choices made at planning time (``flag``, ``enabled``, ``rollout_percent``,
        ``keys_changed``, ``replicas_delta``, ``revert``).
    """

    ts: float
    key: str
    kind: ChangeKind
    service: str
    actor: str = "ci"
    detail: Mapping[str, Any] = field(default_factory=dict)


class ChangeLog:
    """Builds ``Change`` events from plans, tracking revisions and replicas per service.

    Parameters
    ----------
    seed
        The simulation seed (ids and initial revisions derive from it).
    namespaces
        Namespace of each service.
    salt
        Prefixed to every key (``""``: the ids of every earlier version): a demo restarted on a kept
        store gives its changes new ids, so they are not taken for the previous run's.
    """

    def __init__(self, seed: int, namespaces: Mapping[str, str], salt: str = "") -> None:
        self._seed = seed
        self._salt = salt
        self._namespaces = dict(namespaces)
        self._revision: dict[str, int] = {}
        self._replicas: dict[str, int] = {}

    def change_id(self, key: str) -> str:
        """The id the change planned under ``key`` gets."""
        return change_id(self._seed, f"{self._salt}{key}")

    def _current_revision(self, service: str) -> int:
        if service not in self._revision:
            self._revision[service] = int(derive_rng(self._seed, "revision", service).integers(3, 40))
        return self._revision[service]

    def _current_replicas(self, service: str) -> int:
        if service not in self._replicas:
            self._replicas[service] = int(derive_rng(self._seed, "replicas", service).integers(2, 8))
        return self._replicas[service]

    def build(self, plan: PlannedChange) -> Change:
        """Emit ``plan`` as a ``Change``, advancing the service's revision or replica count."""
        summary, attributes = _BUILDERS[plan.kind](self, plan)
        return Change(
            id=self.change_id(plan.key), ts=float(plan.ts), kind=plan.kind, service=plan.service,
            namespace=self._namespaces.get(plan.service, ""), summary=summary, actor=plan.actor,
            attributes=attributes,
        )

    def _deploy(self, plan: PlannedChange) -> tuple[str, dict[str, Any]]:
        old = self._current_revision(plan.service)
        new = old + 1
        self._revision[plan.service] = new
        return f"{plan.service} rollout revision {old} -> {new}", _revision_attributes(plan.service, old, new)

    def _rollback(self, plan: PlannedChange) -> tuple[str, dict[str, Any]]:
        old = self._current_revision(plan.service)
        new = max(1, old - 1)
        self._revision[plan.service] = new
        return (f"{plan.service} rollback revision {old} -> {new}",
                _revision_attributes(plan.service, old, new))

    def _config(self, plan: PlannedChange) -> tuple[str, dict[str, Any]]:
        configmap = f"{plan.service}-config"
        verb = "reverted" if plan.detail.get("revert") else "updated"
        keys = str(plan.detail.get("keys_changed", "timeout_ms"))
        return f"configmap {configmap} {verb}", {"configmap": configmap, "keys_changed": keys}

    def _flag(self, plan: PlannedChange) -> tuple[str, dict[str, Any]]:
        flag = str(plan.detail.get("flag", f"{plan.service}.new-flow"))
        enabled = bool(plan.detail.get("enabled", True))
        percent = int(plan.detail.get("rollout_percent", 100 if enabled else 0))
        state = f"enabled at {percent}%" if enabled else "disabled"
        return f"feature flag {flag} {state}", {"flag": flag, "enabled": enabled, "rollout_percent": percent}

    def _scale(self, plan: PlannedChange) -> tuple[str, dict[str, Any]]:
        old = self._current_replicas(plan.service)
        new = max(1, old + int(plan.detail.get("replicas_delta", 1)))
        self._replicas[plan.service] = new
        return (f"{plan.service} scaled {old} -> {new} replicas",
                {"from_replicas": str(old), "to_replicas": str(new)})

    def _infra(self, plan: PlannedChange) -> tuple[str, dict[str, Any]]:
        pool = str(plan.detail.get("node_pool", "default"))
        return f"node pool {pool} upgraded (pods of {plan.service} rescheduled)", {"node_pool": pool}


def _revision_attributes(service: str, old: int, new: int) -> dict[str, Any]:
    return {"from_revision": str(old), "to_revision": str(new),
            "image": f"registry.example/{service}:1.{new}.0"}


_BUILDERS = {
    ChangeKind.DEPLOY: ChangeLog._deploy,
    ChangeKind.ROLLBACK: ChangeLog._rollback,
    ChangeKind.CONFIG: ChangeLog._config,
    ChangeKind.FEATURE_FLAG: ChangeLog._flag,
    ChangeKind.SCALE: ChangeLog._scale,
    ChangeKind.INFRA: ChangeLog._infra,
}


def kind_detail(rng: np.random.Generator, kind: ChangeKind, service: str) -> dict[str, Any]:
    """Random kind-specific details of a harmless routine change."""
    if kind is ChangeKind.CONFIG:
        return {"keys_changed": str(rng.choice(CONFIG_KEYS))}
    if kind is ChangeKind.FEATURE_FLAG:
        enabled = bool(rng.random() < 0.7)
        percent = int(rng.choice((5, 10, 25, 50, 100))) if enabled else 0
        return {"flag": f"{service}.{rng.choice(FLAG_WORDS)}", "enabled": enabled, "rollout_percent": percent}
    if kind is ChangeKind.SCALE:
        return {"replicas_delta": int(rng.choice((-2, -1, 1, 2, 3)))}
    if kind is ChangeKind.INFRA:
        return {"node_pool": str(rng.choice(("default", "general", "highmem")))}
    return {}


def background_changes(
    seed: int, window: int, window_start: float, window_length: float, services: Sequence[str],
    per_hour: float,
) -> list[PlannedChange]:
    """The routine, harmless changes of one time window.

    Parameters
    ----------
    seed
        The simulation seed.
    window
        Index of the window (the draws depend on it only, not on when they are asked for).
    window_start, window_length
        The window's span in Unix seconds.
    services
        Services that may be changed.
    per_hour
        Mean number of changes per hour.

    Returns
    -------
    list of PlannedChange
        Sorted by time, at whole seconds.
    """
    rng = derive_rng(seed, "background", window)
    count = int(rng.poisson(per_hour * window_length / 3600.0))
    plans = []
    for j in range(count):
        ts = float(np.floor(window_start + rng.uniform(0.0, window_length)))
        kind = _BACKGROUND_KINDS[int(rng.choice(len(_BACKGROUND_KINDS), p=_BACKGROUND_WEIGHTS))]
        service = str(rng.choice(list(services)))
        plans.append(PlannedChange(ts, f"bg:{window}:{j}", kind, service, str(rng.choice(ACTORS)),
                                   kind_detail(rng, kind, service)))
    return sorted(plans, key=lambda p: (p.ts, p.key))
