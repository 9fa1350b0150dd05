"""One incident per outage (issue 14): a resolved incident re-opens only for the same outage coming
back (the same series and the same leading cause); another outage on the same series is a new incident."""

from __future__ import annotations

import random

from correlators.types import Change, ChangeKind, IncidentState, ServiceInfo, Topology
from daemon.core.engine import Engine, EngineOutput
from daemon.core.events import ProbeResult, Sample
from daemon.core.policy import policy

from .test_real_noise import STEP, T0, normal, triggers

TOPO = Topology.from_services([
    ServiceInfo("frontend", "shop", calls=("checkout",)),
    ServiceInfo("checkout", "shop", calls=("payments",), dependencies=("redis",)),
    ServiceInfo("payments", "shop"),
])


def _engine() -> Engine:
    pol = policy(None, STEP)
    return Engine(TOPO, grouping=pol.grouping, ranking=pol.ranking)


def _feed(eng: Engine, minutes: range, rng: random.Random, *, errors: float | None = None,
          redis_up: bool = True) -> EngineOutput:
    out = EngineOutput()
    for m in minutes:
        ts = T0 + m * STEP
        out.extend(eng.ingest(ProbeResult(ts, "redis", redis_up)))
        for svc in ("frontend", "checkout", "payments"):
            for sig in ("error_ratio", "request_rate"):
                v = normal(rng, sig)
                if errors is not None and sig == "error_ratio" and svc in ("checkout", "frontend"):
                    v = errors
                out.extend(eng.ingest(Sample(ts, svc, sig, v)))
    out.extend(eng.flush())
    return out


def _first_outage(eng: Engine, rng: random.Random, *, rolled_back: bool) -> tuple[str, EngineOutput]:
    _feed(eng, range(300), rng)
    eng.ingest(Change("chg-bad", T0 + 299 * STEP, ChangeKind.DEPLOY, "checkout", "shop",
                      attributes={"from_revision": "14", "to_revision": "15"}))
    out = _feed(eng, range(300, 303), rng, errors=0.3)
    if rolled_back:
        eng.ingest(Change("chg-undo", T0 + 303 * STEP, ChangeKind.ROLLBACK, "checkout", "shop"))
    out.extend(_feed(eng, range(303, 305), rng, errors=0.3))
    out.extend(_feed(eng, range(305, 310), rng))
    (first,) = triggers(out)
    assert eng.incidents[first].state is IncidentState.RESOLVED
    return first, out


def test_a_dependency_outage_on_the_same_series_after_a_rollback_is_a_new_incident() -> None:
    eng, rng = _engine(), random.Random(21)
    first, _ = _first_outage(eng, rng, rolled_back=True)
    # Four minutes later redis fails, and checkout's (and frontend's) errors rise again: same series,
    # well within the re-open window, but another outage with another cause.
    out = _feed(eng, range(310, 314), rng)
    out.extend(_feed(eng, range(314, 320), rng, errors=0.3, redis_up=False))
    second = triggers(out)
    assert len(second) == 1 and second != [first], "its own trigger page, not an update of the first"
    inc = eng.incidents[second[0]]
    assert inc.follows == first
    assert eng.incidents[first].reopened == 0
    assert inc.ranking is not None and inc.ranking.top is not None
    assert inc.ranking.top.cause.ref == "redis", "the rolled-back deploy does not lead the later episode"


def test_the_same_deploy_flapping_re_opens_its_incident() -> None:
    """The control: no rollback, nothing else changed; the errors come back: the same outage."""
    eng, rng = _engine(), random.Random(21)
    first, _ = _first_outage(eng, rng, rolled_back=False)
    out = _feed(eng, range(310, 314), rng)
    out.extend(_feed(eng, range(314, 320), rng, errors=0.3))
    assert triggers(out) == []
    assert eng.incidents[first].reopened == 1 and eng.incidents[first].state is IncidentState.OPEN


def test_a_dependency_that_recovered_before_a_later_episode_does_not_lead_it() -> None:
    eng, rng = _engine(), random.Random(22)
    _feed(eng, range(300), rng)
    out = _feed(eng, range(300, 305), rng, errors=0.3, redis_up=False)
    out.extend(_feed(eng, range(305, 312), rng))
    (first,) = triggers(out)
    ranking = eng.incidents[first].ranking
    assert ranking is not None and ranking.top is not None and ranking.top.cause.ref == "redis"
    # redis has been healthy for seven minutes when a bad deploy of checkout breaks it again
    eng.ingest(Change("chg-bad", T0 + 311 * STEP, ChangeKind.DEPLOY, "checkout", "shop",
                      attributes={"from_revision": "14", "to_revision": "15"}))
    out = _feed(eng, range(312, 318), rng, errors=0.3)
    (second,) = triggers(out)
    assert second != first
    ranking = eng.incidents[second].ranking
    assert ranking is not None and ranking.top is not None and ranking.top.cause.ref == "chg-bad"
    assert "redis" not in [c.cause.ref for c in ranking.candidates]


def test_a_traffic_rise_over_before_a_later_episode_is_not_its_candidate() -> None:
    from correlators.incidents import IncidentTracker
    from correlators.types import Anomaly

    tracker = IncidentTracker(TOPO, policy(None, STEP).grouping)
    rise = Anomaly("frontend", "request_rate", T0, T0 + 60, "up", 100.0, 130.0, 0.9)  # remembered, no page
    tracker.add_anomaly(rise)
    tracker.recover(rise.key, T0 + 180)  # the surge is over three minutes later
    inc, _ = tracker.add_anomaly(Anomaly("checkout", "error_ratio", T0 + 480, T0 + 540, "up", 0.005, 0.3, 1.0))
    assert inc is not None and inc.traffic == [], "the earlier episode's rise is no candidate of this one"
    inc2, _ = tracker.add_anomaly(Anomaly("frontend", "request_rate", T0 + 470, T0 + 560, "up", 100.0, 130.0, 0.9))
    assert inc2 is inc and [t.onset for t in inc.traffic] == [T0 + 470], "a rise of this episode still is"
