"""The simulated shop: a deterministic generator of samples, probes and changes.

No clock and no asyncio: the caller passes the time of each step to :meth:`DemoShop.tick`.
Every noise draw is a function of the seed and the step's timestamp, so a given seed always
gives the same data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from correlators.types import Change, ChangeKind, ServiceInfo
from daemon.confirm.labelled import LabelledSample
from daemon.core.events import ProbeResult, Sample
from daemon.demo.changes import ChangeLog, PlannedChange, background_changes
from daemon.demo.incidents import INCIDENT_KINDS, Effect, Incident, plan_incident
from daemon.demo.model import build_profiles
from daemon.demo.randomness import derive_rng
from daemon.demo.topology import all_dependencies, callers_first_order, default_services
from daemon.demo.versions import ArmLevels, Versions

__all__ = ["SIGNALS", "AutoSchedule", "DemoShop", "DemoTick", "NoiseSettings"]

SIGNALS = ("request_rate", "error_ratio", "latency_p99_seconds")
_WINDOW = 3600.0
_GUARD_BEFORE, _GUARD_AFTER = 300.0, 120.0


@dataclass(frozen=True, slots=True)
class AutoSchedule:
    """Incidents injected by themselves, for the real-time demo.

    Attributes
    ----------
    first_after
        Seconds after the start at which the first incident's cause happens.
    every
        Seconds between two incidents' causes.
    duration
        Seconds each incident lasts (keep it well under ``every`` for a quiet gap).
    kinds
        Kinds used in turn; the default starts with a bad deploy, then a dependency outage.
    """

    first_after: float = 90.0
    every: float = 360.0
    duration: float = 180.0
    kinds: tuple[str, ...] = INCIDENT_KINDS


@dataclass(frozen=True, slots=True)
class NoiseSettings:
    """How noisy the quiet shop is.

    Attributes
    ----------
    rate_sigma, latency_sigma
        Log-normal relative noise of the request rate and the latency.
    error_sigma
        Log-normal jitter of the error probability; the error ratio adds the binomial noise
        of the step's request count on top.
    glitch_probability
        Chance that one error-ratio or latency sample is a lone glitch.
    glitch_factor
        How much a glitch multiplies the sample.
    blip_probability
        Chance that one probe fails by itself.
    cycle_amplitude
        Relative amplitude of the daily traffic cycle.
    """

    rate_sigma: float = 0.05
    error_sigma: float = 0.1
    latency_sigma: float = 0.07
    glitch_probability: float = 0.0015
    glitch_factor: float = 5.0
    blip_probability: float = 0.0015
    cycle_amplitude: float = 0.35


@dataclass(frozen=True, slots=True)
class DemoTick:
    """Everything observed in the step ending at ``ts``."""

    ts: float
    samples: list[Sample] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    labelled: list[LabelledSample] = field(default_factory=list)
    """Per-version samples (old and new pods side by side), with ``versions`` on."""


class DemoShop:
    """A deterministic simulated microservice shop.

    Parameters
    ----------
    seed
        Seeds every random draw.
    start
        Unix time of the first step; sample times are ``start + k * step``.
    step
        Seconds between samples.
    services
        The topology; the built-in shop (``default_services()``) by default.
    cycle_period
        Period of the traffic cycle in seconds (a day by default; e.g. 1800 for a live demo).
    changes_per_hour
        Mean number of routine, harmless background changes per hour.
    schedule
        Inject incidents automatically (None: only those passed to :meth:`schedule_incident`).
    noise
        Noise levels.
    run
        Salt of the change ids (``""`` by default): the live demo restarted on a kept store passes
        one so that its changes are not taken for the previous run's (same seed, same keys).
    versions
        Also emit per-version series while changes roll out (:mod:`daemon.demo.versions`).

    Examples
    --------
    >>> shop = DemoShop(seed=1, start=1_790_000_000.0)
    >>> tick = shop.tick(1_790_000_000.0)
    >>> len(tick.samples) == 3 * len(shop.topology())
    True
    """

    def __init__(
        self, seed: int, start: float, step: float = 15.0, services: Sequence[ServiceInfo] | None = None,
        *, cycle_period: float = 86_400.0, changes_per_hour: float = 3.0,
        schedule: AutoSchedule | None = None, noise: NoiseSettings = NoiseSettings(), run: str = "",
        versions: bool = False,
    ) -> None:
        if step <= 0 or cycle_period <= 0 or changes_per_hour < 0:
            raise ValueError("step and cycle_period must be positive, changes_per_hour not negative")
        self.seed, self.start, self.step = seed, float(start), float(step)
        self._services = list(services) if services is not None else default_services()
        self._order = callers_first_order(self._services)
        self._dependencies = all_dependencies(self._services)
        self._profiles = build_profiles(seed, self._services)
        self._base = np.array([[getattr(self._profiles[name], f) for name in self._order]
                               for f in ("base_rate", "base_error", "base_latency")])
        self._cycle_period, self._changes_per_hour = cycle_period, changes_per_hour
        self._cycle_phase = float(derive_rng(seed, "cycle").uniform(0.0, cycle_period))
        self._schedule, self._noise = schedule, noise
        self._log = ChangeLog(seed, {s.name: s.namespace for s in self._services}, salt=run)
        self._incidents: list[Incident] = []
        self._pending: list[PlannedChange] = []
        self._windows_done = 0
        self._auto_done = 0
        self._versions = Versions(seed, self.step) if versions else None
        self._rates: dict[str, float] = {}

    @classmethod
    def live(cls, seed: int, start: float, step: float = 15.0,
             services: Sequence[ServiceInfo] | None = None) -> DemoShop:
        """The shop as ``make run`` shows it: a 30-minute traffic cycle, a busy change feed and
        incidents by themselves (the first 90 s in, then one every 6 minutes).

        Examples
        --------
        >>> shop = DemoShop.live(seed=0, start=0.0)
        >>> _ = [shop.tick(15.0 * k) for k in range(8)]
        >>> shop.truth()[0]["cause"]["type"]
        'change'
        """
        return cls(seed, start, step, services, cycle_period=1800.0, changes_per_hour=12.0,
                   schedule=AutoSchedule(), noise=NoiseSettings(cycle_amplitude=0.25))

    def topology(self) -> list[ServiceInfo]:
        """The services, who they call and which dependencies they use."""
        return list(self._services)

    def dependencies(self) -> list[str]:
        """The external dependencies probed."""
        return list(self._dependencies)

    def incidents(self) -> list[Incident]:
        """The incidents injected so far, in injection order."""
        return list(self._incidents)

    def schedule_incident(self, kind: str, at: float, duration: float, target: str | None = None,
                          *, symptom: str | None = None) -> Incident:
        """Inject an incident.

        Parameters
        ----------
        kind
            One of ``bad_deploy``, ``dependency_down``, ``traffic_spike``, ``bad_config``,
            ``bad_flag``, ``slow_creep``, ``callee_deploy``.
        at
            Unix time of the cause (the change, the first failed probe, the surge).
        duration
            Seconds the effects last before recovery.
        target
            The faulty service or dependency; None picks a plausible one.
        symptom
            What a faulty service shows: ``errors``, ``latency`` or ``both`` (None: drawn).

        Returns
        -------
        Incident
            What was injected; its changes are emitted by the tick covering their time.

        Raises
        ------
        ValueError
            For an unknown kind, an impossible target or a non-positive duration.
        """
        incident = plan_incident(self.seed, len(self._incidents), kind, at, duration, target,
                                 self._services, self._profiles, symptom=symptom)
        if incident.cause.get("type") == "change" and incident.changes:  # the id the change log gives it
            incident = dataclasses.replace(incident, cause={"type": "change",
                                                            "id": self._log.change_id(incident.changes[0].key)})
        self._incidents.append(incident)
        self._pending.extend(incident.changes)
        return incident

    def truth(self) -> list[dict[str, Any]]:
        """The incidents injected so far in ``truth.json`` form, by onset."""
        ordered = sorted(self._incidents, key=lambda i: (i.start, i.index))
        return [i.truth(self.start, self.step) for i in ordered]

    def tick(self, ts: float) -> DemoTick:
        """Observe the step ending at ``ts``.

        Parameters
        ----------
        ts
            Unix time of the step's end (normally ``start + k * step``).

        Returns
        -------
        DemoTick
            One sample per service and signal, one probe per dependency, and the changes that
            happened up to ``ts`` and were not returned yet (each with its own time).
        """
        self._schedule_auto(ts)
        self._plan_background(ts)
        rng = derive_rng(self.seed, "tick", round(ts * 1000))
        samples, probes, changes = self._samples(ts, rng), self._probes(ts, rng), self._emit_changes(ts)
        labelled = ([] if self._versions is None else
                    self._versions.samples(ts, self._incidents, lambda s, x: self._arm_levels(ts, s, x)))
        return DemoTick(ts, samples, probes, changes, labelled)

    def schedule_decoys(self, incident: Incident, count: int) -> list[str]:
        """Deploy ``count`` other services at the moment of ``incident``'s cause, harmlessly: the
        same-time decoys a ranking must see through (as in the nezha-ob sets). Returns their services."""
        rng = derive_rng(self.seed, "decoys", incident.index)
        pool = sorted(s.name for s in self._services if s.name != incident.target)
        chosen = [str(x) for x in rng.choice(pool, size=min(count, len(pool)), replace=False)] if pool else []
        self._pending.extend(PlannedChange(incident.at, f"incident:{incident.index}:decoy:{j}", ChangeKind.DEPLOY,
                                           svc, str(rng.choice(("ci", "argocd")))) for j, svc in enumerate(chosen))
        return chosen

    def _arm_levels(self, ts: float, service: str, exclude: int | None) -> ArmLevels:
        i = self._order.index(service)
        eff = self._effects(ts, exclude).get(service, Effect())
        lat = float(self._base[2][i]) * (1.0 + 0.2 * (self._cycle(ts) - 1.0)) * eff.latency_mult
        return ArmLevels(self._rates.get(service, float(self._base[0][i])), float(self._base[1][i]) + eff.error_add,
                         lat)

    def history(self, n_steps: int) -> list[DemoTick]:
        """Quiet samples and probes of the ``n_steps`` steps before ``start`` (no changes).

        A detector fed these first has its baseline when the first incident comes (the live
        demo's first one is only 90 s in). Calling this does not change later ticks.

        Examples
        --------
        >>> shop = DemoShop(seed=1, start=1_000.0, step=10.0)
        >>> [t.ts for t in shop.history(3)]
        [970.0, 980.0, 990.0]
        """
        ticks = []
        for k in range(n_steps, 0, -1):
            ts = self.start - k * self.step
            rng = derive_rng(self.seed, "tick", round(ts * 1000))
            ticks.append(DemoTick(ts, self._samples(ts, rng), self._probes(ts, rng), []))
        return ticks

    def _schedule_auto(self, ts: float) -> None:
        plan = self._schedule
        if plan is None or not plan.kinds:
            return
        while (at := self.start + plan.first_after + self._auto_done * plan.every) <= ts:
            kind = plan.kinds[self._auto_done % len(plan.kinds)]
            self._auto_done += 1
            try:
                self.schedule_incident(kind, at, plan.duration)
            except ValueError:
                continue  # this topology cannot have that kind (e.g. no dependency): skip the slot

    def _plan_background(self, ts: float) -> None:
        services = [s.name for s in self._services]
        while self.start + self._windows_done * _WINDOW <= ts:
            w = self._windows_done
            self._pending.extend(background_changes(self.seed, w, self.start + w * _WINDOW, _WINDOW,
                                                    services, self._changes_per_hour))
            self._windows_done += 1

    def _guarded(self, plan: PlannedChange) -> bool:
        """A background change too close to an incident on a service it affects is dropped."""
        if not plan.key.startswith("bg:"):
            return False
        return any(plan.service in i.effects and i.at - _GUARD_BEFORE <= plan.ts <= i.start + _GUARD_AFTER
                   for i in self._incidents)

    def _emit_changes(self, ts: float) -> list[Change]:
        due = sorted((p for p in self._pending if p.ts <= ts), key=lambda p: (p.ts, p.key))
        self._pending = [p for p in self._pending if p.ts > ts]
        built = [(p, self._log.build(p)) for p in due if not self._guarded(p)]
        if self._versions is not None:
            for p, change in built:
                self._versions.observe(change, p.key)
        return [change for _, change in built]

    def _effects(self, ts: float, exclude: int | None = None) -> dict[str, Effect]:
        combined: dict[str, Effect] = {}
        for incident in self._incidents:
            if incident.index == exclude:
                continue
            strength = incident.strength(ts)
            if strength <= 0.0:
                continue
            for name, effect in incident.effects.items():
                e, old = effect.scaled(strength), combined.get(name, Effect())
                combined[name] = Effect(old.error_add + e.error_add, old.latency_mult * e.latency_mult,
                                        old.rate_mult * e.rate_mult)
        return combined

    def _cycle(self, ts: float) -> float:
        angle = 2.0 * math.pi * (ts - self._cycle_phase) / self._cycle_period
        return 1.0 + self._noise.cycle_amplitude * math.sin(angle)

    def _samples(self, ts: float, rng: np.random.Generator) -> list[Sample]:
        n, noise = len(self._order), self._noise
        z = rng.standard_normal((3, n))
        glitch = rng.random((2, n)) < noise.glitch_probability
        effects, cycle = self._effects(ts), self._cycle(ts)
        eff = [effects.get(name, Effect()) for name in self._order]
        rate = self._base[0] * cycle * np.array([e.rate_mult for e in eff]) * np.exp(noise.rate_sigma * z[0])
        error = self._error_ratio(rng, rate, z[1], np.array([e.error_add for e in eff]))
        latency = self._base[2] * (1.0 + 0.2 * (cycle - 1.0)) * np.array([e.latency_mult for e in eff])
        latency *= np.exp(noise.latency_sigma * z[2])
        error = np.minimum(1.0, np.where(glitch[0], error * noise.glitch_factor, error))
        latency = np.where(glitch[1], latency * noise.glitch_factor, latency)
        samples: list[Sample] = []
        self._rates = {name: float(rate[i]) for i, name in enumerate(self._order)}
        for i, name in enumerate(self._order):
            samples += [Sample(ts, name, "request_rate", round(float(rate[i]), 4)),
                        Sample(ts, name, "error_ratio", round(float(error[i]), 6)),
                        Sample(ts, name, "latency_p99_seconds", round(float(latency[i]), 5))]
        return samples

    def _error_ratio(self, rng: np.random.Generator, rate: np.ndarray, z: np.ndarray,
                     added: np.ndarray) -> np.ndarray:
        """Failed over total requests of the step: binomial counts around a jittered probability."""
        sigma = self._noise.error_sigma
        p = self._base[1] * np.exp(sigma * z - sigma ** 2 / 2) + added
        requests = np.maximum(1, np.round(rate * self.step)).astype(np.int64)
        return rng.binomial(requests, np.clip(p, 0.0, 1.0)) / requests

    def _probes(self, ts: float, rng: np.random.Generator) -> list[ProbeResult]:
        blips = rng.random(len(self._dependencies)) < self._noise.blip_probability
        probes = []
        for target, blip in zip(self._dependencies, blips, strict=True):
            down = any(i.probe_down(target, ts) for i in self._incidents)
            detail = "outage" if down else ("timeout" if blip else "")
            probes.append(ProbeResult(ts, target, not (down or blip), detail))
        return probes
