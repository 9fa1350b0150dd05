"""Learning from responders: confirmed causes move the evidence weights, and later rankings follow."""

from __future__ import annotations

import json

from correlators.learning import OnlineWeights
from correlators.ranking import DEFAULT_WEIGHTS, rank
from correlators.types import Cause, CauseType, ChangeKind, Topology

from .builders import change, errors, incident


def _tied(topo: Topology, service: str, at: float, tag: str) -> tuple[object, list]:
    """A deploy and a config change of the same service at the same instant: only priors differ."""
    inc = incident([errors(service, at=at)])
    return inc, [change(f"dep-{tag}", service, at - 120), change(f"cfg-{tag}", service, at - 120, ChangeKind.CONFIG)]


def test_feedback_on_a_few_incidents_ranks_the_confirmed_kind_higher_later(topo: Topology) -> None:
    model = OnlineWeights()
    later_inc, later_changes = _tied(topo, "inventory", 50_000, "later")
    before = rank(later_inc, later_changes, [], topo, weights=model.weights())
    assert before.candidates[0].cause.ref == "dep-later"  # the prior favours deploys

    # Responders confirm, three times, that the config change was the cause.
    for i, service in enumerate(["checkout", "payments", "search"]):
        inc, chs = _tied(topo, service, 10_000 * i, str(i))
        shown = rank(inc, chs, [], topo, weights=model.weights())
        assert model.update(shown.candidates, Cause(CauseType.CHANGE, f"cfg-{i}"))

    after = rank(later_inc, later_changes, [], topo, weights=model.weights())
    assert after.candidates[0].cause.ref == "cfg-later"
    assert model.weights()["kind_config"] > DEFAULT_WEIGHTS["kind_config"]
    assert model.weights()["kind_deploy"] < DEFAULT_WEIGHTS["kind_deploy"]
    # Evidence still rules: a lone deploy at the root of a clear incident stays first and confident.
    clear = rank(incident([errors("checkout"), errors("frontend")]), [change("d", "checkout", -120)], [], topo,
                 weights=model.weights())
    assert clear.candidates[0].cause.ref == "d" and clear.candidates[0].score > 0.8


def test_none_of_these_feedback_lowers_confidence_in_weak_candidates(topo: Topology) -> None:
    model = OnlineWeights()
    inc = incident([errors("checkout")])
    chs = [change("old", "checkout", -80 * 60)]
    p0 = rank(inc, chs, [], topo, weights=model.weights()).candidates
    p0_old = next(c.score for c in p0 if c.cause.ref == "old")
    for _ in range(3):
        shown = rank(inc, chs, [], topo, weights=model.weights())
        assert model.update(shown.candidates, Cause(CauseType.NONE))
    p1_old = next(c.score for c in rank(inc, chs, [], topo, weights=model.weights()).candidates
                  if c.cause.ref == "old")
    assert p1_old < p0_old


def test_a_cause_that_was_not_a_candidate_teaches_nothing(topo: Topology) -> None:
    model = OnlineWeights()
    shown = rank(incident([errors("checkout")]), [change("a", "checkout", -60)], [], topo)
    assert not model.update(shown.candidates, Cause(CauseType.CHANGE, "unrecorded"))
    assert model.weights() == dict(DEFAULT_WEIGHTS) and model.updates == 0


def test_state_round_trips_through_json_and_a_restart_ranks_the_same(topo: Topology) -> None:
    model = OnlineWeights()
    inc, chs = _tied(topo, "checkout", 0, "x")
    model.update(rank(inc, chs, [], topo).candidates, Cause(CauseType.CHANGE, "cfg-x"))
    restored = OnlineWeights.from_state(json.loads(json.dumps(model.state_dict())))
    assert restored.weights() == model.weights() and restored.updates == 1
    assert rank(inc, chs, [], topo, weights=restored.weights()) == rank(inc, chs, [], topo, weights=model.weights())
    # And both keep learning identically.
    for m in (model, restored):
        m.update(rank(inc, chs, [], topo, weights=m.weights()).candidates, Cause(CauseType.CHANGE, "cfg-x"))
    assert restored.weights() == model.weights()


def test_the_engine_ranks_with_the_learned_weights(topo: Topology) -> None:
    from daemon.core.engine import Engine
    from detectors import Detection, Direction, EventKind

    model = OnlineWeights()
    for i, service in enumerate(["checkout", "payments", "search"]):
        inc, chs = _tied(topo, service, 10_000 * i, str(i))
        model.update(rank(inc, chs, [], topo, weights=model.weights()).candidates, Cause(CauseType.CHANGE, f"cfg-{i}"))
    engine = Engine(topo, weights=model.weights)
    _, chs = _tied(topo, "inventory", 50_000, "later")
    for ch in chs:
        engine.add_change(ch)
    a = errors("inventory", at=50_000)
    out = engine.add_detection("inventory", "error_ratio", "inventory/error_ratio",
                               Detection(EventKind.SHIFT, a.onset, a.detected_at, Direction.UP, a.before, a.after, 0.99))
    inc = next(iter(out.incidents.values()))
    assert inc.ranking is not None and inc.ranking.candidates[0].cause.ref == "cfg-later"
