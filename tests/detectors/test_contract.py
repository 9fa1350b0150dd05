"""The contract every detector in ``detectors/`` keeps (after river's estimator checks)."""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Callable, Iterable

import numpy as np
import pytest

import detectors
from detectors import (
    Detection,
    Detector,
    Ensemble,
    EnvelopeShift,
    EventKind,
    RobustCusum,
    SeasonalCusum,
    make_detector,
)

FACTORIES: dict[str, Callable[[], Detector]] = {
    "RobustCusum": RobustCusum,
    "make_detector(error_ratio)": lambda: make_detector("error_ratio"),
    "make_detector(latency_p99_seconds)": lambda: make_detector("latency_p99_seconds"),
    "make_detector(request_rate)": lambda: make_detector("request_rate"),
    "make_detector(unknown)": lambda: make_detector("some_unknown_signal"),
    "EnvelopeShift": EnvelopeShift,
    "Ensemble": Ensemble,
    "SeasonalCusum": SeasonalCusum,
    # An hourly "day" of six knots (20 samples each; the real one has 120), so that the
    # contract's streams (at most 17 hours) run with the learnt shape on; profile_days=18
    # keeps the real per-sample learning rate (the real day is 24 times longer than this
    # one and has 4 times as many knots), young_visits=0.5 keeps the young phase short
    # beside the contract's few-hour changes, as 3.5 real days are.
    "SeasonalCusum(period=1h)": lambda: SeasonalCusum(
        period=3600.0, buckets=6, profile_days=18.0, young_visits=0.5,
    ),
}
SEEDS = range(5)
STEP = 30.0
T0 = 1_790_000_000.0


@pytest.fixture(params=list(FACTORIES), ids=list(FACTORIES))
def factory(request: pytest.FixtureRequest) -> Callable[[], Detector]:
    return FACTORIES[request.param]


def noise(seed: int, n: int, level: float = 0.2, rel_sd: float = 0.05) -> np.ndarray:
    """A positive series like a latency: ``level`` with Gaussian noise of ``rel_sd * level``."""
    rng = np.random.default_rng(seed)
    return level + rng.normal(0.0, rel_sd * level, n)


def run(det: Detector, values: Iterable[float], t0: float = T0) -> list[tuple[int, Detection]]:
    out = []
    for i, v in enumerate(values):
        ev = det.update(t0 + i * STEP, float(v))
        if ev is not None:
            out.append((i, ev))
    return out


def shifts(events: list[tuple[int, Detection]]) -> list[Detection]:
    return [e for _, e in events if e.kind is EventKind.SHIFT]


def shipped_detectors() -> set[type]:
    """Every class ``detectors`` exports whose ``update`` decides events (``-> Detection | None``)."""
    found = set()
    for name in detectors.__all__:
        obj = getattr(detectors, name)
        update = getattr(obj, "update", None)
        if isinstance(obj, type) and update is not None and not getattr(obj, "_is_protocol", False):
            if typing.get_type_hints(update).get("return") == Detection | None:
                found.add(obj)
    return found


def test_every_shipped_detector_is_under_contract() -> None:
    shipped = shipped_detectors()
    assert {EnvelopeShift, SeasonalCusum, RobustCusum, Ensemble} <= shipped  # the finder finds them
    covered = {type(make()) for make in FACTORIES.values()}
    assert shipped - covered == set(), "add every shipped detector to FACTORIES"


def test_satisfies_protocol(factory: Callable[[], Detector]) -> None:
    assert isinstance(factory(), Detector)


@pytest.mark.parametrize("seed", SEEDS)
def test_json_round_trip_mid_stream_gives_identical_output(factory: Callable[[], Detector], seed: int) -> None:
    values = noise(seed, 600)
    values[200:320] *= 3.0          # a shift and its recovery
    values[400:] *= 2.0             # a shift that persists (re-baseline)
    values[150] = math.nan
    reference = factory()
    expected = run(reference, values)
    assert shifts(expected), "the stream must exercise a detection"
    for cut in (50, 205, 260, 330, 410, 520):
        first = factory()
        got = run(first, values[:cut])
        state = json.loads(json.dumps(first.state_dict()))
        assert isinstance(state.get("version"), int)
        restored = factory()
        restored.load_state(state)
        got += [(i + cut, e) for i, e in run(restored, values[cut:], t0=T0 + cut * STEP)]
        assert got == expected, f"cut at {cut}"


