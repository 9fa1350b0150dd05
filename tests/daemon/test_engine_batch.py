"""The batch path (a query's result per step) gives the same detections, incidents and pages as one sample at a time."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from correlators.types import Change, ChangeKind
from daemon.core.engine import Engine, default_detector_factory, object_banks
from daemon.core.events import Event, ProbeResult, Sample, SampleBatch, batched
from daemon.core.policy import policy
from daemon.sources.scenario import load_scenario

SCENARIOS = ["dev-bad_deploy-0", "dev-dependency_down-0", "dev-traffic_spike-0"]


def signal_of(s: Sample) -> str:
    return s.signal


def by_step(events: list[Event]) -> list[Event]:
    """Per timestamp: changes and probes as they come, then the samples grouped by signal (a query each)."""
    out: list[Event] = []
    for _, group in itertools.groupby(events, key=lambda e: e.ts):
        evs = list(group)
        out += [e for e in evs if not isinstance(e, Sample)]
        samples: list[Sample] = [e for e in evs if isinstance(e, Sample)]
        ordered = sorted(samples, key=signal_of)
        out += ordered
    return out


def run(engine: Engine, events: list[Event]) -> dict[str, Any]:
    pages, anomalies, recoveries = [], [], []
    for ev in events:
        out = engine.ingest(ev)
        pages += out.pages
        anomalies += out.anomalies
        recoveries += out.recoveries
    pages += engine.flush().pages
    return {"pages": pages, "anomalies": anomalies, "recoveries": recoveries,
            "incidents": sorted((i.to_json() for i in engine.incidents.values()), key=lambda d: d["id"])}


def engine_for(scenario: Any, **kw: Any) -> Engine:
    pol = policy(None, scenario.step)
    return Engine(scenario.topology, grouping=pol.grouping, ranking=pol.ranking, **kw)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_through_batches_equals_one_sample_at_a_time(dev_scenarios: Path, name: str) -> None:
    sc = load_scenario(dev_scenarios / name)
    events = by_step(list(sc.events()))
    steps = list(batched(events))
    assert max(len(e) for e in steps if isinstance(e, SampleBatch)) >= 5, "whole steps, not single samples"
    one_by_one = run(engine_for(sc, bank_factory=object_banks(default_detector_factory)), events)
    in_batches = run(engine_for(sc), steps)
    assert one_by_one["anomalies"], "the scenario must exercise detection"
    assert in_batches == one_by_one
    # and the vectorised banks fed one sample at a time (the replay path) agree too
    assert run(engine_for(sc), events) == one_by_one


def many_series_events(n_pods: int = 40, steps: int = 240) -> list[Event]:
    """Per-pod error ratios and request rates of three services; checkout's pods fail after a deploy."""
    import random
    rng = random.Random(5)
    out: list[Event] = []
    t0, step = 1_790_000_000.0, 15.0
    for k in range(steps):
        ts = t0 + k * step
        if k == 150:
            out.append(Change("deploy-checkout", ts - 20, ChangeKind.DEPLOY, "checkout", summary="checkout rev 15"))
        if k % 4 == 0:
            out.append(ProbeResult(ts, "db", True))
        for sig in ("error_ratio", "request_rate"):
            for svc in ("checkout", "frontend", "search"):
                for p in range(n_pods):
                    if sig == "error_ratio":
                        v = 0.004 * (1 + 0.2 * rng.uniform(-1, 1))
                        if svc == "checkout" and k >= 150 and p % 2 == 0:
                            v += 0.08
                    else:
                        v = 100 * (1 + 0.05 * rng.uniform(-1, 1))
                    if rng.random() < 0.02:
                        v = float("nan")            # scrape gaps
                    out.append(Sample(ts, svc, sig, v, f"{svc}/{sig}{{pod=p{p}}}"))
    return out


