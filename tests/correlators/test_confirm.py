"""Confirm tests: plans, verdicts and the re-ranking they cause (correlators/confirm)."""

from __future__ import annotations

import numpy as np
import pytest

from correlators.confirm import (
    ArmData,
    ConfirmData,
    ConfirmResult,
    JudgePolicy,
    TestKind,
    Verdict,
    judge,
    plan_test,
    rerank,
)
from correlators.types import (
    Action,
    Candidate,
    Cause,
    CauseType,
    Change,
    ChangeKind,
    Ranking,
    Recommendation,
)

STEP = 30.0
DEPLOY = Change("chg-1", 1000.0, ChangeKind.DEPLOY, "checkout", attributes={"from_revision": "14", "to_revision": "15"})
CAND = Candidate(1, Cause(CauseType.CHANGE, "chg-1"), 0.4, "I think ...", "", ())


def _plan(signals: tuple[str, ...] = ("error_ratio",), onset: float = 1020.0):  # type: ignore[no-untyped-def]
    plan = plan_test(CAND, DEPLOY, signals, onset)
    assert plan is not None
    return plan


def _arm(label: str, err: float, lat: float, rate: float, steps: int, seed: int, start: float = 1020.0) -> ArmData:
    rng = np.random.default_rng(seed)
    ts = [start + STEP * i for i in range(steps)]
    n = int(rate * STEP)
    errs = [(t, float(rng.binomial(n, err) / n)) for t in ts]
    lats = [(t, float(lat * np.exp(0.1 * rng.standard_normal()))) for t in ts]
    return ArmData(label, {"error_ratio": errs, "latency_p99_seconds": lats}, [(t, rate) for t in ts])


def test_a_bad_new_version_is_confirmed_with_its_numbers() -> None:
    bad, good = _arm("15", 0.12, 0.2, 10, 6, 1), _arm("14", 0.002, 0.2, 10, 6, 2)
    r = judge(_plan(), ConfirmData("q", STEP, bad, good), 1300.0)
    assert r.verdict is Verdict.CONFIRMED
    s = r.signals[0]
    assert s.new_level > 0.08 and s.old_level < 0.01 and s.p_worse < 1e-6 and s.n_new == pytest.approx(1800)
    assert "new pods (revision 15)" in r.reason and "old (14)" in r.reason


def test_both_arms_hit_alike_is_refuted_not_confirmed() -> None:
    """A fault elsewhere raises both arms: the deploy under test is not worse than its old pods."""
    r = judge(_plan(), ConfirmData("q", STEP, _arm("15", 0.10, 0.2, 20, 8, 3), _arm("14", 0.10, 0.2, 20, 8, 4)), 1300.0)
    assert r.verdict is Verdict.REFUTED
    assert r.reason.startswith("not materially worse")


def test_significant_but_immaterial_never_confirms() -> None:
    """0.2% -> 1% is significant on a few thousand requests but under the one-point paging bar:
    not a confirmation; not a refutation either while a material rise is still within the noise."""
    r = judge(_plan(), ConfirmData("q", STEP, _arm("15", 0.011, 0.2, 20, 8, 5), _arm("14", 0.002, 0.2, 20, 8, 6)),
              1300.0)
    assert r.signals[0].p_worse < 0.001
    assert r.verdict is Verdict.INCONCLUSIVE
    assert "too little" in r.reason
    # With a hundred times the requests the same small rise is shown to be immaterial: refuted.
    big = judge(_plan(), ConfirmData("q", STEP, _arm("15", 0.006, 0.2, 400, 8, 5), _arm("14", 0.002, 0.2, 400, 8, 6)),
                1300.0)
    assert big.signals[0].p_worse < 0.001
    assert big.verdict is Verdict.REFUTED


def test_too_few_steps_and_too_few_requests_are_inconclusive() -> None:
    few = judge(_plan(), ConfirmData("q", STEP, _arm("15", 0.1, 0.2, 10, 2, 7), _arm("14", 0.0, 0.2, 10, 2, 8)), 1100.0)
    assert few.verdict is Verdict.INCONCLUSIVE and "side-by-side" in few.reason
    thin = judge(_plan(), ConfirmData("q", STEP, _arm("15", 0.002, 0.2, 0.5, 4, 9), _arm("14", 0.002, 0.2, 0.5, 4, 10)),
                 1200.0)
    assert thin.verdict is Verdict.INCONCLUSIVE


