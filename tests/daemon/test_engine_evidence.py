"""Evidence that arrives after an incident was ranked moves its ranking (and the page follows)."""

from __future__ import annotations

from daemon.core.engine import Engine
from detectors import Detection, Direction, EventKind
from tests.correlators.builders import T0, change, shop


def test_late_evidence_at_a_changed_callee_re_ranks_the_open_incident() -> None:
    engine = Engine(shop())
    for ch in (change("chg-front", "frontend", -60), change("chg-pay", "payments", -60),
               change("chg-search", "search", -60)):
        engine.add_change(ch)
    # The symptom: the front door's errors; both callees' deploys explain it through the call graph.
    engine.add_detection("frontend", "error_ratio", "frontend/error_ratio",
                         Detection(EventKind.SHIFT, T0, T0 + 60, Direction.UP, 0.001, 0.08, 0.99))
    engine.flush()
    inc = next(iter(engine.tracker.incidents.values()))
    assert inc.ranking is not None
    before = {c.cause.ref: c.features.get("evidence", 0.0) for c in inc.ranking.candidates}
    assert before.get("chg-pay", 0.0) == 0.0
    # A minute later payments' latency deviates: too weak to page on, but it is where the fault sits.
    out = engine.add_detection("payments", "latency_p99_seconds", "payments/latency_p99_seconds",
                               Detection(EventKind.EVIDENCE, T0 + 60, T0 + 120, Direction.UP, 0.2, 0.9, 0.3))
    assert inc.id in out.incidents
    assert inc.ranking is not None
    pay = next(c for c in inc.ranking.candidates if c.cause.ref == "chg-pay")
    search = next(c for c in inc.ranking.candidates if c.cause.ref == "chg-search")
    assert pay.features.get("evidence", 0.0) > 0 and pay.score > search.score