def test_many_series_page_the_same_and_restore_mid_stream() -> None:
    from correlators.types import ServiceInfo, Topology
    topo = Topology.from_services([ServiceInfo("frontend", "shop", ("checkout", "search")),
                                   ServiceInfo("checkout", "shop"), ServiceInfo("search", "shop")])
    pol = policy(None, 15.0)
    events = many_series_events()
    steps = list(batched(events))

    def engine(**kw: Any) -> Engine:
        return Engine(topo, grouping=pol.grouping, ranking=pol.ranking, **kw)

    ref = run(engine(bank_factory=object_banks(default_detector_factory)), events)
    assert ref["pages"] and len(ref["anomalies"]) >= 20
    assert run(engine(), steps) == ref
    # a checkpoint mid-stream (in the middle of the shift), through JSON, resumes identically
    cut = next(i for i, e in enumerate(steps) if e.ts >= 1_790_000_000.0 + 153 * 15.0)
    first = engine()
    head = run(first, steps[:cut])
    second = engine()
    second.load_state(json.loads(json.dumps(first.state_dict())))
    second.tracker = first.tracker  # incidents come back from the store in the daemon
    tail = run(second, steps[cut:])
    assert head["anomalies"] + tail["anomalies"] == ref["anomalies"]
    assert head["pages"] + tail["pages"][:len(ref["pages"]) - len(head["pages"])] == ref["pages"]


def test_series_handed_over_between_engines_stay_warm() -> None:
    from correlators.types import ServiceInfo, Topology
    topo = Topology.from_services([ServiceInfo(s, "shop") for s in ("checkout", "frontend", "search")])
    steps = list(batched(many_series_events(n_pods=10)))
    ref, a, b = Engine(topo), Engine(topo), Engine(topo)
    found_ref: list[tuple[float, str, Any]] = []
    found: list[tuple[float, str, Any]] = []
    for k, ev in enumerate(steps):
        if not isinstance(ev, SampleBatch):
            continue
        found_ref += [(ev.ts, ev.keys[i], d) for i, d in ref.detect_batch(ev)]
        if k == len(steps) // 2:  # half of the series move from a to b (a reshard), through JSON
            moving = [key for key in a.series_keys() if hash(key) % 2]
            for key in moving:
                sig, state = a.series_state(key)
                b.load_series(key, sig, json.loads(json.dumps(state)))
                a.drop_series(key)
            assert set(a.series_keys()).isdisjoint(b.series_keys())
        mine = set(b.series_keys())
        for eng, in_b in ((a, False), (b, True)):
            idx = [i for i, key in enumerate(ev.keys) if (key in mine) == in_b]
            sub = SampleBatch(ev.ts, ev.signal, tuple(ev.services[i] for i in idx), tuple(ev.keys[i] for i in idx),
                              tuple(ev.values[i] for i in idx))
            found += [(ev.ts, sub.keys[i], d) for i, d in eng.detect_batch(sub)]
    assert found_ref and sorted(found, key=repr) == sorted(found_ref, key=repr)
    assert a.series_count + b.series_count == ref.series_count


def test_a_series_keeps_its_first_signals_bank() -> None:
    from correlators.types import ServiceInfo, Topology
    topo = Topology.from_services([ServiceInfo("api", "x")])
    one, batch = Engine(topo, bank_factory=object_banks(default_detector_factory)), Engine(topo)
    evs: list[Event] = []
    for k in range(120):
        evs.append(Sample(float(k), "api", "error_ratio", 0.01 + (0.2 if k > 80 else 0.0), "api/shared"))
        evs.append(Sample(float(k) + 0.5, "api", "latency", 1.0 + (k % 2) * 0.1, "api/shared"))
    assert run(batch, list(batched(evs))) == run(one, evs)
    assert batch.series_state("api/shared")[0] == "error_ratio"


def test_load_series_rejects_a_bad_state_and_keeps_the_old_one() -> None:
    from correlators.types import ServiceInfo, Topology
    eng = Engine(Topology.from_services([ServiceInfo("api", "x")]))
    eng.ingest(SampleBatch(0.0, "error_ratio", ("api",), ("api/error_ratio",), (0.01,)))
    before = eng.series_state("api/error_ratio")
    with pytest.raises(ValueError, match="version"):
        eng.load_series("api/error_ratio", "error_ratio", {"version": 7})
    assert eng.series_state("api/error_ratio") == before
    eng.drop_series("api/error_ratio")
    eng.drop_series("api/error_ratio")
    assert eng.series_count == 0


