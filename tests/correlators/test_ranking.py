"""One test per kind of evidence the ranking weighs, plus recommendations and calibration."""

from __future__ import annotations

from correlators.ranking import rank
from correlators.types import Action, Cause, CauseType, ChangeKind, Ranking, Topology

from .builders import change, down, errors, incident, slow, surge


def ids(r: Ranking) -> list[str]:
    return [c.cause.ref if c.cause.type is not CauseType.NONE else "none" for c in r.candidates]


def dead(r: Ranking) -> dict[str, str]:
    return {d.cause.ref: d.reason for d in r.dead_ends}


# -- timing -----------------------------------------------------------------------------------

def test_timing_recent_change_beats_old_one_and_after_onset_is_a_dead_end(topo: Topology) -> None:
    inc = incident([errors("checkout"), errors("frontend", at=30)])
    r = rank(inc, [change("old", "checkout", -90 * 60), change("recent", "checkout", -120),
                   change("late", "checkout", +600)], [], topo)
    assert ids(r)[0] == "recent"
    assert ids(r).index("old") > 0
    assert "late" not in ids(r)
    assert "after the anomaly had begun" in dead(r)["late"]


def test_timing_change_within_the_onset_estimates_tolerance_is_not_ruled_out(topo: Topology) -> None:
    inc = incident([errors("checkout")])
    r = rank(inc, [change("just-after", "checkout", +30)], [], topo)
    assert ids(r)[0] == "just-after"
    assert 0.0 < r.candidates[0].features["after_onset"] < 1.0


def test_timing_slow_creep_an_hour_later_is_still_a_candidate(topo: Topology) -> None:
    inc = incident([errors("inventory"), errors("checkout", at=60)])
    r = rank(inc, [change("leak", "inventory", -55 * 60)], [], topo)
    assert ids(r)[0] == "leak"


# -- scope ------------------------------------------------------------------------------------

def test_same_service_root_beats_a_change_at_an_anomalous_caller(topo: Topology) -> None:
    inc = incident([errors("checkout"), errors("frontend")])
    r = rank(inc, [change("at-checkout", "checkout", -120), change("at-frontend", "frontend", -60)], [], topo)
    assert ids(r)[0] == "at-checkout"
    top = r.candidates[0]
    assert top.features["same_service"] == 1.0 and top.features["root"] == 1.0
    assert any("every other anomalous service calls it" in e for e in top.evidence)


def test_callee_deploy_surfacing_only_at_its_callers(topo: Topology) -> None:
    # payments itself looks fine (its own error metric may not even exist); its callers fail.
    inc = incident([errors("checkout"), errors("frontend", at=30)])
    r = rank(inc, [change("payments-deploy", "payments", -120), change("search-deploy", "search", -60)], [], topo)
    assert ids(r)[0] == "payments-deploy"
    assert r.candidates[0].features["callee"] == 1.0
    assert r.candidates[0].score > 0.8  # explaining every caller through the call graph is strong evidence
    assert any("no anomaly of its own" in e for e in r.candidates[0].evidence)


def test_callee_deploy_beats_an_old_release_of_the_only_anomalous_caller(topo: Topology) -> None:
    inc = incident([errors("frontend")])
    r = rank(inc, [change("payments-deploy", "payments", -180), change("old-frontend", "frontend", -54 * 60)],
             [], topo)
    assert ids(r)[:2] == ["payments-deploy", "old-frontend"]


def test_shared_dependency_down_beats_a_change_that_explains_half(topo: Topology) -> None:
    inc = incident([errors("inventory"), errors("catalog"), errors("checkout", at=30), errors("search", at=30)])
    r = rank(inc, [change("inv", "inventory", -300)], [down("inventory-db", -60)], topo)
    assert ids(r)[0] == "inventory-db"
    assert r.candidates[0].features["shared"] == 1.0
    assert r.candidates[0].cause == Cause(CauseType.DEPENDENCY, "inventory-db")
    assert r.candidates[0].score > 0.9


def test_unrelated_service_is_a_dead_end(topo: Topology) -> None:
    inc = incident([errors("checkout")])
    r = rank(inc, [change("mail", "mailer", -60)], [], topo)
    assert "mail" not in ids(r)
    assert "not on any call path" in dead(r)["mail"]


