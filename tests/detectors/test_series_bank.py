"""``DetectorBank`` (the bank every signal runs in, ``make_bank``) gives exactly the events and
states of one detector per series, and checkpoints whole through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors import DetectorBank, RobustCusum, SeriesBank, make_bank, make_detector


def streams(n: int, t: int, seed: int = 0) -> np.ndarray:
    """Noisy levels with steps up and down, some lasting past re-baselining, glitches and gaps."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.01, 1000.0, n)
    x = level[:, None] * (1.0 + rng.normal(0.0, 0.05, (n, t)))
    for i in range(n):
        if i % 3 == 0:
            start = int(rng.integers(40, t - 40))
            x[i, start:start + int(rng.integers(5, 150))] *= rng.choice([0.3, 2.5, 20.0])
        if i % 7 == 0:
            x[i, int(rng.integers(0, t))] *= 10.0  # a lone glitch
    x[rng.random((n, t)) < 0.03] = np.nan   # scrape gaps
    x[5, :] = 3.0                            # a flat series
    return x


def keys(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


def singles(signal: str, x: np.ndarray) -> list[tuple[int, int, object]]:
    dets = [make_detector(signal) for _ in range(x.shape[0])]
    return [(t, i, ev) for t in range(x.shape[1]) for i, d in enumerate(dets)
            if (ev := d.update(60.0 * t, float(x[i, t]))) is not None]


@pytest.mark.parametrize("signal", ["error_ratio", "latency_p99_seconds", "request_rate"])
def test_bank_equals_one_detector_per_series(signal: str) -> None:
    x = streams(30, 400)
    bank = make_bank(signal)
    got = [(t, i, ev) for t in range(400) for i, ev in bank.update(60.0 * t, keys(30), x[:, t])]
    expected = singles(signal, x)
    assert {ev.kind.value for _, _, ev in expected} >= {"shift", "recovery"}  # type: ignore[attr-defined]
    assert got == expected


def test_single_samples_steps_and_late_samples_mix() -> None:
    x = streams(12, 300, seed=3)
    bank, dets = make_bank("error_ratio"), {k: make_detector("error_ratio") for k in keys(12)}
    got, expected = [], []
    for t in range(300):
        ts = 60.0 * t
        if t % 2:
            got += [(t, keys(12)[i], ev) for i, ev in bank.update(ts, keys(12), x[:, t])]
        else:
            got += [(t, k, ev) for i, k in enumerate(keys(12))
                    if (ev := bank.update_one(k, ts, float(x[i, t]))) is not None]
        expected += [(t, k, ev) for i, k in enumerate(keys(12)) if (ev := dets[k].update(ts, float(x[i, t])))]
        if t % 11 == 0:  # a late and a repeated sample change nothing
            assert bank.update(ts - 120.0, ["s0"], [1e6]) == [] and bank.update_one("s1", ts, 1e6) is None
            dets["s0"].update(ts - 120.0, 1e6)
            dets["s1"].update(ts, 1e6)
    assert got == expected
    assert [bank.state(k) for k in keys(12)] == [dets[k].state_dict() for k in keys(12)]


@pytest.mark.parametrize("cut", [15, 170, 260])
def test_whole_bank_checkpoint_through_json_resumes_identically(cut: int) -> None:
    x = streams(20, 320, seed=1)
    ks = keys(20)
    ref = make_bank("latency_p99_seconds")
    expected = [(t, i, ev) for t in range(320) for i, ev in ref.update(60.0 * t, ks, x[:, t])]
    first = make_bank("latency_p99_seconds")
    got = [(t, i, ev) for t in range(cut) for i, ev in first.update(60.0 * t, ks, x[:, t])]
    first.drop("s7")  # a dropped series is not in the checkpoint
    first.drop("not-there")  # dropping an unknown series is a no-op
    saved = json.loads(json.dumps(first.state_dict()))
    second = make_bank("latency_p99_seconds")
    second.load_state(saved)
    assert sorted(second.keys()) == sorted(k for k in ks if k != "s7") and "s7" not in second
    assert [second.state(k) for k in second.keys()] == [first.state(k) for k in second.keys()]
    second.load("s7", cold := make_detector("latency_p99_seconds").state_dict())  # and it can come back cold
    assert second.state("s7") == cold and len(second) == 20
    got += [(t, i, ev) for t in range(cut, 320) for i, ev in second.update(60.0 * t, ks, x[:, t])]
    assert [g for g in got if g[1] != 7 or g[0] < cut] == [e for e in expected if e[1] != 7 or e[0] < cut]


def test_protocol_and_bad_input() -> None:
    bank = DetectorBank(RobustCusum)
    assert isinstance(bank, SeriesBank) and isinstance(make_bank("request_rate"), SeriesBank)
    with pytest.raises(ValueError):
        bank.update(0.0, ["a", "b"], [1.0])
    with pytest.raises(ValueError, match="version"):
        bank.load("a", {"version": 99})
    bank.update(0.0, ["a"], [1.0])
    good = bank.state_dict()
    with pytest.raises(ValueError, match="DetectorBank"):
        DetectorBank(RobustCusum).load_state({**good, "kind": "SomeOtherBank"})
    with pytest.raises(ValueError, match="DetectorBank"):
        DetectorBank(RobustCusum).load_state({**good, "version": 99})
    again = DetectorBank(RobustCusum)
    again.load_state(json.loads(json.dumps(good)))
    assert again.state("a") == bank.state("a")
