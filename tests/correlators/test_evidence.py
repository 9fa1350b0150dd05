"""Weak deviations at the onset localise a fault the symptoms alone cannot, and never page."""

from __future__ import annotations

from correlators.incidents import IncidentTracker
from correlators.ranking import rank
from correlators.types import Anomaly, Topology

from .builders import T0, change, errors


def weak(service: str, signal: str = "latency_p99_seconds", at: float = 0.0, direction: str = "up",
         before: float = 0.2, after: float = 0.9, confidence: float = 0.3) -> Anomaly:
    return Anomaly(service, signal, T0 + at, T0 + at + 60, direction, before, after, confidence)


def test_weak_evidence_never_opens_or_pages_an_incident(topo: Topology) -> None:
    tracker = IncidentTracker(topo)
    inc, actions = tracker.add_anomaly(weak("checkout"))
    assert inc is None and not actions and not tracker.incidents


def test_evidence_near_the_onset_joins_and_names_the_callee_among_same_time_deploys(topo: Topology) -> None:
    tracker = IncidentTracker(topo)
    tracker.add_anomaly(weak("payments", at=-30))            # remembered, attached when the incident opens
    inc, _ = tracker.add_anomaly(errors("checkout"))
    tracker.add_anomaly(weak("inventory", at=3600))           # an hour later: not this incident's evidence
    assert inc is not None and [a.service for a in inc.evidence] == ["payments"]
    assert inc.services == ["checkout"] and inc.involved == ["checkout", "payments"]
    assert tracker.should_page(inc)  # the symptom pages; the evidence only localises
    deploys = [change("pay", "payments", -120), change("inv", "inventory", -120)]
    r = rank(inc, deploys, [], topo)
    assert [c.cause.ref for c in r.candidates][:2] == ["pay", "inv"]
    assert r.candidates[0].features.get("evidence", 0.0) > 0
    assert any("deviated at the onset" in e for e in r.candidates[0].evidence)


def test_a_resource_falling_is_not_evidence_but_a_callee_failing_fast_is(topo: Topology) -> None:
    tracker = IncidentTracker(topo)
    inc, _ = tracker.add_anomaly(errors("checkout"))
    tracker.add_anomaly(weak("inventory", "cpu_utilisation", direction="down", before=0.4, after=0.1))
    tracker.add_anomaly(weak("payments", direction="down", before=0.2, after=0.01))
    assert inc is not None and [a.service for a in inc.evidence] == ["payments"]