def test_dependency_healthy_or_recovered_before_onset_is_a_dead_end(topo: Topology) -> None:
    inc = incident([errors("payments"), errors("checkout")])
    r = rank(inc, [], [down("payments-gateway", -3600), down("payments-gateway", -3540, healthy=True)], topo)
    assert "payments-gateway" not in ids(r)
    assert "recovered" in dead(r)["payments-gateway"]
    r = rank(incident([errors("inventory")]), [], [], topo)
    assert "stayed healthy" in dead(r)["inventory-db"]


# -- coverage and differential ----------------------------------------------------------------

def test_coverage_and_differential(topo: Topology) -> None:
    # Two deploys at the same instant: checkout's explains checkout and frontend; search's explains
    # frontend only, and checkout (anomalous too) is out of its reach.
    inc = incident([errors("checkout"), errors("frontend")])
    r = rank(inc, [change("chk", "checkout", -120), change("srch", "search", -120)], [], topo)
    by_id = {c.cause.ref: c for c in r.candidates}
    assert ids(r)[0] == "chk"
    assert by_id["chk"].features["coverage"] == 1.0 and by_id["chk"].features["unexplained"] == 0.0
    assert by_id["srch"].features["unexplained"] == 0.5
    assert any("cannot reach checkout" in e for e in by_id["srch"].evidence)


def test_differential_the_dependency_whose_other_users_stay_healthy_ranks_lower(topo: Topology) -> None:
    # Both dependencies fail at once and each reaches two of the three anomalous services; but
    # catalog also uses inventory-db and is fine, while every user of payments-gateway is hit.
    inc = incident([errors("payments"), errors("inventory"), errors("checkout", at=30)])
    r = rank(inc, [], [down("payments-gateway", -60), down("inventory-db", -60)], topo)
    order = ids(r)
    assert order.index("payments-gateway") < order.index("inventory-db")


def test_dependency_with_quiet_users_is_weaker(topo: Topology) -> None:
    # inventory-db is used by inventory and catalog; only inventory's side is anomalous.
    inc = incident([errors("inventory"), errors("checkout", at=30)])
    r = rank(inc, [], [down("inventory-db", -60)], topo)
    cand = next(c for c in r.candidates if c.cause.ref == "inventory-db")
    assert cand.features["quiet_users"] == 0.5
    assert any("catalog also use" in e for e in cand.evidence)


# -- signal shape -----------------------------------------------------------------------------

def test_shape_latency_up_with_traffic_up_and_errors_flat_is_load(topo: Topology) -> None:
    traffic = [surge("frontend"), surge("checkout"), surge("search")]
    inc = incident([slow("frontend"), slow("checkout"), slow("search")], traffic)
    r = rank(inc, [change("chk", "checkout", -60)], [], topo)
    assert r.candidates[0].cause == Cause(CauseType.TRAFFIC, "frontend")
    assert r.candidates[0].features["load_shape"] == 1.0


def test_shape_decides_how_sure_the_load_hypothesis_is(topo: Topology) -> None:
    traffic = [surge("frontend"), surge("checkout"), surge("search")]
    chs = [change("chk", "checkout", -60)]
    load = rank(incident([slow("frontend"), slow("checkout")], traffic), chs, [], topo)
    faulty = rank(incident([errors("frontend"), errors("checkout")], traffic), chs, [], topo)
    assert load.candidates[0].cause.type is CauseType.TRAFFIC and load.candidates[0].score > 0.8
    assert faulty.candidates[0].cause.ref == "chk"
    assert next(c.score for c in faulty.candidates if c.cause.type is CauseType.TRAFFIC) < 0.5


def test_shape_errors_with_the_same_traffic_point_to_the_change(topo: Topology) -> None:
    traffic = [surge("frontend", before=100, after=130)]
    inc = incident([errors("checkout"), errors("frontend")], traffic)
    r = rank(inc, [change("chk", "checkout", -60)], [], topo)
    assert ids(r)[0] == "chk"
    assert "frontend" not in ids(r)  # a 1.3x rise is not a surge (RankingPolicy.min_surge): no load candidate


def test_a_real_surge_is_a_candidate_below_the_change_when_errors_rose(topo: Topology) -> None:
    inc = incident([errors("checkout"), errors("frontend")], [surge("frontend", before=100, after=200)])
    r = rank(inc, [change("chk", "checkout", -60)], [], topo)
    assert ids(r)[0] == "chk"
    assert ids(r).index("frontend") > 0


# -- priors -----------------------------------------------------------------------------------

