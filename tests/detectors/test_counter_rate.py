"""CounterRate: a raw counter's resets are no anomaly, its rate steps are."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors import CounterRate, EventKind, SeasonalCusum

T0 = 1_790_000_000.0
STEP = 30.0


def counter(seed: int, rates: np.ndarray, restarts: dict[int, float]) -> np.ndarray:
    """A request counter: Poisson counts at ``rates`` per second; at index k in ``restarts``
    the process restarted that many seconds before the scrape (the counter starts at 0)."""
    rng = np.random.default_rng(seed)
    total, out = 0.0, []
    for k, rate in enumerate(rates):
        if k in restarts:
            total = float(rng.poisson(rate * restarts[k]))
        else:
            total += float(rng.poisson(rate * STEP))
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_pod_restarts_raise_nothing(seed: int) -> None:
    totals = counter(seed, np.full(600, 80.0), {150: 12.0, 151: 0.0, 400: 29.0})
    assert (np.diff(totals) < 0).sum() >= 2     # the counter really went down
    det = CounterRate()
    events = [det.update(T0 + k * STEP, float(v)) for k, v in enumerate(totals)]
    assert [e for e in events if e is not None] == []


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("factor", [0.3, 2.0])
def test_real_rate_step_is_found_across_a_restart(seed: int, factor: float) -> None:
    rates = np.full(500, 80.0)
    rates[300:380] *= factor
    totals = counter(seed, rates, {200: 10.0, 340: 5.0})
    det = CounterRate()
    found = [(k, e) for k, v in enumerate(totals) if (e := det.update(T0 + k * STEP, float(v))) is not None]
    shifts = [(k, e) for k, e in found if e.kind is EventKind.SHIFT]
    assert len(shifts) == 1
    k, shift = shifts[0]
    assert abs(shift.onset - (T0 + 300 * STEP)) <= 2 * STEP
    assert shift.before == pytest.approx(80.0, rel=0.05)
    assert shift.after == pytest.approx(80.0 * factor, rel=0.1)
    assert [e.kind for _, e in found] == [EventKind.SHIFT, EventKind.RECOVERY]


def test_bad_samples_are_ignored() -> None:
    det = CounterRate()
    assert det.update(T0, 100.0) is None
    for bad in (math.nan, math.inf, -5.0):
        assert det.update(T0 + 10.0, bad) is None
    assert det.update(T0 - 10.0, 1e9) is None        # late
    assert det.state_dict()["last"] == [T0, 100.0]


def test_wraps_any_detector() -> None:
    det = CounterRate(inner=SeasonalCusum)
    assert det.update(T0, 1.0) is None and det.update(T0 + STEP, 31.0) is None
    assert det.state_dict()["inner"]["version"] == SeasonalCusum.VERSION
