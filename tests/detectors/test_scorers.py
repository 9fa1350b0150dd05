"""The contract of the anomaly scorers (``update(ts, value) -> float``) and what each one is for."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from detectors import (
    AnomalyLikelihood,
    Ensemble,
    RangeExceedance,
    SeasonalResidual,
    SubsequenceDiscord,
    TransitionNovelty,
)

T0 = 1_790_000_000.0
STEP = 900.0                      # 96 samples a day


class _EnsembleScore:
    """The ensemble's score as a scorer (its events are covered by the detector contract)."""

    def __init__(self) -> None:
        self.inner = Ensemble()

    def update(self, ts: float, value: float) -> float:
        self.inner.update(ts, value)
        return self.inner.score

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state)


SCORERS: dict[str, Callable[[], Any]] = {
    "RangeExceedance": lambda: RangeExceedance(horizon=500),
    "TransitionNovelty": lambda: TransitionNovelty(warmup=100),
    "SubsequenceDiscord": lambda: SubsequenceDiscord(length=16, horizon=300),
    "AnomalyLikelihood": lambda: AnomalyLikelihood(learning=100),
    "SeasonalResidual": lambda: SeasonalResidual(buckets=24, warm_days=1.0),
    "Ensemble.score": _EnsembleScore,
}


@pytest.fixture(params=list(SCORERS), ids=list(SCORERS))
def make(request: pytest.FixtureRequest) -> Callable[[], Any]:
    return SCORERS[request.param]


def daily(n: int, seed: int, per_day: int = 96) -> np.ndarray:
    """A noisy daily square wave: high by day, low by night."""
    rng = np.random.default_rng(seed)
    phase = np.arange(n) % per_day
    return np.where((phase >= 30) & (phase < 70), 80.0, 20.0) + rng.normal(0.0, 2.0, n)


def feed(scorer: Any, values: np.ndarray, start: int = 0) -> list[float]:
    return [scorer.update(T0 + (start + i) * STEP, float(v)) for i, v in enumerate(values)]


def stream(seed: int) -> np.ndarray:
    values = daily(1500, seed)
    values[900:940] = 50.0 + values[900:940] * 0.05     # a day that goes flat
    values[1200] = 400.0                                 # a spike
    values[300] = math.nan
    return values / 100.0                                # scorers see any range: raw scores in [0, 1] too


@pytest.mark.parametrize("seed", range(3))
def test_json_round_trip_mid_stream_gives_identical_scores(make: Callable[[], Any], seed: int) -> None:
    values = stream(seed)
    expected = feed(make(), values)
    assert max(expected) > 0.0, "the stream must exercise the scorer"
    for cut in (50, 301, 910, 1201):
        first = make()
        got = feed(first, values[:cut])
        state = json.loads(json.dumps(first.state_dict()))
        assert isinstance(state.get("version"), int)
        restored = make()
        restored.load_state(state)
        got += feed(restored, values[cut:], start=cut)
        assert got == expected, f"cut at {cut}"


def test_unknown_state_version_is_refused(make: Callable[[], Any]) -> None:
    state = make().state_dict()
    state["version"] = 999
    with pytest.raises(ValueError, match="version"):
        make().load_state(state)


def test_nan_inf_late_and_duplicate_samples_score_zero_and_change_nothing(make: Callable[[], Any]) -> None:
    values = stream(1)[:700]
    clean = make()
    expected = feed(clean, values)
    noisy = make()
    got = []
    for i, v in enumerate(values):
        ts = T0 + i * STEP
        got.append(noisy.update(ts, float(v)))
        if i % 97 == 5:
            assert noisy.update(ts + 1.0, math.nan) == 0.0
            assert noisy.update(ts + 2.0, math.inf) == 0.0
            # late (the NaN's timestamp is already past) and duplicate samples
            assert noisy.update(ts, float(v)) == 0.0
    # Non-finite samples are not evidence and do not advance anything but the clock.
    assert got == expected


