"""Builders for small incidents on a known topology (times are seconds from T0)."""

from __future__ import annotations

from collections.abc import Sequence

from correlators.incidents import Incident
from correlators.types import Anomaly, Change, ChangeKind, HealthEvent, ServiceInfo, Topology

T0 = 1_800_000_000.0

# frontend ─▶ checkout ─▶ payments (payments-gateway)
#          │           └▶ inventory (inventory-db)
#          └▶ search ──▶ catalog (inventory-db)
# mailer: called by nobody, calls nothing
SERVICES = [
    ServiceInfo("frontend", "shop", calls=("checkout", "search")),
    ServiceInfo("checkout", "shop", calls=("payments", "inventory")),
    ServiceInfo("payments", "shop", dependencies=("payments-gateway",)),
    ServiceInfo("inventory", "shop", dependencies=("inventory-db",)),
    ServiceInfo("search", "shop", calls=("catalog",)),
    ServiceInfo("catalog", "shop", dependencies=("inventory-db",)),
    ServiceInfo("mailer", "shop"),
]


def shop() -> Topology:
    return Topology.from_services(SERVICES)


def errors(service: str, at: float = 0.0, before: float = 0.004, after: float = 0.08) -> Anomaly:
    return Anomaly(service, "error_ratio", T0 + at, T0 + at + 90, "up", before, after, 0.99)


def slow(service: str, at: float = 0.0, before: float = 0.2, after: float = 0.6) -> Anomaly:
    return Anomaly(service, "latency_p99_seconds", T0 + at, T0 + at + 90, "up", before, after, 0.99)


def surge(service: str, at: float = 0.0, before: float = 100.0, after: float = 400.0) -> Anomaly:
    return Anomaly(service, "request_rate", T0 + at, T0 + at + 90, "up", before, after, 1.0)


def incident(anomalies: Sequence[Anomaly], traffic: Sequence[Anomaly] = ()) -> Incident:
    onset = min(a.onset for a in anomalies)
    return Incident("inc-test", onset, onset + 90, list(anomalies), list(traffic))


def change(cid: str, service: str, at: float, kind: ChangeKind = ChangeKind.DEPLOY, **attrs: object) -> Change:
    attributes: dict[str, object] = {"from_revision": "14", "to_revision": "15"} if kind is ChangeKind.DEPLOY else {}
    attributes.update(attrs)
    return Change(cid, T0 + at, kind, service, "shop", f"{kind.value} {service} ({cid})", "ci", attributes)


def down(target: str, at: float, healthy: bool = False) -> HealthEvent:
    return HealthEvent(T0 + at, target, healthy, "2 consecutive failed probes")
