"""Grouping: one outage across services is one incident with one page; noise does not page."""

from __future__ import annotations

from correlators.incidents import GroupingPolicy, IncidentTracker, PageKind
from correlators.types import Anomaly, IncidentState, Topology
from daemon.core.engine import Engine
from detectors import Detection, Direction, EventKind

from .builders import T0, errors


def _detect(engine: Engine, a: Anomaly) -> list:
    d = Detection(EventKind.SHIFT, a.onset, a.detected_at, Direction.UP, a.before, a.after, a.confidence)
    return engine.add_detection(a.service, a.signal, f"{a.service}/{a.signal}", d).pages


def test_an_anomaly_bridging_two_incidents_merges_them_and_pages_once(topo: Topology) -> None:
    engine = Engine(topo)
    # payments and search share nothing; frontend calls both. All three seen at the same instant.
    pages = _detect(engine, errors("payments")) + _detect(engine, errors("search"))
    assert len(engine.tracker.open_incidents()) == 2
    pages += _detect(engine, errors("frontend"))
    assert not pages  # nobody is woken before the instant's detections are all in
    pages += engine.flush().pages
    open_ = list(engine.tracker.open_incidents())
    assert len(open_) == 1 and set(open_[0].services) == {"payments", "search", "frontend"}
    assert [p.kind for p in pages] == [PageKind.TRIGGER]
    assert pages[0].ts == T0 + 90  # dated at the detections
    merged = [i for i in engine.incidents.values() if i.state is IncidentState.MERGED]
    assert len(merged) == 1 and merged[0].merged_into == open_[0].id


def test_the_merged_away_incident_is_in_the_output_so_it_is_saved_as_merged(topo: Topology) -> None:
    engine = Engine(topo)
    _detect(engine, errors("payments"))
    _detect(engine, errors("search"))
    a = errors("frontend")
    out = engine.add_detection(a.service, a.signal, f"{a.service}/{a.signal}",
                               Detection(EventKind.SHIFT, a.onset, a.detected_at, Direction.UP, a.before, a.after,
                                         a.confidence))
    states = sorted(inc.state.value for inc in out.incidents.values())
    assert states == ["merged", "open"]


def test_the_engine_forgets_incidents_long_resolved_and_the_replay_engine_does_not(topo: Topology) -> None:
    policy = GroupingPolicy()
    daemon_like, replay_like = Engine(topo, forget_incidents_after=3600.0), Engine(topo)
    for engine in (daemon_like, replay_like):
        for k in range(30):  # thirty separate outages, a day apart
            a = errors("checkout", at=k * 86400.0)
            series = f"{a.service}/{a.signal}"
            engine.add_detection(a.service, a.signal, series, Detection(
                EventKind.SHIFT, a.onset, a.detected_at, Direction.UP, a.before, a.after, a.confidence))
            engine.flush()
            engine.add_detection(a.service, a.signal, series, Detection(
                EventKind.RECOVERY, a.onset, a.detected_at + 600.0, Direction.DOWN, a.after, a.before, 1.0))
            engine.flush()
    assert len(replay_like.incidents) == 30
    # Only what could still re-open (resolved within reopen_within + window + an hour) is kept.
    assert len(daemon_like.incidents) == 1
    assert policy.reopen_within + policy.window + 3600.0 < 86400.0


def test_an_unrelated_service_at_the_same_time_is_another_incident(topo: Topology) -> None:
    engine = Engine(topo)
    _detect(engine, errors("checkout"))
    _detect(engine, errors("mailer"))
    pages = engine.flush().pages
    assert len(engine.tracker.open_incidents()) == 2 and len(pages) == 2


def test_a_small_wobble_at_one_service_never_pages_but_a_material_one_does(topo: Topology) -> None:
    tracker = IncidentTracker(topo)
    wobble = Anomaly("checkout", "error_ratio", T0, T0 + 90, "up", 0.0013, 0.0026, 0.98)
    inc, _ = tracker.add_anomaly(wobble)
    assert inc is not None and not tracker.should_page(inc)
    tracker.recover("checkout/error_ratio", T0 + 1200)
    flap = Anomaly("checkout", "error_ratio", T0 + 1500, T0 + 1590, "up", 0.0014, 0.0029, 0.98)
    inc2, _ = tracker.add_anomaly(flap)
    assert inc2 is inc and not tracker.should_page(inc)  # flapping noise stays one unpaged incident
    inc3, _ = tracker.add_anomaly(errors("checkout", at=1600))
    assert inc3 is inc and tracker.should_page(inc)


def test_immaterial_shifts_never_page_however_many_services_show_them(topo: Topology) -> None:
    """0.6% -> 0.95% errors is significant but nobody feels it: recorded as one incident, never paged."""
    tracker = IncidentTracker(topo)
    inc = None
    for i, svc in enumerate(["payments", "checkout", "frontend"]):
        inc, _ = tracker.add_anomaly(errors(svc, at=60 * i, before=0.006, after=0.0095))
        assert inc is not None
        assert not tracker.should_page(inc)
    assert inc is not None and len(inc.services) == 3


def test_a_series_flapping_while_its_incident_is_open_joins_it(topo: Topology) -> None:
    tracker = IncidentTracker(topo, GroupingPolicy(window=600, reopen_within=600))
    first, _ = tracker.add_anomaly(errors("checkout"))
    tracker.add_anomaly(errors("frontend", at=30))
    tracker.recover("frontend/error_ratio", T0 + 1300)
    again, actions = tracker.add_anomaly(errors("frontend", at=1320))  # far from the onset, but a flap
    assert again is first and not actions
    later, _ = tracker.add_anomaly(errors("search", at=5000))  # a new outage much later
    assert later is not first


def test_a_latency_drop_reported_as_up_is_not_material() -> None:
    odd = Anomaly("s", "latency_p99_seconds", T0, T0, "up", 0.55, 0.38, 0.99)
    assert not GroupingPolicy().is_material(odd)
