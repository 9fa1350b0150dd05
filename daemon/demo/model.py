"""Per-service baselines of the simulated shop and how traffic flows through the call graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from correlators.types import ServiceInfo
from daemon.demo.randomness import derive_rng
from daemon.demo.topology import callers_first_order

__all__ = ["ServiceProfile", "build_profiles", "propagate_traffic"]


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """The quiet-time behaviour of one service.

    Attributes
    ----------
    base_rate
        Mean request rate (req/s) at the daily mean.
    base_error
        Mean error ratio.
    base_latency
        Mean p99 latency (seconds).
    load_sensitivity
        How much latency grows with load: ``latency * (1 + s * (rate_factor - 1))``.
    shares
        For each callee, the fraction of this service's requests it forwards there.
    """

    base_rate: float
    base_error: float
    base_latency: float
    load_sensitivity: float
    shares: Mapping[str, float]


def build_profiles(seed: int, services: Sequence[ServiceInfo]) -> dict[str, ServiceProfile]:
    """Draw each service's baselines; callees get the traffic their callers forward.

    Parameters
    ----------
    seed
        The simulation seed.
    services
        The topology (a DAG).

    Returns
    -------
    dict
        Profile by service name.
    """
    by_name = {s.name: s for s in services}
    inbound: dict[str, float] = {s.name: 0.0 for s in services}
    profiles: dict[str, ServiceProfile] = {}
    for name in callers_first_order(services):
        rng = derive_rng(seed, "profile", name)
        own = float(rng.uniform(120.0, 600.0)) if inbound[name] == 0.0 else float(rng.uniform(0.0, 40.0))
        base_rate = max(25.0, inbound[name] + own)
        shares = {callee: float(rng.uniform(0.3, 0.9)) for callee in by_name[name].calls}
        for callee, share in shares.items():
            inbound[callee] += base_rate * share
        profiles[name] = ServiceProfile(
            base_rate=base_rate,
            base_error=float(rng.uniform(0.002, 0.01)),
            base_latency=float(rng.uniform(0.06, 0.6)),
            load_sensitivity=float(rng.uniform(0.25, 0.6)),
            shares=shares,
        )
    return profiles


def propagate_traffic(
    services: Sequence[ServiceInfo], profiles: Mapping[str, ServiceProfile], origin: str, factor: float,
) -> dict[str, float]:
    """Request-rate factors when ``origin`` receives ``factor`` times its usual traffic.

    Parameters
    ----------
    services
        The topology.
    profiles
        The baselines (for the forwarded shares).
    origin
        Where the extra traffic enters.
    factor
        Its request-rate multiplier.

    Returns
    -------
    dict
        Rate multiplier of every service whose traffic changes (``origin`` and everything it
        calls, transitively), each diluted by the traffic it gets from elsewhere.
    """
    extra: dict[str, float] = {origin: profiles[origin].base_rate * (factor - 1.0)}
    by_name = {s.name: s for s in services}
    for name in callers_first_order(services):
        if name not in extra:
            continue
        for callee in by_name[name].calls:
            extra[callee] = extra.get(callee, 0.0) + extra[name] * profiles[name].shares[callee]
    return {name: 1.0 + add / profiles[name].base_rate for name, add in extra.items()}
