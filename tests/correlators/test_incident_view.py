"""The typed incident view reads and writes the stored/API JSON form byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from correlators.incidents import Incident
from correlators.types import (
    Action,
    Anomaly,
    Candidate,
    Cause,
    CauseType,
    Change,
    ChangeKind,
    DeadEnd,
    IncidentState,
    Ranking,
    Recommendation,
)
from correlators.view import IncidentView
from daemon.core.replay import replay
from daemon.demo.scenario import ScenarioSpec, write_scenario
from daemon.sources.scenario import load_scenario

T0 = 1_790_000_000.0

# An incident document exactly as the daemon stored it before the view existed (``Daemon.incident_doc``:
# ``Incident.to_json()`` updated with the lineage and the responses), as found in existing SQLite and
# PostgreSQL rows and served by ``GET /api/v1/incidents``.
STORED = (
    '{"id": "inc-3f2a9c0d1e", "state": "resolved", "onset": 1790000060.0, "first_onset": 1790000000.0, '
    '"opened_at": 1790000120.0, "paged_at": 1790000180.0, "resolved_at": 1790001800.0, '
    '"services": ["checkout", "frontend", "payments"], "affected": ["checkout", "frontend"], '
    '"anomalies": [{"service": "checkout", "signal": "error_ratio", "onset": 1790000000.0, '
    '"detected_at": 1790000120.0, "direction": "up", "before": 0.004, "after": 0.051, "confidence": 0.9731, '
    '"recovered_at": 1790001800.0, "series": "checkout/error_ratio", "rate": 41.5}, '
    '{"service": "frontend", "signal": "latency_p99_seconds", "onset": 1790000060.0, "detected_at": 1790000150.0, '
    '"direction": "up", "before": 0.12, "after": 0.95, "confidence": 0.8, "recovered_at": null, '
    '"series": "frontend/latency_p99_seconds"}], '
    '"traffic": [{"service": "frontend", "signal": "request_rate", "onset": 1790000030.0, '
    '"detected_at": 1790000100.0, "direction": "up", "before": 35.0, "after": 80.0, "confidence": 0.7, '
    '"recovered_at": null, "series": "frontend/request_rate"}], '
    '"evidence": [{"service": "payments", "signal": "cpu_utilisation", "onset": 1790000000.0, '
    '"detected_at": 1790000110.0, "direction": "up", "before": 0.3, "after": 0.45, "confidence": 0.3, '
    '"recovered_at": null, "series": "payments/cpu_utilisation"}], '
    '"candidates": [{"rank": 1, "cause": {"type": "change", "id": "chg-15"}, "score": 0.78, '
    '"title": "checkout rollout revision 14 -> 15", "hypothesis": "the release fails requests", '
    '"test": "compare errors by `pod_template_hash`", "evidence": ["deployed 2 min before the onset"], '
    '"features": {"lag": 0.91, "scope": 1.0}}, '
    '{"rank": 2, "cause": {"type": "none"}, "score": 0.2, "title": "none of these", "hypothesis": "h", '
    '"test": "t", "evidence": [], "features": {}}], '
    '"dead_ends": [{"cause": {"type": "dependency", "target": "redis-cache"}, "title": "redis-cache", '
    '"reason": "healthy throughout"}], '
    '"recommendation": {"action": "rollback", "command": "kubectl rollout undo deployment/checkout -n shop", '
    '"why": "the release came just before the onset"}, '
    '"low_confidence": false, "reopened": 1, "merged_into": null, "follows": "inc-0000000001", '
    '"follows_by": 240.0, "merged_from": ["inc-0000000002"], '
    '"responses": [{"id": "chg-undo", "ts": 1790000900.0, "kind": "rollback", "service": "checkout", '
    '"namespace": "shop", "summary": "checkout rollback revision 15 -> 14", "actor": "ann", '
    '"attributes": {"revision": 14}, "status": "complete", "completed_at": 1790000960.0}]}'
)


def test_a_stored_document_of_todays_shape_loads_and_writes_back_byte_for_byte() -> None:
    view = IncidentView.from_json(json.loads(STORED))
    assert json.dumps(view.to_json()) == STORED
    assert view.top is not None and view.top.cause == Cause(CauseType.CHANGE, "chg-15") and view.top.score == 0.78
    assert view.anomalies[0].rate == 41.5
    assert view.responses is not None and view.responses[0].kind is ChangeKind.ROLLBACK
    assert view.follows_by == 240.0 and view.merged_from == ("inc-0000000002",) and view.reopened == 1


def test_an_older_document_without_later_keys_still_loads() -> None:
    old: dict[str, Any] = {"id": "inc-1", "state": "open", "onset": T0, "opened_at": T0 + 60, "paged_at": None,
                           "resolved_at": None, "services": ["api"],
                           "anomalies": [{"service": "api", "signal": "error_ratio", "onset": T0,
                                          "detected_at": T0 + 60, "direction": "up", "before": 0.01,
                                          "after": 0.2, "confidence": 0.9, "recovered_at": None}],
                           "candidates": [], "dead_ends": [], "recommendation": None}
    view = IncidentView.from_json(old)
    assert view.first_onset == T0 and view.affected == () and view.evidence == () and view.responses is None
    doc = view.to_json()
    assert "responses" not in doc and "follows_by" not in doc and doc["anomalies"][0]["series"] == "api/error_ratio"


def test_the_view_of_a_core_incident_is_the_document_the_daemon_always_wrote() -> None:
    a = Anomaly("checkout", "error_ratio", T0, T0 + 60, "up", 0.004, 0.051, 0.97312, None, "checkout/error_ratio", 41.5)
    ranking = Ranking(
        (Candidate(1, Cause(CauseType.CHANGE, "chg-15"), 0.781234, "h", "t", ("e",), "deploy", {"lag": 0.912345}),
         Candidate(2, Cause(CauseType.NONE), 0.2, "h2", "t2", (), "none of these")),
        (DeadEnd(Cause(CauseType.DEPENDENCY, "db"), "healthy", "db"),),
        Recommendation(Action.ROLLBACK, "kubectl rollout undo deployment/checkout", "why"))
    inc = Incident("inc-1", T0, T0 + 60, anomalies=[a], state=IncidentState.OPEN, paged_at=T0 + 90, ranking=ranking,
                   follows="inc-0")
    undo = Change("chg-undo", T0 + 600, ChangeKind.ROLLBACK, "checkout", summary="undo")
    legacy = inc.to_json() | {"follows_by": 80.0, "merged_from": ["inc-2"], "responses": [undo.to_json()]}
    view = IncidentView.of(inc, follows_by=80.0, merged_from=["inc-2"], responses=[undo])
    assert json.dumps(view.to_json()) == json.dumps(legacy)
    assert json.dumps(IncidentView.of(inc).to_json()) == json.dumps(inc.to_json())
    assert IncidentView.from_json(view.to_json()).to_json() == view.to_json()


def test_confirm_tests_travel_with_the_view(tmp_path: Path) -> None:
    """A replayed incident whose candidates were tested: the view keeps the tests and the untested order."""
    spec = ScenarioSpec(versions=True, decoys=4)
    write_scenario(tmp_path / "sc", 11, ["bad_deploy"], hours=1.0, step=30.0, spec=spec)
    doc = next(i for i in replay(load_scenario(tmp_path / "sc"))["incidents"] if i.get("tests"))
    view = IncidentView.from_json(doc)
    assert json.dumps(view.to_json()) == json.dumps(doc)
    assert view.top is not None and any(t.verdict.value == "confirmed" for t in view.tests_of(view.top.cause))
    assert len(view.ranked_without_tests) == len(doc["ranked_without_tests"]) > 0