def test_no_per_version_series_says_so() -> None:
    why = "no per-version series: the metric carries no pod/version label"
    r = judge(_plan(), ConfirmData("sum by (pod) (...)", STEP, missing=why), 1300.0)
    assert r.verdict is Verdict.INCONCLUSIVE and r.reason == why and r.query == "sum by (pod) (...)"


def test_latency_by_ranks() -> None:
    plan = _plan(("latency_p99_seconds",))
    slow = judge(plan, ConfirmData("q", STEP, _arm("15", 0.0, 0.9, 10, 8, 11), _arm("14", 0.0, 0.2, 10, 8, 12)), 1300.0)
    assert slow.verdict is Verdict.CONFIRMED and slow.signals[0].test == "Mann-Whitney U"
    same = judge(plan, ConfirmData("q", STEP, _arm("15", 0.0, 0.2, 10, 8, 13), _arm("14", 0.0, 0.2, 10, 8, 14)), 1300.0)
    assert same.verdict is Verdict.REFUTED


def test_one_signal_confirms_all_must_refute() -> None:
    plan = _plan(("error_ratio", "latency_p99_seconds"))
    slow, fine = _arm("15", 0.002, 0.9, 20, 8, 15), _arm("14", 0.002, 0.2, 20, 8, 16)
    slow_only = judge(plan, ConfirmData("q", STEP, slow, fine), 1300.0)
    assert slow_only.verdict is Verdict.CONFIRMED
    assert {s.signal: s.verdict for s in slow_only.signals}["error_ratio"] is Verdict.REFUTED


def test_only_steps_after_the_change_with_both_arms_count() -> None:
    before = _arm("14", 0.002, 0.2, 20, 8, 17, start=700.0)   # the old pods before the change: not side by side
    r = judge(_plan(), ConfirmData("q", STEP, _arm("15", 0.12, 0.2, 20, 8, 18), before), 1300.0)
    assert r.verdict is Verdict.INCONCLUSIVE and r.signals[0].steps == 0


def test_a_calm_start_does_not_rule_out_what_bites_later() -> None:
    """Refuting needs side-by-side steps since the onset: before it, a slow fault is not visible yet."""
    calm = ConfirmData("q", STEP, _arm("15", 0.002, 0.2, 20, 8, 21), _arm("14", 0.002, 0.2, 20, 8, 22))
    assert judge(_plan(onset=1020.0), calm, 1300.0).verdict is Verdict.REFUTED
    late = judge(_plan(onset=1200.0), calm, 1300.0)
    assert late.verdict is Verdict.INCONCLUSIVE and "since the onset" in late.reason


def test_the_incidents_own_rise_bounds_the_margin() -> None:
    """New pods 1.3% against old 0.6%: under the one-point bar, but this incident's symptom at the
    service rose by one point, so a 0.7-point difference could be it: not refuted."""
    data = ConfirmData("q", STEP, _arm("15", 0.013, 0.2, 200, 8, 23), _arm("14", 0.006, 0.2, 200, 8, 24))
    assert judge(_plan(), data, 1300.0).verdict is Verdict.REFUTED
    plan = plan_test(CAND, DEPLOY, ("error_ratio",), 1020.0, {("checkout", "error_ratio"): 0.01})
    assert plan is not None and plan.rises == (("error_ratio", 0.01),)
    assert judge(plan, data, 1300.0).verdict is Verdict.INCONCLUSIVE


def test_policy_alpha_is_split_between_signals() -> None:
    strict = JudgePolicy(alpha=1e-12)
    r = judge(_plan(), ConfirmData("q", STEP, _arm("15", 0.04, 0.2, 2, 4, 19), _arm("14", 0.0, 0.2, 2, 4, 20)), 1300.0,
              strict)
    assert r.verdict is not Verdict.CONFIRMED


