"""Per-version series of the simulated shop: old and new pods side by side while a change rolls out.

With versions on, every deploy, rollback and config change of a service rolls out over a few
minutes (a rolling update: the new pods' share of the requests grows from 0 to 1, then the old
pods are gone), and a feature flag enabled for part of the traffic splits it into ``on`` and
``off`` for an hour. For each split the shop emits the symptom of each arm, labelled
(``version=15``, ``config_hash=cfg-3f2a``, ``flag_variant=on``): what a Prometheus query by pod
grouped by pod-template-hash, or by a ``version`` label, would return.

What each arm shows: everything that hits the service (a callee's failure, a dependency outage,
load) hits both arms alike; the fault an incident's *own* change brings hits only the arm that
runs it (the new pods of a bad deploy, the old pods during its rollback). A deploy of a callee
that fails its callers' requests shows, in its arms, the errors those callers see on calls to it
(client-side, as a mesh's ``destination_version`` label gives). The aggregate series are left as
the simulator always wrote them (the fault at full strength from its start), so existing sets
do not change; only the labelled rows are new.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from correlators.types import Change, ChangeKind
from daemon.confirm.labelled import LabelledSample
from daemon.demo.incidents import Effect, Incident
from daemon.demo.randomness import derive_rng

__all__ = ["ArmLevels", "Rollout", "Versions"]

_ROLLOUT_SECONDS = (240.0, 720.0)
_FLAG_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Rollout:
    """One split of a service's traffic between a new and an old arm over ``[start, end)``."""

    service: str
    label: str
    new: str
    old: str
    start: float
    end: float
    key: str
    """The planned change's key (``incident:3:cause``, ``bg:...``): which incident's fault it carries."""
    share: float = 1.0
    """The new arm's final share (a flag's rollout percent); a rollout ramps up to it."""
    ramp: bool = True

    def new_share(self, ts: float) -> float | None:
        """The new arm's share of the requests at ``ts``; None when the split is not running."""
        if not self.start <= ts < self.end:
            return None
        if not self.ramp:
            return self.share
        return min(self.share, max(0.02, (ts - self.start) / (self.end - self.start)))


@dataclass(frozen=True, slots=True)
class ArmLevels:
    """A service's levels at one step, before the arms' own faults: what both arms share."""

    rate: float
    error: float
    latency: float


def _incident_of(key: str) -> tuple[int, str] | None:
    """``incident:3:cause`` -> (3, 'cause')."""
    parts = key.split(":")
    if len(parts) >= 3 and parts[0] == "incident" and parts[1].isdigit():
        return int(parts[1]), parts[2]
    return None


def own_effect(incident: Incident, service: str, ts: float) -> Effect:
    """The fault an incident's own change brings to ``service``'s pods at ``ts`` (full strength where it runs)."""
    strength = incident.strength(ts)
    if strength <= 0.0 or service != incident.target:
        return Effect()
    mine = incident.effects.get(service, Effect())
    if incident.kind == "callee_deploy":  # the callers' errors on calls to the new pods
        seen = [e for name, e in incident.effects.items() if name != service]
        mine = Effect(max([mine.error_add, *(e.error_add for e in seen)]),
                      max([mine.latency_mult, *(e.latency_mult for e in seen)]))
    return mine.scaled(strength)


class Versions:
    """The splits of a simulated shop and their labelled samples.

    Parameters
    ----------
    seed
        The simulation seed (rollout lengths and the arms' noise derive from it).
    step
        Seconds between samples.
    """

    def __init__(self, seed: int, step: float) -> None:
        self.seed, self.step = seed, step
        self.rollouts: list[Rollout] = []
        self._config: dict[str, str] = {}

    def observe(self, change: Change, key: str) -> None:
        """Start the split a change makes (none for scaling, infra, or a flag at 0 or 100%)."""
        rng = derive_rng(self.seed, "rollout", key)
        attrs = change.attributes
        if change.kind in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK):
            length = float(rng.uniform(*_ROLLOUT_SECONDS))
            self.rollouts.append(Rollout(change.service, "version", str(attrs.get("to_revision", "")),
                                         str(attrs.get("from_revision", "")), change.ts, change.ts + length, key))
        elif change.kind is ChangeKind.CONFIG:
            old = self._config.get(change.service, "cfg-0")
            new = self._config[change.service] = f"cfg-{change.id[-6:]}"
            length = float(rng.uniform(*_ROLLOUT_SECONDS))
            self.rollouts.append(Rollout(change.service, "config_hash", new, old, change.ts, change.ts + length, key))
        elif change.kind is ChangeKind.FEATURE_FLAG:
            flag = str(attrs.get("flag", ""))
            # A flag turned off ends its split.
            self.rollouts = [r if not (r.label == "flag_variant" and r.old == flag and r.end > change.ts)
                             else Rollout(r.service, r.label, r.new, r.old, r.start, change.ts, r.key, r.share, False)
                             for r in self.rollouts]
            percent = float(attrs.get("rollout_percent", 0) or 0)
            if attrs.get("enabled") and 0 < percent < 100:
                self.rollouts.append(Rollout(change.service, "flag_variant", "on", flag, change.ts,
                                             change.ts + _FLAG_SECONDS, key, percent / 100.0, False))

    def samples(self, ts: float, incidents: Sequence[Incident], levels: Callable[[str, int | None], ArmLevels],
                ) -> list[LabelledSample]:
        """The labelled samples of the splits running at ``ts``.

        ``levels(service, exclude)`` gives the service's levels with every incident's effect but
        the one numbered ``exclude`` (the fault the split's own change carries).
        """
        running = [(r, s) for r in self.rollouts if (s := r.new_share(ts)) is not None]
        if not running:
            self.rollouts = [r for r in self.rollouts if r.end > ts]
            return []
        rng = derive_rng(self.seed, "versions", round(ts * 1000))
        by_index: Mapping[int, Incident] = {i.index: i for i in incidents}
        out: list[LabelledSample] = []
        for r, share in running:
            owner = _incident_of(r.key)
            if owner is not None and owner[1] not in ("cause", "recovery"):
                owner = None  # a decoy: the incident hits both its arms alike
            incident = by_index.get(owner[0]) if owner is not None else None
            base = levels(r.service, incident.index if incident is not None else None)
            fault = own_effect(incident, r.service, ts) if incident is not None else Effect()
            faulty_arm = "new" if owner is not None and owner[1] == "cause" else "old"
            for arm, value, part in (("new", r.new, share), ("old", r.old if r.label != "flag_variant" else "off",
                                                             1.0 - share)):
                if part <= 0.0:
                    continue
                eff = fault if arm == faulty_arm else Effect()
                out += self._arm(ts, r, value, part, base, eff, rng)
        self.rollouts = [r for r in self.rollouts if r.end > ts]
        return out

    def _arm(self, ts: float, r: Rollout, value: str, part: float, base: ArmLevels, eff: Effect,
             rng: np.random.Generator) -> list[LabelledSample]:
        labels = {r.label: value}
        rate = base.rate * part
        n = max(1, int(round(rate * self.step)))
        p = min(1.0, max(0.0, base.error * math.exp(0.1 * float(rng.standard_normal()) - 0.005) + eff.error_add))
        errors = float(rng.binomial(n, p)) / n
        latency = base.latency * eff.latency_mult * math.exp(0.07 * float(rng.standard_normal()))
        return [LabelledSample(ts, r.service, "request_rate", labels, round(rate, 4)),
                LabelledSample(ts, r.service, "error_ratio", labels, round(errors, 6)),
                LabelledSample(ts, r.service, "latency_p99_seconds", labels, round(latency, 5))]