def test_checkpoints_of_the_per_series_format_still_load() -> None:
    """Version 1 (one detector state per series, older releases) restores into the banks."""
    from correlators.types import ServiceInfo, Topology
    topo = Topology.from_services([ServiceInfo(s, "shop") for s in ("checkout", "frontend", "search")])
    steps = list(batched(many_series_events(n_pods=5)))
    ref, first = Engine(topo), Engine(topo)
    cut = len(steps) * 2 // 3
    expected = [d for ev in steps for d in ref.ingest(ev).anomalies]
    got = [d for ev in steps[:cut] for d in first.ingest(ev).anomalies]
    v1 = {"version": 1, "now": first.now, "health": first.health_tracker.state_dict(),
          "detectors": {k: {"signal": first.series_state(k)[0], "state": first.series_state(k)[1]}
                        for k in first.series_keys()}}
    second = Engine(topo)
    second.load_state(json.loads(json.dumps(v1)))
    second.tracker = first.tracker
    got += [d for ev in steps[cut:] for d in second.ingest(ev).anomalies]
    assert expected and got == expected
    with pytest.raises(ValueError, match="version"):
        second.load_state({"version": 3})


def test_traffic_is_observed_in_sample_order_around_detections() -> None:
    """Ranking at a detection sees the request rates of the samples before it in the step, not after:
    the batch path interleaves traffic and detections exactly as one sample at a time does."""
    from correlators.traffic import TrafficWindow
    from correlators.types import ServiceInfo, Topology

    def traced(engine: Engine, log: list[tuple[str, str]]) -> Engine:
        class Window(TrafficWindow):
            def observe(self, service: str, signal: str, ts: float, value: float) -> None:
                log.append(("observe", service))
                super().observe(service, signal, ts, value)
        engine._traffic = Window()
        add = engine.add_detection

        def add_detection(service: str, signal: str, series: str, d: Any) -> Any:
            log.append(("detect", series))
            return add(service, signal, series, d)
        engine.add_detection = add_detection  # type: ignore[method-assign]
        return engine

    topo = Topology.from_services([ServiceInfo(s, "shop") for s in ("checkout", "frontend", "search")])
    events = [e for e in many_series_events(n_pods=6) if not isinstance(e, Sample) or e.signal == "request_rate"]
    for k, e in enumerate(events):  # a traffic surge on some pods from step 150 on
        if isinstance(e, Sample) and e.ts >= 1_790_000_000.0 + 150 * 15.0 and e.series.endswith(("p1}", "p4}")):
            events[k] = Sample(e.ts, e.service, e.signal, e.value * 4, e.series)
    one_log: list[tuple[str, str]] = []
    batch_log: list[tuple[str, str]] = []
    run(traced(Engine(topo, bank_factory=object_banks(default_detector_factory)), one_log), events)
    run(traced(Engine(topo), batch_log), list(batched(events)))
    detections = [i for i, (what, _) in enumerate(one_log) if what == "detect"]
    assert detections and any(one_log[i + 1][0] == "observe" for i in detections), "detections mid-step"
    assert batch_log == one_log


def test_replay_in_steps_batches_every_sample_once(dev_scenarios: Path) -> None:
    from collections import Counter

    from daemon.core.replay import InSteps, replay
    sc = load_scenario(dev_scenarios / "dev-bad_deploy-0")
    stepped = list(InSteps(sc).events())
    flat = [s for e in stepped for s in (e.samples() if isinstance(e, SampleBatch) else [e])]
    assert Counter(map(repr, flat)) == Counter(map(repr, sc.events()))
    assert [e.ts for e in stepped] == sorted(e.ts for e in stepped)
    batches = [e for e in stepped if isinstance(e, SampleBatch)]
    pairs = {(e.ts, e.signal) for e in sc.events() if isinstance(e, Sample)}
    assert len(batches) == len(pairs) and max(map(len, batches)) == 12, "one batch per signal and step"
    assert replay(InSteps(sc))["incidents"] == replay(sc)["incidents"]
