"""Flapping: recover then relapse within ``reopen_within`` re-opens the same incident, no new page."""

from __future__ import annotations

from correlators.incidents import GroupingPolicy, IncidentTracker, PageKind
from correlators.types import Anomaly, IncidentState, ServiceInfo, Topology

TOPO = Topology.from_services([ServiceInfo("checkout", "shop")])
T0 = 1_790_000_000.0


def _anomaly(onset: float) -> Anomaly:
    return Anomaly("checkout", "error_ratio", onset, onset + 60, "up", 0.004, 0.05, 0.9)


def test_relapse_within_window_updates_the_same_incident() -> None:
    tr = IncidentTracker(TOPO, GroupingPolicy(reopen_within=600.0))
    inc, actions = tr.add_anomaly(_anomaly(T0))
    assert inc is not None and actions == []
    assert [a.kind for a in tr.page(inc, T0 + 60)] == [PageKind.TRIGGER]
    resolved = tr.recover("checkout/error_ratio", T0 + 300)
    assert [a.kind for a in resolved] == [PageKind.RESOLVE]
    again, actions = tr.add_anomaly(_anomaly(T0 + 420))  # 2 min after recovery
    assert again is inc and inc.state is IncidentState.OPEN and inc.reopened == 1
    assert [a.kind for a in actions] == [PageKind.UPDATE]  # never a second TRIGGER
    assert actions[0].incident_id == inc.id and "relapsed" in actions[0].reason
    assert tr.page(inc, T0 + 480) == []  # already paged: no new page either


def test_relapse_after_window_is_a_new_incident() -> None:
    tr = IncidentTracker(TOPO, GroupingPolicy(reopen_within=600.0))
    inc, _ = tr.add_anomaly(_anomaly(T0))
    assert inc is not None
    tr.page(inc, T0 + 60)
    tr.recover("checkout/error_ratio", T0 + 300)
    later, actions = tr.add_anomaly(_anomaly(T0 + 2000))
    assert later is not None and later.id != inc.id and actions == []
    assert [a.kind for a in tr.page(later, T0 + 2060)] == [PageKind.TRIGGER]
