"""A bank advances many series at once exactly as one detector per series would."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors import CusumBank, EwmaCusum


def streams(n: int, t: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.01, 1000.0, n)
    x = level[:, None] * (1.0 + rng.normal(0.0, 0.05, (n, t)))
    for i in range(n):                       # a step in some series, at different times
        if i % 3 == 0:
            start = int(rng.integers(40, t - 40))
            x[i, start:start + int(rng.integers(5, 100))] *= rng.choice([0.3, 2.5])
    x[rng.random((n, t)) < 0.03] = np.nan   # scrape gaps
    return x


def test_bank_equals_one_detector_per_series() -> None:
    x = streams(30, 300)
    bank = CusumBank(30)
    singles = [EwmaCusum() for _ in range(30)]
    from_bank, from_singles = [], []
    for t in range(300):
        from_bank += [(i, ev) for i, ev in bank.update(float(t), x[:, t])]
        for i, det in enumerate(singles):
            ev = det.update(float(t), float(x[i, t]))
            if ev is not None:
                from_singles.append((i, ev))
    assert from_bank, "the streams must exercise detections"
    assert sorted(from_bank, key=lambda p: (p[1].detected_at, p[0])) == \
        sorted(from_singles, key=lambda p: (p[1].detected_at, p[0]))


@pytest.mark.parametrize("cut", [10, 77, 150, 260])
def test_bank_state_round_trip(cut: int) -> None:
    x = streams(20, 300, seed=1)
    ref = CusumBank(20)
    expected = [(t, i, ev) for t in range(300) for i, ev in ref.update(float(t), x[:, t])]
    first = CusumBank(20)
    got = [(t, i, ev) for t in range(cut) for i, ev in first.update(float(t), x[:, t])]
    second = CusumBank(20)
    second.load_state(json.loads(json.dumps(first.state_dict())))
    got += [(t, i, ev) for t in range(cut, 300) for i, ev in second.update(float(t), x[:, t])]
    assert got == expected


def test_bank_rejects_state_of_another_size() -> None:
    with pytest.raises(ValueError):
        CusumBank(3).load_state(CusumBank(4).state_dict())


def test_state_is_small() -> None:
    assert CusumBank(1000).state_bytes_per_series <= 4096