def test_scores_are_in_unit_interval(make: Callable[[], Any]) -> None:
    scores = feed(make(), stream(2))
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_likelihood_is_calibrated_on_noise() -> None:
    """On raw scores that are pure noise, p <= 1e-5 (score >= 0.5) is rare, and p <= 1e-3 (0.3) about that rare."""
    rng = np.random.default_rng(11)
    lik = AnomalyLikelihood()
    scores = np.array(feed(lik, rng.uniform(0.0, 0.2, 50_000)))
    assert (scores >= 0.5).sum() <= 2
    assert (scores >= 0.3).mean() < 5e-3


def test_likelihood_flags_a_sustained_rise_in_raw_scores_once() -> None:
    rng = np.random.default_rng(3)
    raw = rng.uniform(0.0, 0.2, 3000)
    raw[2000:2100] += 0.6
    scores = feed(AnomalyLikelihood(), raw)
    first = next(i for i, s in enumerate(scores) if s >= 0.5)
    assert 2000 <= first < 2010
    assert sum(s >= 0.5 for s in scores[first + 1:2100]) == 0     # the rest of the run is held at p = 1e-3


def test_transition_novelty_scores_a_familiar_value_reached_an_unfamiliar_way() -> None:
    rng = np.random.default_rng(4)
    phase = np.arange(96 * 10) % 96
    values = np.where(phase < 48, 20.0, 80.0) + rng.normal(0.0, 0.3, len(phase))
    values[96 * 8 + 48:96 * 8 + 60] = 20.0 + rng.normal(0.0, 0.3, 12)     # stays low...
    values[96 * 8 + 60] = 80.0 + rng.normal(0.0, 0.3)                     # ...then jumps late: a familiar move
    values[96 * 9 + 20] = 50.0                                             # inside the range, never visited
    scores = feed(TransitionNovelty(warmup=200), values)
    settled = np.array(scores[96 * 4:96 * 9])
    assert (settled > 0.0).mean() < 0.01       # a rare move scores once, the first time it is made
    assert scores[96 * 9 + 20] == 1.0
    range_scores = feed(RangeExceedance(horizon=2000), values)
    assert range_scores[96 * 9 + 20] == 0.0      # what the range alone cannot see


def test_discord_scores_a_new_shape_high_and_a_repeat_low() -> None:
    values = daily(96 * 12, 5)
    values[96 * 10 + 40:96 * 10 + 46] = 20.0      # a dip inside the day
    scores = feed(SubsequenceDiscord(length=16, horizon=2000), values)
    assert max(scores[96 * 10 + 40:96 * 10 + 62]) == 1.0
    assert max(scores[96 * 5:96 * 10]) < 0.9


def test_ensemble_scores_a_flat_day_in_a_daily_cycle_and_nothing_before() -> None:
    """The kind NAB calls art_daily_flatmiddle: no value is new, only the shape of the day."""
    values = daily(96 * 14, 6)
    flat = slice(96 * 11, 96 * 12)
    values[flat] = 50.0 + np.random.default_rng(0).normal(0.0, 2.0, 96)
    scores = feed(_EnsembleScore(), values)
    settled = 96 * 6
    # One threshold must separate them: the flat day scores above every sample of the normal days.
    assert max(scores[flat]) >= 0.5
    assert max(scores[flat]) > max(scores[settled:flat.start]) + 0.05


def test_seasonal_residual_knows_the_time_of_day() -> None:
    """Every value is usual somewhere in the day; the evening level at noon is not."""
    values = daily(96 * 8, 7)
    values[96 * 6 + 50] = 20.0            # the night level in the middle of the day
    scores = feed(SeasonalResidual(), values)
    assert scores[96 * 6 + 50] == 1.0
    # A raw score: a few samples of the normal days score high too (a phase has seen only a
    # handful of samples); AnomalyLikelihood is what turns this into a calibrated score.
    assert np.mean(np.array(scores[96 * 3:96 * 6]) >= 0.9) < 0.05
    assert feed(RangeExceedance(horizon=2000), values)[96 * 6 + 50] == 0.0