def test_plans_per_kind() -> None:
    cfg = Change("c", 0.0, ChangeKind.CONFIG, "cart", attributes={"configmap": "cart-config"})
    flag = Change("f", 0.0, ChangeKind.FEATURE_FLAG, "cart", attributes={"flag": "cart.v2"})
    assert plan_test(CAND, cfg, [], 0.0).kind is TestKind.CONFIG  # type: ignore[union-attr]
    assert plan_test(CAND, flag, [], 0.0).split == "flag_variant"  # type: ignore[union-attr]
    dep = Candidate(1, Cause(CauseType.DEPENDENCY, "db"), 0.4, "", "", ())
    assert plan_test(dep, None, ["error_ratio", "latency_p99_seconds"], 5.0).kind is TestKind.DEPENDENCY  # type: ignore[union-attr]
    traffic = Candidate(1, Cause(CauseType.TRAFFIC, "web"), 0.4, "", "", ())
    assert plan_test(traffic, None, [], 5.0).signals == ("request_rate",)  # type: ignore[union-attr]


# -- re-ranking ---------------------------------------------------------------------------------

A, B, C = (Cause(CauseType.CHANGE, x) for x in "abc")


def _ranking() -> Ranking:
    cands = (Candidate(1, A, 0.45, "I think, with low confidence (45%), a ...", "", ("a near",), "deploy a"),
             Candidate(2, B, 0.25, "I think, with low confidence (25%), b ...", "", (), "deploy b"),
             Candidate(3, C, 0.10, "I think, with low confidence (10%), c ...", "", (), "deploy c"))
    return Ranking(cands, (), Recommendation(Action.ROLLBACK, "undo a", "a"), low_confidence=True)


def _res(cause: Cause, v: Verdict, reason: str = "new 12.1% vs old 0.2%") -> ConfirmResult:
    return ConfirmResult(cause, TestKind.VERSION, v, "q", 99.0, "", reason)


def test_confirmed_rises_above_unconfirmed_and_refuted_becomes_a_dead_end() -> None:
    out = rerank(_ranking(), {A: _res(A, Verdict.REFUTED, "new 0.3% vs old 0.2%"), C: _res(C, Verdict.CONFIRMED)},
                 recommend=lambda cs: Recommendation(Action.ROLLBACK, f"undo {cs[0].cause.ref}", ""))
    assert [c.cause for c in out.candidates] == [C, B]
    assert [c.rank for c in out.candidates] == [1, 2]
    assert out.dead_ends[0].cause == A and "new 0.3% vs old 0.2%" in out.dead_ends[0].reason
    assert out.dead_ends[0].title == "deploy a"
    assert out.recommendation.command == "undo c"
    assert out.candidates[0].score > 0.5 and not out.low_confidence
    assert out.candidates[0].hypothesis == "I think c ..."
    assert out.candidates[0].evidence[-1] == "its test: confirmed: new 12.1% vs old 0.2%"
    assert out.untested == (A, B, C) and {t.cause for t in out.tests} == {A, C}
    assert sum(c.score for c in out.candidates) <= 1.0


def test_confirmed_stays_above_even_from_a_tiny_prior() -> None:
    r = _ranking()
    tiny = Ranking(r.candidates[:2] + (Candidate(3, C, 0.001, "I think c", "", ()),), (), r.recommendation)
    out = rerank(tiny, {C: _res(C, Verdict.CONFIRMED)})
    assert out.candidates[0].cause == C


def test_inconclusive_changes_nothing_but_is_recorded() -> None:
    r = _ranking()
    out = rerank(r, {A: _res(A, Verdict.INCONCLUSIVE), B: _res(B, Verdict.INCONCLUSIVE)})
    assert [(c.cause, c.score) for c in out.candidates] == [(c.cause, pytest.approx(c.score)) for c in r.candidates]
    assert out.recommendation == r.recommendation and out.low_confidence
    assert out.candidates[0].hypothesis.startswith("I think, with low confidence (45%)")
    assert len(out.tests) == 2


def test_results_round_trip_through_json() -> None:
    bad, good = _arm("15", 0.12, 0.2, 10, 6, 1), _arm("14", 0.002, 0.2, 10, 6, 2)
    r = judge(_plan(), ConfirmData("q", STEP, bad, good), 1300.0)
    assert ConfirmResult.from_json(r.to_json()).to_json() == r.to_json()
