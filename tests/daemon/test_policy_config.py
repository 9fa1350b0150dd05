"""One policy from the config: impact bars, overrides and roles reach the grouping that pages."""

from __future__ import annotations

import pytest

from correlators.signals import SignalRole
from correlators.types import Anomaly
from daemon.cli.check_config import explain
from daemon.config import ConfigError, parse_config
from daemon.core.policy import policy

BASE = {"prometheus": {"url": "http://127.0.0.1:9", "step": "60s"},
        "notifiers": [{"name": "c", "type": "console"}]}


def slow(service: str, before: float, after: float, signal: str = "latency_p99_seconds") -> Anomaly:
    return Anomaly(service, signal, 0.0, 60.0, "up", before, after, 1.0)


def test_defaults_are_the_replay_defaults() -> None:
    cfg = parse_config(BASE)
    assert policy(cfg, 60.0) == policy(None, 60.0)


def test_bars_overrides_and_roles_from_the_config_decide_what_pages() -> None:
    cfg = parse_config({**BASE,
                        "signals": [{"name": "queue_wait", "query": "sum by (service) (x)", "role": "latency"}],
                        "detection": {"impact": {"latency": {"min_delta": 0.25}},
                                      "impact_overrides": [{"service": "payments", "signal": "latency_p99_seconds",
                                                            "min_delta": 0.05, "min_ratio": 1.2}],
                                      "roles": {"jvm_gc_pause_seconds": "resource"}}})
    impact = policy(cfg, 60.0).grouping.impact
    assert not impact.is_material(slow("checkout", 0.2, 0.4))     # +200 ms < the configured 250 ms
    assert impact.is_material(slow("checkout", 0.2, 0.5))
    assert impact.is_material(slow("payments", 0.03, 0.1))        # its own, lower bar
    assert impact.role("queue_wait") is SignalRole.LATENCY        # from signals[].role
    assert impact.is_material(slow("checkout", 1.0, 2.0, "queue_wait"))
    assert impact.role("jvm_gc_pause_seconds") is SignalRole.RESOURCE
    assert not impact.is_material(slow("checkout", 0.01, 5.0, "jvm_gc_pause_seconds"))
    text = "\n".join(explain(cfg))
    assert "latency: up by at least 0.25" in text and "latency_p99_seconds of payments" in text


@pytest.mark.parametrize(("section", "field"), [({"impact": {"latency": {"min_ratio": 0.5}}}, "min_ratio"),
                                                ({"impact": {"traffic": {"loss_to": 2}}}, "loss_to"),
                                                ({"roles": {"x": "symptom"}}, "roles")])
def test_bad_bars_are_refused_naming_the_field(section: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({**BASE, "detection": section})
    assert field in str(e.value)


def _drop(signal: str) -> Anomaly:
    return Anomaly("checkout", signal, 0.0, 60.0, "down", 4e9, 1e8, 0.9, series=f"checkout/{signal}")


def test_a_configured_bad_direction_is_honoured() -> None:
    """``signals[].bad_direction`` decides which way a signal hurts: a drop of free memory opens an
    incident when configured ``down``; by default (a rise hurts) the same drop is only evidence."""
    from correlators.incidents import IncidentTracker
    from correlators.types import ServiceInfo, Topology

    topo = Topology.from_services([ServiceInfo("checkout", "shop")])
    sig = {"name": "free_memory_bytes", "query": "sum by (service) (x)"}
    configured = policy(parse_config({**BASE, "signals": [{**sig, "bad_direction": "down"}]}), 60.0).grouping
    default = policy(parse_config({**BASE, "signals": [sig]}), 60.0).grouping
    assert configured.impact.is_bad("free_memory_bytes", "down") and not configured.impact.is_bad(
        "free_memory_bytes", "up")
    assert not default.impact.is_bad("free_memory_bytes", "down")
    opened, _ = IncidentTracker(topo, configured).add_anomaly(_drop("free_memory_bytes"))
    assert opened is not None and [a.signal for a in opened.anomalies] == ["free_memory_bytes"]
    assert IncidentTracker(topo, default).add_anomaly(_drop("free_memory_bytes"))[0] is None
    assert "free_memory_bytes  [service label service; bad direction down]" in "\n".join(
        explain(parse_config({**BASE, "signals": [{**sig, "bad_direction": "down"}]})))


def test_a_configured_role_reaches_ranking_and_the_engine() -> None:
    """A signal whose name says nothing (``checkout_calls``) configured as traffic is traffic everywhere:
    in what pages, in ranking, and in the request rates the engine measures around an onset."""
    from correlators.types import ServiceInfo, Topology
    from daemon.core.engine import Engine
    from daemon.core.events import Sample

    cfg = parse_config({**BASE, "signals": [{"name": "checkout_calls", "query": "sum by (service) (x)",
                                             "role": "traffic"}]})
    pol = policy(cfg, 60.0)
    assert pol.grouping.impact.role("checkout_calls") is SignalRole.TRAFFIC
    assert pol.ranking.roles == {"checkout_calls": SignalRole.TRAFFIC}
    topo = Topology.from_services([ServiceInfo("checkout", "shop")])
    configured = Engine(topo, grouping=pol.grouping, ranking=pol.ranking)
    default = Engine(topo)
    for engine in (configured, default):
        for k in range(40):
            engine.ingest(Sample(1_790_000_000.0 + 60 * k, "checkout", "checkout_calls", 100.0 if k < 30 else 400.0))
    assert [a.service for a in configured._traffic.shifts(1_790_000_000.0 + 60 * 30, 90.0, 1_790_000_000.0 + 60 * 39)]
    assert not default._traffic.shifts(1_790_000_000.0 + 60 * 30, 90.0, 1_790_000_000.0 + 60 * 39)
