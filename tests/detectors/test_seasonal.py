"""SeasonalCusum on daily cycles: no pages on the cycle, real steps on top of it found."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from detectors import Detection, EventKind, RobustCusum, SeasonalCusum, make_detector
from detectors.types import Detector

T0 = 1_790_000_000.0
DAY = 86_400.0
STEP = 300.0  # 5-minute samples
SEEDS = range(5)


def traffic(seed: int, days: float, amplitude: float = 0.6, noise: float = 0.05,
            weekend: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A request rate of 100 ± ``amplitude`` over the UTC day with log-normal noise."""
    rng = np.random.default_rng(seed)
    n = int(days * DAY / STEP)
    ts = T0 + STEP * np.arange(n)
    values = 100.0 * (1.0 + amplitude * np.sin(2.0 * np.pi * ts / DAY)) * np.exp(rng.normal(0.0, noise, n))
    weekday = (np.floor(ts / DAY) + 3) % 7
    return ts, values * np.where(weekday >= 5, weekend, 1.0)


def run(det: Detector, ts: np.ndarray, values: np.ndarray) -> list[tuple[int, Detection]]:
    out = []
    for i, (t, v) in enumerate(zip(ts, values, strict=True)):
        event = det.update(float(t), float(v))
        if event is not None:
            out.append((i, event))
    return out


def shift_days(events: list[tuple[int, Detection]]) -> list[float]:
    return [(e.detected_at - T0) / DAY for _, e in events if e.kind is EventKind.SHIFT]


@pytest.mark.parametrize("seed", SEEDS)
def test_daily_cycle_is_not_an_anomaly_where_the_plain_cusum_pages(seed: int) -> None:
    ts, values = traffic(seed, days=7)
    seasonal = shift_days(run(make_detector("request_rate"), ts, values))
    plain = shift_days(run(RobustCusum(), ts, values))   # what the factory gave before
    # The first day is warm-up (a plain RobustCusum); afterwards the cycle is the shape.
    assert [d for d in seasonal if d >= 1.0] == []
    assert len([d for d in plain if d >= 1.0]) >= 5
    assert len(seasonal) < len(plain)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("factor", "start_hour"), [(0.4, 3.0), (0.5, 9.5), (2.0, 14.0), (1.8, 20.0)])
def test_step_on_top_of_the_cycle_is_found_with_its_onset(
    seed: int, factor: float, start_hour: float,
) -> None:
    ts, values = traffic(seed, days=5)
    start = int((3 * DAY + start_hour * 3600.0) / STEP)
    end = start + 36  # three hours
    values[start:end] *= factor
    events = [(i, e) for i, e in run(SeasonalCusum(), ts, values) if ts[i] >= T0 + DAY]
    found = [(i, e) for i, e in events if e.kind is EventKind.SHIFT]
    assert len(found) == 1
    index, shift = found[0]
    assert abs(shift.onset - ts[start]) <= 3 * STEP
    assert index - start <= 10
    assert (shift.direction.value == "up") == (factor > 1.0)
    # Levels as they read at the deciding sample's time of day.
    expected = 100.0 * (1.0 + 0.6 * math.sin(2.0 * math.pi * ts[index] / DAY))
    assert shift.before == pytest.approx(expected, rel=0.15)
    assert shift.after == pytest.approx(expected * factor, rel=0.15)
    recoveries = [i for i, e in events if e.kind is EventKind.RECOVERY]
    assert len(recoveries) == 1 and end <= recoveries[0] <= end + 10


@pytest.mark.parametrize("seed", SEEDS)
def test_persisting_shift_on_the_cycle_pages_once(seed: int) -> None:
    ts, values = traffic(seed, days=7)
    start = int(2.5 * DAY / STEP)
    values[start:] *= 2.5
    found = [d for d in shift_days(run(SeasonalCusum(), ts, values)) if d >= 1.0]
    assert len(found) == 1 and found[0] == pytest.approx(2.5, abs=0.05)


@pytest.mark.parametrize("seed", SEEDS)
def test_glitch_is_not_learnt_and_an_incident_echoes_once_at_most(seed: int) -> None:
    ts, values = traffic(seed, days=8)
    values[50] *= 40.0                      # a glitch while the shape is learnt
    outage = int(1.6 * DAY / STEP)
    values[outage:outage + 30] *= 0.3       # a 2.5-hour outage on day 2, while the knots are young
    det = SeasonalCusum()
    events = run(det, ts, values)
    clean_ts, clean = traffic(seed, days=1, noise=0.0)
    for t, v in zip(clean_ts[::12], clean[::12], strict=True):
        # The learnt shape times the day's mean (100) is the clean cycle within 15% (the
        # outage's hours are still low by about 12% here, below what pages).
        assert 100.0 * det._shape(float(t)) == pytest.approx(v, rel=0.15)
    # One page for the outage; young knots learnt it (it recovered, as a wrong young
    # shape does), so the next day pages at that hour once; nothing after.
    later = [d for d in shift_days(events) if d >= 1.0]
    assert later[0] == pytest.approx(1.6, abs=0.02)
    assert len(later) <= 2 and all(d < 3.0 for d in later)


