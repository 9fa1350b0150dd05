"""HalfSpaceTreesScorer: river's HalfSpaceTrees as a scorer with JSON state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from detectors import HalfSpaceTreesScorer

T0 = 1_790_000_000.0


def series(seed: int, n: int = 900) -> np.ndarray:
    values = 0.2 + np.random.default_rng(seed).normal(0.0, 0.01, n)
    values[500] *= 50.0
    values[700:] *= 3.0
    return values


def scores(scorer: HalfSpaceTreesScorer, values: np.ndarray, start: int = 0) -> list[float | None]:
    return [scorer.score(T0 + 30.0 * (start + k), float(v)) for k, v in enumerate(values)]


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_mid_stream_gives_identical_scores(seed: int) -> None:
    values = series(seed)
    expected = scores(HalfSpaceTreesScorer(), values)
    for cut in (10, 260, 501, 760):
        first = HalfSpaceTreesScorer()
        got = scores(first, values[:cut])
        restored = HalfSpaceTreesScorer()
        restored.load_state(json.loads(json.dumps(first.state_dict(), allow_nan=False)))
        got += scores(restored, values[cut:], start=cut)
        assert got == expected, f"cut at {cut}"


@pytest.mark.parametrize("seed", range(3))
def test_a_glitch_scores_above_every_ordinary_sample(seed: int) -> None:
    got = scores(HalfSpaceTreesScorer(), series(seed))
    ordinary = [s for s in got[270:500] if s is not None]
    assert got[500] is not None and got[500] > max(ordinary)


def test_bad_and_late_samples_are_not_scored() -> None:
    scorer = HalfSpaceTreesScorer()
    scores(scorer, series(0)[:300])
    before = json.dumps(scorer.state_dict())
    assert scorer.score(T0 + 30.0 * 300, math.nan) is None
    assert scorer.score(T0, 5.0) is None
    assert json.dumps(scorer.state_dict()) == before


def test_bad_state_names_the_field() -> None:
    scorer = HalfSpaceTreesScorer()
    scores(scorer, series(0)[:300])
    state = scorer.state_dict()
    for key, bad, field in (("version", 7, "version"), ("seed", 1, "seed"), ("counter", -3, "counter"),
                            ("masses", [[0, 10**9, 1, 1]], "masses")):
        broken = dict(state, **{key: bad})
        with pytest.raises(ValueError, match=field):
            HalfSpaceTreesScorer().load_state(broken)