def test_kind_prior_deploy_above_scale_at_the_same_instant(topo: Topology) -> None:
    inc = incident([errors("checkout")])
    r = rank(inc, [change("scale", "checkout", -120, ChangeKind.SCALE), change("dep", "checkout", -120)], [], topo)
    assert ids(r)[:2] == ["dep", "scale"]
    assert r.candidates[0].features["kind_deploy"] == 1.0


# -- recommendations (15-minute rule) -------------------------------------------------------

def test_deploy_with_clean_path_gets_the_exact_rollback_command(topo: Topology) -> None:
    r = rank(incident([errors("checkout")]), [change("dep", "checkout", -120)], [], topo)
    assert r.recommendation.action is Action.ROLLBACK
    assert r.recommendation.command == "kubectl rollout undo deployment/checkout -n shop --to-revision=14"


def test_migration_gets_mitigation_first(topo: Topology) -> None:
    r = rank(incident([errors("checkout")]), [change("dep", "checkout", -120, migration=True)], [], topo)
    assert r.recommendation.action is Action.MITIGATE
    assert "--to-revision" not in r.recommendation.command
    assert "migration" in r.recommendation.why


def test_flag_gets_disable_the_flag(topo: Topology) -> None:
    r = rank(incident([errors("checkout")]),
             [change("flag", "checkout", -60, ChangeKind.FEATURE_FLAG, flag="fast-checkout")], [], topo)
    assert r.recommendation.action is Action.MITIGATE
    assert "fast-checkout" in r.recommendation.command


def test_dependency_gets_failover(topo: Topology) -> None:
    r = rank(incident([errors("payments"), errors("checkout")]), [], [down("payments-gateway", -60)], topo)
    assert r.candidates[0].cause.ref == "payments-gateway"
    assert r.recommendation.action is Action.FAILOVER
    assert "payments-gateway" in r.recommendation.command


def test_traffic_gets_scale_out(topo: Topology) -> None:
    inc = incident([slow("frontend"), slow("checkout")], [surge("frontend"), surge("checkout")])
    r = rank(inc, [], [], topo)
    assert r.recommendation.action is Action.SCALE_OUT


# -- none of these, calibration -----------------------------------------------------------

def test_none_of_these_when_nothing_explains(topo: Topology) -> None:
    r = rank(incident([errors("checkout")]), [change("mail", "mailer", -60)], [], topo)
    assert r.candidates[0].cause.type is CauseType.NONE
    assert r.low_confidence
    assert r.recommendation.action is Action.INVESTIGATE


def test_scores_are_probabilities_and_low_confidence_is_said_plainly(topo: Topology) -> None:
    # Two deploys of the same service, 10 s apart: nothing tells them apart.
    inc = incident([errors("checkout")])
    r = rank(inc, [change("a", "checkout", -120), change("b", "checkout", -110)], [], topo)
    scores = [c.score for c in r.candidates]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(scores) <= 1.0 + 1e-9
    assert scores == sorted(scores, reverse=True)
    assert r.low_confidence
    assert r.candidates[0].hypothesis.startswith("I think, with low confidence")
    # A clear case is confident and says so without hedging.
    clear = rank(incident([errors("checkout"), errors("frontend")]), [change("a", "checkout", -120)], [], topo)
    assert clear.candidates[0].score > 0.8 and not clear.low_confidence
    assert clear.candidates[0].hypothesis.startswith("I think ") and "low confidence" not in clear.candidates[0].hypothesis


def test_every_candidate_has_hypothesis_test_and_evidence(topo: Topology) -> None:
    inc = incident([errors("inventory"), errors("checkout", at=30)], [surge("frontend", before=100, after=120)])
    r = rank(inc, [change("inv", "inventory", -120), change("cfg", "checkout", -300, ChangeKind.CONFIG),
                   change("mail", "mailer", -60)], [down("inventory-db", -60)], topo)
    for c in r.candidates:
        assert c.hypothesis and c.test
        if c.cause.type is not CauseType.NONE:
            assert c.hypothesis.startswith("I think") and " because " in c.hypothesis
            assert c.evidence
    assert "mail" in {d.cause.ref for d in r.dead_ends}
    assert all(d.reason for d in r.dead_ends)


def test_ranking_is_deterministic(topo: Topology) -> None:
    inc = incident([errors("checkout"), errors("frontend")])
    chs = [change("a", "checkout", -120), change("b", "frontend", -60), change("c", "search", -30)]
    assert rank(inc, chs, [], topo) == rank(inc, list(reversed(chs)), [], topo)