@pytest.mark.parametrize("seed", SEEDS)
def test_incident_after_the_young_days_is_not_learnt(seed: int) -> None:
    ts, values = traffic(seed, days=9)
    outage = int(5.6 * DAY / STEP)
    values[outage:outage + 30] *= 0.3
    later = [round(d, 2) for d in shift_days(run(SeasonalCusum(), ts, values)) if d >= 1.0]
    assert later == [pytest.approx(5.6, abs=0.02)]


@pytest.mark.parametrize("seed", SEEDS)
def test_incident_on_the_first_day_is_outvoted(seed: int) -> None:
    ts, values = traffic(seed, days=7)
    values[100:130] *= 0.3      # a 2.5-hour outage while the shape is learnt
    later = [d for d in shift_days(run(SeasonalCusum(), ts, values)) if d >= 1.0]
    # Its hours read high on day 2 (one page at most); that shift recovers, so the young
    # knots learn from it and the next days are quiet.
    assert len(later) <= 1 and all(d < 2.0 for d in later)


@pytest.mark.parametrize("seed", SEEDS)
def test_gaps_late_and_bad_samples_on_the_cycle(seed: int) -> None:
    ts, values = traffic(seed, days=4)
    det = SeasonalCusum()
    events = []
    for i, (t, v) in enumerate(zip(ts, values, strict=True)):
        if 400 <= i < 460:
            continue  # a five-hour scrape gap on day 2
        assert det.update(float(t) + 1.0, math.nan) is None
        event = det.update(float(t), float(v))
        assert det.update(float(t) - STEP, 1e9) is None
        if event is not None:
            events.append(event)
    assert [e for e in events if e.kind is EventKind.SHIFT and e.detected_at >= T0 + DAY] == []


def test_round_trip_across_the_switch_and_later() -> None:
    ts, values = traffic(7, days=4, weekend=0.6)
    values[900:940] *= 2.0
    det = SeasonalCusum(weekly=True)
    expected = run(det, ts, values)
    assert any(e.kind is EventKind.SHIFT and e.detected_at > T0 + 2 * DAY for _, e in expected)
    for cut in (287, 289, 905, 1100):
        first = SeasonalCusum(weekly=True)
        got = run(first, ts[:cut], values[:cut])
        restored = SeasonalCusum(weekly=True)
        restored.load_state(json.loads(json.dumps(first.state_dict())))
        got += [(i + cut, e) for i, e in run(restored, ts[cut:], values[cut:])]
        assert got == expected, f"cut at {cut}"


def test_round_trip_with_the_weekly_factors_on() -> None:
    ts, values = traffic(5, days=10, weekend=0.6)
    values[2700:2740] *= 2.5
    det = SeasonalCusum(weekly=True)
    expected = run(det, ts, values)
    assert det.state_dict()["weekly_on"]
    assert any(e.kind is EventKind.SHIFT and abs(e.onset - ts[2700]) <= 3 * STEP for _, e in expected)
    for cut in (2017, 2305, 2710):     # around the end of the first week, and mid-shift
        first = SeasonalCusum(weekly=True)
        got = run(first, ts[:cut], values[:cut])
        restored = SeasonalCusum(weekly=True)
        restored.load_state(json.loads(json.dumps(first.state_dict())))
        got += [(i + cut, e) for i, e in run(restored, ts[cut:], values[cut:])]
        assert got == expected, f"cut at {cut}"


def test_state_is_bounded() -> None:
    ts, values = traffic(3, days=21, weekend=0.6)
    det = SeasonalCusum(weekly=True)
    sizes = []
    for k, (t, v) in enumerate(zip(ts, values, strict=True)):
        det.update(float(t), float(v))
        if k % 500 == 0:
            sizes.append(len(json.dumps(det.state_dict())))
    own = {k: v for k, v in det.state_dict().items() if k != "inner"}
    # The shape, the week and the priming samples; the inner RobustCusum has its own
    # bounded windows (60 samples) on top of it.
    assert len(json.dumps(own)) <= 2_500
    assert max(sizes) <= 8_192


def test_bad_settings_and_state_name_the_field() -> None:
    with pytest.raises(ValueError, match="buckets"):
        SeasonalCusum(buckets=1)
    det = SeasonalCusum(buckets=24)
    state = det.state_dict()
    with pytest.raises(ValueError, match="buckets"):
        SeasonalCusum(buckets=48).load_state(state)
    state["version"] = 99
    with pytest.raises(ValueError, match="version"):
        det.load_state(state)


def test_resumes_from_a_plain_robust_cusum_checkpoint() -> None:
    """A request-rate checkpoint from before the factory made it seasonal still loads."""
    ts, values = traffic(1, days=3)
    values[700:760] *= 0.4
    plain = RobustCusum()
    run(plain, ts[:100], values[:100])
    det = SeasonalCusum()
    det.load_state(json.loads(json.dumps(plain.state_dict())))
    events = run(det, ts[100:], values[100:])
    assert det.state_dict()["seasonal_on"]
    later = [e for _, e in events if e.kind is EventKind.SHIFT and e.detected_at > ts[388]]
    assert [round((e.onset - T0) / STEP) for e in later] == [700]
