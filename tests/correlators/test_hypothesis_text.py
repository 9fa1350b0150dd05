"""Hypotheses, tests and dead ends read as plain sentences: formatted times, correct possessives, no epochs."""

from __future__ import annotations

import re
from dataclasses import replace

from correlators.ranking import RankingPolicy, rank
from correlators.signals import SignalRole
from correlators.types import ChangeKind, Ranking, ServiceInfo, Topology

from .builders import SERVICES, T0, change, errors, incident

EPOCH = re.compile(r"\b1[0-9]{9}\b")


def _texts(ranking: Ranking) -> list[str]:
    return ([t for c in ranking.candidates for t in (c.hypothesis, c.test, *c.evidence)]
            + [d.reason for d in ranking.dead_ends])


def test_config_and_infra_tests_give_times_of_day_and_plain_possessives() -> None:
    topo = Topology.from_services([*SERVICES, ServiceInfo("recommendations", "shop", calls=("catalog",))])
    inc = incident([errors("recommendations", at=0.0)])
    changes = [change("cfg", "recommendations", -120.0, ChangeKind.CONFIG, configmap="reco-config"),
               change("node", "recommendations", -300.0, ChangeKind.INFRA),
               change("scale", "recommendations", -200.0, ChangeKind.SCALE)]
    ranking = rank(inc, changes, [], topo)
    texts = _texts(ranking)
    assert texts and not [t for t in texts if EPOCH.search(t)], [t for t in texts if EPOCH.search(t)]
    assert not [t for t in texts if "recommendations's" in t]
    tests = {c.cause.ref: c.test for c in ranking.candidates if c.cause.ref in ("cfg", "node", "scale")}
    assert "recommendations' logs" in tests["cfg"] and "since 07:58 UTC" in tests["cfg"], tests["cfg"]
    assert "around 07:55 UTC" in tests["node"], tests["node"]
    assert "recommendations' replica count" in tests["scale"] and "at 07:56 UTC" in tests["scale"]
    assert T0 == 1_800_000_000.0  # the times above are T0 (08:00 UTC) minus 2, 5 and 3+ minutes


def test_a_near_zero_candidate_does_not_claim_zero_percent_confidence() -> None:
    inc = incident([errors("checkout", at=0.0), errors("frontend", at=0.0)])
    chs = [change("good", "checkout", -60.0), change("old", "search", -2400.0)]
    ranking = rank(inc, chs, [], Topology.from_services(SERVICES))
    old = next(c for c in ranking.candidates if c.cause.ref == "old")
    assert old.score < 0.005  # the case: a candidate whose confidence rounds to 0%
    assert "with low confidence (under 1%)" in old.hypothesis and "(0%)" not in old.hypothesis, old.hypothesis


def test_a_configured_role_writes_the_symptom_in_its_unit() -> None:
    """``bad_calls`` says nothing by its name; configured as errors, the hypothesis reads it as a ratio."""
    inc = incident([replace(errors("checkout"), signal="bad_calls", before=0.004, after=0.05)])
    changes = [change("chg-1", "checkout", T0 - 120)]
    topo = Topology.from_services(SERVICES)
    plain = rank(inc, changes, [], topo).candidates[0].hypothesis
    typed = rank(inc, changes, [], topo, policy=RankingPolicy(roles={"bad_calls": SignalRole.ERRORS})).candidates[0]
    assert "bad calls 0.004 → 0.05" in plain
    assert "bad calls 0.40% → 5.0%" in typed.hypothesis