def test_load_state_rejects_unknown_version(factory: Callable[[], Detector]) -> None:
    state = factory().state_dict()
    state["version"] = -1
    with pytest.raises(ValueError):
        factory().load_state(state)


@pytest.mark.parametrize("seed", SEEDS)
def test_nan_inf_and_gaps_are_no_evidence(factory: Callable[[], Detector], seed: int) -> None:
    values = noise(seed, 500)
    det = factory()
    events = []
    for i, v in enumerate(values):
        ts = T0 + i * STEP + (3600.0 if i >= 250 else 0.0)   # an hour-long scrape gap
        bad = (math.nan, math.inf, -math.inf)[i % 3] if i % 17 == 0 else None
        if bad is not None:
            assert det.update(ts - STEP / 2, bad) is None
        ev = det.update(ts, float(v))
        if ev is not None:
            events.append(ev)
    assert not [e for e in events if e.kind is EventKind.SHIFT]


@pytest.mark.parametrize("seed", SEEDS)
def test_out_of_order_and_duplicate_samples_are_ignored(factory: Callable[[], Detector], seed: int) -> None:
    values = noise(seed, 400)
    values[250:] *= 3.0
    expected = run(factory(), values)
    det = factory()
    got = []
    for i, v in enumerate(values):
        ts = T0 + i * STEP
        ev = det.update(ts, float(v))
        if ev is not None:
            got.append((i, ev))
        if i > 30 and i % 7 == 0:
            assert det.update(ts - 5 * STEP, 1e6) is None   # late and wild
            assert det.update(ts, 1e6) is None              # duplicate timestamp
    assert got == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_lone_glitch_does_not_shift(factory: Callable[[], Detector], seed: int) -> None:
    values = noise(seed, 400)
    values[200] *= 50.0
    values[300] = 0.0
    assert shifts(run(factory(), values)) == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("factor", [0.4, 1.8, 5.0])
def test_sustained_step_one_shift_with_accurate_onset(
    factory: Callable[[], Detector], seed: int, factor: float,
) -> None:
    values = noise(seed, 400, level=0.5)
    values[200:280] *= factor
    events = run(factory(), values)
    found = shifts(events)
    assert len(found) == 1
    shift = found[0]
    assert abs(shift.onset - (T0 + 200 * STEP)) <= 2 * STEP
    assert shift.detected_at >= shift.onset
    assert shift.detected_at - shift.onset <= 10 * STEP
    assert (shift.direction.value == "up") == (factor > 1)
    assert shift.before == pytest.approx(0.5, rel=0.1)
    assert shift.after == pytest.approx(0.5 * factor, rel=0.1)
    assert 0.0 <= shift.confidence <= 1.0
    recoveries = [(i, e) for i, e in events if e.kind is EventKind.RECOVERY]
    assert len(recoveries) == 1 and 280 <= recoveries[0][0] <= 290
    assert recoveries[0][1].onset == shift.onset


@pytest.mark.parametrize("seed", SEEDS)
def test_persistent_level_shift_pages_once(factory: Callable[[], Detector], seed: int) -> None:
    values = noise(seed, 2000)
    values[300:] *= 2.5
    assert len(shifts(run(factory(), values))) == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_slow_creep_is_detected(factory: Callable[[], Detector], seed: int) -> None:
    values = noise(seed, 700)
    values[200:500] *= np.linspace(1.0, 4.0, 300)   # +1% of the level per sample
    values[500:] *= 4.0
    found = shifts(run(factory(), values))
    assert found and found[0].direction.value == "up"
    assert T0 + 200 * STEP <= found[0].detected_at <= T0 + 500 * STEP


@pytest.mark.parametrize("seed", SEEDS)
def test_series_starting_mid_stream_warms_up(factory: Callable[[], Detector], seed: int) -> None:
    values = noise(seed, 300, level=1234.0, rel_sd=0.1)
    values[150:] *= 3.0
    events = run(factory(), values, t0=T0 + 86_400 * 123.456)
    found = shifts(events)
    assert len(found) == 1
    assert abs(found[0].onset - (T0 + 86_400 * 123.456 + 150 * STEP)) <= 2 * STEP
