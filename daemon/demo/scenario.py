"""Write simulated scenario folders in the shared format (see ``scenario-format.md``)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from correlators.types import Change, ServiceInfo
from daemon.confirm.labelled import format_labels
from daemon.core.events import ProbeResult
from daemon.demo.incidents import INCIDENT_KINDS
from daemon.demo.randomness import derive_rng, stable_int
from daemon.demo.shop import DemoShop, DemoTick
from daemon.demo.topology import default_services, random_topology

__all__ = [
    "QUIET",
    "SCENARIO_KINDS",
    "ScenarioSpec",
    "parse_kinds",
    "required_hours",
    "write_scenario",
    "write_set",
]

QUIET = "quiet"
SCENARIO_KINDS = (*INCIDENT_KINDS, QUIET)
_DECIMALS = {"request_rate": 4, "error_ratio": 6, "latency_p99_seconds": 5}
_MIN_SLOT = 600.0
_WARMUP, _TAIL = 0.4, 0.08


def required_hours(n_incidents: int) -> float:
    """The shortest scenario that holds ``n_incidents`` incidents after its warm-up.

    Examples
    --------
    >>> round(required_hours(1), 2)
    0.32
    """
    return n_incidents * _MIN_SLOT / (1.0 - _TAIL - _WARMUP) / 3600.0


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """Optional knobs of a written scenario.

    Attributes
    ----------
    name
        The scenario's name (default ``sim-<kinds>-<seed>``).
    services
        A fixed topology; None draws a random one (see ``n_services``).
    n_services
        Size of the random topology; None draws 6-20.
    start
        Unix time of the first sample; None draws one from the seed.
    missing_fraction
        Fraction of metric rows dropped at random (scrape gaps).
    changes_per_hour
        Mean number of routine background changes per hour.
    duration_minutes
        Range of incident durations.
    versions
        Also write per-version series (the ``labels`` column of ``metrics.csv``) while changes roll out.
    decoys
        Harmless deploys of other services at the moment of each incident's cause.
    """

    name: str | None = None
    services: Sequence[ServiceInfo] | None = None
    n_services: int | None = None
    start: float | None = None
    missing_fraction: float = 0.0025
    changes_per_hour: float = 3.0
    duration_minutes: tuple[float, float] = (15.0, 40.0)
    versions: bool = False
    decoys: int = 0


def parse_kinds(text: str) -> list[list[str]]:
    """Parse ``bad_deploy,quiet,traffic_spike+bad_flag`` into the incidents of each scenario.

    Raises
    ------
    ValueError
        Naming the unknown kind.

    Examples
    --------
    >>> parse_kinds("bad_deploy,quiet,traffic_spike+bad_flag")
    [['bad_deploy'], [], ['traffic_spike', 'bad_flag']]
    """
    result: list[list[str]] = []
    for item in (part.strip() for part in text.split(",")):
        kinds = [k.strip() for k in item.split("+") if k.strip()]
        for kind in kinds:
            if kind not in SCENARIO_KINDS:
                raise ValueError(f"unknown kind {kind!r} (expected {', '.join(SCENARIO_KINDS)})")
        if not kinds:
            raise ValueError("empty kind in the list")
        result.append([k for k in kinds if k != QUIET])
    return result


def _topology(seed: int, spec: ScenarioSpec) -> list[ServiceInfo]:
    if spec.services is not None:
        return list(spec.services)
    rng = derive_rng(seed, "topology")
    n = spec.n_services if spec.n_services is not None else int(rng.integers(6, 21))
    return random_topology(rng, n, int(rng.integers(2, 6)))


def _start(seed: int, spec: ScenarioSpec) -> float:
    if spec.start is not None:
        return float(spec.start)
    return float(1_790_000_000 + int(derive_rng(seed, "start").integers(0, 2_592_000)) // 10 * 10)


def _schedule(shop: DemoShop, rng: np.random.Generator, kinds: Sequence[str], total: float,
              spec: ScenarioSpec) -> None:
    """Place the incidents in equal slots after a 40 % warm-up, each recovering within its slot."""
    if not kinds:
        return
    warmup = _WARMUP * total
    width = ((1.0 - _TAIL) * total - warmup) / len(kinds)
    if width < _MIN_SLOT:
        raise ValueError(f"{len(kinds)} incident(s) do not fit in {total / 3600:.2f} h; make it longer")
    for j, kind in enumerate(kinds):
        lo = shop.start + warmup + j * width
        at = math.floor(lo + rng.uniform(0.0, 0.25 * width))
        wanted = rng.uniform(*spec.duration_minutes) * 60.0
        if kind == "slow_creep":
            wanted = max(wanted, 1800.0)
        incident = shop.schedule_incident(kind, at, min(wanted, lo + 0.85 * width - 180.0 - at))
        if spec.decoys:
            shop.schedule_decoys(incident, spec.decoys)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _metric_rows(tick: DemoTick, keep: np.ndarray) -> list[list[str]]:
    ordered = sorted(tick.samples, key=lambda s: (s.service, s.signal))
    return [[str(_number(s.ts)), s.service, s.signal, f"{s.value:.{_DECIMALS.get(s.signal, 6)}f}"]
            for s, k in zip(ordered, keep, strict=True) if k]


def _probe_rows(probes: Sequence[ProbeResult]) -> list[list[str]]:
    return [[str(_number(p.ts)), p.target, "1" if p.healthy else "0"] for p in probes]


def _change_line(change: Change) -> str:
    data = change.to_json()
    data["ts"] = _number(change.ts)
    return json.dumps(data)


def _scenario_json(name: str, shop: DemoShop, end: float) -> dict[str, Any]:
    return {
        "name": name, "step_seconds": _number(shop.step), "start": _number(shop.start), "end": _number(end),
        "services": [{"name": s.name, "namespace": s.namespace, "calls": list(s.calls),
                      "dependencies": list(s.dependencies)} for s in shop.topology()],
        "dependencies": shop.dependencies(),
    }


def _labelled_rows(tick: DemoTick) -> list[list[str]]:
    return [[str(_number(s.ts)), s.service, s.signal, f"{s.value:.{_DECIMALS.get(s.signal, 6)}f}",
             format_labels(s.labels)] for s in tick.labelled]


def _write_series(directory: Path, shop: DemoShop, n_steps: int, missing: float, versions: bool = False) -> None:
    drop_rng = derive_rng(shop.seed, "missing")
    with (open(directory / "metrics.csv", "w", newline="") as metrics_file,
          open(directory / "health.csv", "w", newline="") as health_file,
          open(directory / "changes.jsonl", "w") as changes_file):
        metrics = csv.writer(metrics_file, lineterminator="\n")
        health = csv.writer(health_file, lineterminator="\n")
        metrics.writerow(["timestamp", "service", "signal", "value", *(["labels"] if versions else [])])
        health.writerow(["timestamp", "target", "healthy"])
        for k in range(n_steps):
            tick = shop.tick(shop.start + k * shop.step)
            metrics.writerows(_metric_rows(tick, drop_rng.random(len(tick.samples)) >= missing))
            metrics.writerows(_labelled_rows(tick))
            health.writerows(_probe_rows(tick.probes))
            changes_file.writelines(_change_line(c) + "\n" for c in tick.changes)


def write_scenario(
    directory: str | Path, seed: int, kinds: Sequence[str] = (), hours: float = 6.0, step: float = 30.0,
    spec: ScenarioSpec = ScenarioSpec(),
) -> list[dict[str, Any]]:
    """Simulate one scenario and write its folder.

    Parameters
    ----------
    directory
        The folder to write (created if missing); holds ``scenario.json``, ``metrics.csv``,
        ``health.csv``, ``changes.jsonl`` and ``truth.json``.
    seed
        Determines everything: topology, noise, changes, incident placement.
    kinds
        The incidents to inject, in order (see ``INCIDENT_KINDS``); empty for a quiet scenario.
    hours
        Length of the scenario.
    step
        Seconds between samples.
    spec
        Further options (name, topology, start, gaps, change rate, durations).

    Returns
    -------
    list of dict
        The ``incidents`` of ``truth.json``.

    Raises
    ------
    ValueError
        For an unknown kind, a non-positive length or step, or too many incidents for the length.
    """
    if hours <= 0 or step <= 0:
        raise ValueError("hours and step must be positive")
    n_steps = int(hours * 3600 // step)
    if n_steps < 2:
        raise ValueError("the scenario must hold at least two steps")
    shop = DemoShop(seed, _start(seed, spec), step, _topology(seed, spec),
                    changes_per_hour=spec.changes_per_hour, versions=spec.versions)
    _schedule(shop, derive_rng(seed, "placement"), kinds, n_steps * step, spec)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    _write_series(out, shop, n_steps, spec.missing_fraction, spec.versions)
    name = spec.name or f"sim-{'+'.join(kinds) or QUIET}-{seed}"
    end = shop.start + (n_steps - 1) * step
    (out / "scenario.json").write_text(json.dumps(_scenario_json(name, shop, end), indent=1) + "\n")
    truth = shop.truth()
    (out / "truth.json").write_text(json.dumps({"incidents": truth}, indent=1) + "\n")
    return truth


def write_set(
    out: str | Path, seed: int, plan: Sequence[Sequence[str]], count: int, hours: float, step: float,
    topology: str = "random", n_services: int | None = None,
    progress: Callable[[int, int, Path], None] | None = None, *, versions: bool = False, decoys: int = 0,
) -> list[Path]:
    """Write ``count`` scenarios, the i-th injecting ``plan[i % len(plan)]``.

    Parameters
    ----------
    out
        Parent folder; scenario ``i`` goes to ``out/sim-<kinds>-<i>``.
    seed
        Seed of the set; each scenario's seed derives from it and its index.
    plan
        Incident kinds of each scenario in turn (an empty list is a quiet scenario).
    count
        Number of scenarios.
    hours, step
        Length and sampling step of each scenario.
    topology
        ``random`` (a random DAG per scenario) or ``shop`` (the built-in shop).
    n_services
        Size of random topologies (None: 6-20).
    progress
        Called after each scenario with ``(done, count, path)``.
    versions, decoys
        Per-version series and same-time decoy deploys (see :class:`ScenarioSpec`; off by default).

    Returns
    -------
    list of Path
        The folders written.
    """
    services = default_services() if topology == "shop" else None
    paths = []
    for i in range(count):
        kinds = list(plan[i % len(plan)])
        name = f"sim-{'+'.join(kinds) or QUIET}-{i}"
        spec = ScenarioSpec(name=name, services=services, n_services=n_services, versions=versions, decoys=decoys)
        path = Path(out) / name
        write_scenario(path, stable_int(seed, "scenario", i) % 2**31, kinds, hours, step, spec)
        paths.append(path)
        if progress is not None:
            progress(i + 1, count, path)
    return paths
