"""The vectorised RobustCusum bank gives exactly the events and states of one RobustCusum per series."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors import DetectorBank, RobustCusum, RobustCusumBank, SeriesBank


def streams(n: int, t: int, seed: int = 0) -> np.ndarray:
    """Noisy levels with steps up and down, some lasting past re-baselining, glitches and gaps."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.01, 1000.0, n)
    x = level[:, None] * (1.0 + rng.normal(0.0, 0.05, (n, t)))
    for i in range(n):
        if i % 3 == 0:
            start = int(rng.integers(40, t - 40))
            x[i, start:start + int(rng.integers(5, 150))] *= rng.choice([0.3, 2.5])
        if i % 7 == 0:
            x[i, int(rng.integers(0, t))] *= 10.0  # a lone glitch
    x[rng.random((n, t)) < 0.03] = np.nan   # scrape gaps
    x[5, :] = 3.0                            # a flat series (floored spread)
    return x


def singles(x: np.ndarray, **settings: float) -> list[tuple[int, int, object]]:
    dets = [RobustCusum(**settings) for _ in range(x.shape[0])]  # type: ignore[arg-type]
    return [(t, i, ev) for t in range(x.shape[1]) for i, d in enumerate(dets)
            if (ev := d.update(float(t), float(x[i, t]))) is not None]


def keys(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


@pytest.mark.parametrize("settings", [{}, {"window": 20, "min_history": 5, "rebaseline_after": 15}])
def test_bank_equals_one_detector_per_series(settings: dict[str, float]) -> None:
    x = streams(60, 400)
    bank = RobustCusumBank(capacity=4, **settings)  # grows while adding
    got = [(t, i, ev) for t in range(400) for i, ev in bank.update(float(t), keys(60), x[:, t])]
    expected = singles(x, **settings)
    kinds = {ev.kind.value for _, _, ev in expected}  # type: ignore[attr-defined]
    assert kinds == {"shift", "recovery"}, "the streams must exercise shifts and recoveries"
    assert got == expected
    ref = [RobustCusum(**settings) for _ in range(60)]  # type: ignore[arg-type]
    for t in range(400):
        for i, d in enumerate(ref):
            d.update(float(t), float(x[i, t]))
    assert [bank.state(k) for k in keys(60)] == [d.state_dict() for d in ref]
    assert bank.objects < 60 // 3, "the quiet series must be back in the arrays"


def test_steps_in_any_order_of_keys_and_with_late_and_repeated_samples() -> None:
    x = streams(30, 300, seed=3)
    rng = np.random.default_rng(9)
    bank = RobustCusumBank()
    dets = {k: RobustCusum() for k in keys(30)}
    for t in range(300):
        order = list(rng.permutation(30))
        ks = [f"s{i}" for i in order] + ["s1", "s2"]            # two repeated keys at the end
        vs = [float(x[i, t]) for i in order] + [0.0, float(x[2, t]) * 5]
        if t % 50 == 7:
            ks, vs = ks + ["s3"], vs + [1e6]
        got = bank.update(float(t), ks, vs)
        expected = [(j, ev) for j, (k, v) in enumerate(zip(ks, vs)) if (ev := dets[k].update(float(t), v))]
        assert got == expected
        late = bank.update(float(t) - 0.5, ["s4"], [1e9])       # late: ignored by both
        assert late == [] and dets["s4"].update(float(t) - 0.5, 1e9) is None
    assert [bank.state(k) for k in keys(30)] == [dets[k].state_dict() for k in keys(30)]


@pytest.mark.parametrize("cut", [15, 90, 170, 260])
def test_restore_mid_stream_gives_identical_events(cut: int) -> None:
    x = streams(40, 320, seed=1)
    ks = keys(40)
    ref = RobustCusumBank()
    expected = [(t, i, ev) for t in range(320) for i, ev in ref.update(float(t), ks, x[:, t])]
    first = RobustCusumBank()
    got = [(t, i, ev) for t in range(cut) for i, ev in first.update(float(t), ks, x[:, t])]
    saved = json.loads(json.dumps({k: first.state(k) for k in ks}))
    second = RobustCusumBank()
    for k in reversed(ks):            # other rows than before
        second.load(k, saved[k])
    got += [(t, i, ev) for t in range(cut, 320) for i, ev in second.update(float(t), ks, x[:, t])]
    assert got == expected


def test_single_samples_and_steps_mix() -> None:
    x = streams(20, 300, seed=2)
    ks = keys(20)
    mixed, ref = RobustCusumBank(), DetectorBank(RobustCusum)
    for t in range(300):
        if (t // 40) % 2:
            got = [(i, ev) for i, k in enumerate(ks) if (ev := mixed.update_one(k, float(t), float(x[i, t])))]
        else:
            got = mixed.update(float(t), ks, x[:, t])
        assert got == ref.update(float(t), ks, x[:, t])
    assert [mixed.state(k) for k in ks] == [ref.state(k) for k in ks]


def test_series_come_and_go() -> None:
    x = streams(30, 300, seed=4)
    bank, ref = RobustCusumBank(capacity=8), DetectorBank(RobustCusum)
    for t in range(300):
        live = [f"s{i}" for i in range(30) if (i + t // 60) % 4]   # a quarter leaves, later returns cold
        if t % 60 == 0:
            for k in set(bank.keys()) - set(live):
                bank.drop(k)
                ref.drop(k)
        vals = [float(x[int(k[1:]), t]) for k in live]
        assert bank.update(float(t), live, vals) == ref.update(float(t), live, vals)
    assert sorted(bank.keys()) == sorted(ref.keys())
    cap = bank.capacity
    for k in bank.keys():
        bank.drop(k)
    bank.update(1e9, [f"new{i}" for i in range(cap)], [1.0] * cap)
    assert bank.capacity == cap and len(bank) == cap, "dropped rows are reused"
    assert all(bank.state(f"new{i}")["history"] == [1.0] for i in range(cap)), "a reused row starts cold"
    bank.drop("not-there")  # dropping an unknown series is a no-op


def test_protocol_and_bad_input() -> None:
    bank = RobustCusumBank()
    assert isinstance(bank, SeriesBank) and isinstance(DetectorBank(RobustCusum), SeriesBank)
    with pytest.raises(ValueError, match="values"):
        bank.update(0.0, ["a", "b"], [1.0])
    with pytest.raises(ValueError, match="version"):
        bank.load("a", {"version": 99})
    with pytest.raises(TypeError):
        RobustCusumBank(windo=3)


def test_state_per_series_is_the_ring_buffers() -> None:
    bank = RobustCusumBank(capacity=1000)
    assert bank.state_bytes_per_series < 2048  # four windows of 60 float64 plus a few scalars


@pytest.mark.parametrize("cut", [15, 170, 260])
def test_whole_bank_checkpoint_through_json_resumes_identically(cut: int) -> None:
    x = streams(40, 320, seed=1)
    ks = keys(40)
    ref = RobustCusumBank()
    expected = [(t, i, ev) for t in range(320) for i, ev in ref.update(float(t), ks, x[:, t])]
    first = RobustCusumBank()
    got = [(t, i, ev) for t in range(cut) for i, ev in first.update(float(t), ks, x[:, t])]
    first.drop("s7")  # a dropped series is not in the checkpoint
    saved = json.loads(json.dumps(first.state_dict()))
    second = RobustCusumBank()
    second.load_state(saved)
    assert sorted(second.keys()) == sorted(k for k in ks if k != "s7") and second.objects == first.objects
    assert [second.state(k) for k in second.keys()] == [first.state(k) for k in second.keys()]
    second.load("s7", ref_state := RobustCusum().state_dict())  # and it can come back cold
    assert second.state("s7") == ref_state
    got += [(t, i, ev) for t in range(cut, 320) for i, ev in second.update(float(t), ks, x[:, t])]
    assert [g for g in got if g[1] != 7 or g[0] < cut] == [e for e in expected if e[1] != 7 or e[0] < cut]


def test_whole_bank_checkpoint_is_validated() -> None:
    bank = RobustCusumBank()
    bank.update(0.0, ["a", "b"], [1.0, 2.0])
    good = bank.state_dict()
    with pytest.raises(ValueError, match="window"):
        RobustCusumBank(window=30).load_state(good)
    with pytest.raises(ValueError, match="kind"):
        RobustCusumBank().load_state(DetectorBank(RobustCusum).state_dict())
    with pytest.raises(ValueError, match="arrays.hist"):
        RobustCusumBank().load_state({**good, "arrays": {**good["arrays"], "hist": good["arrays"]["s_up"]}})
    with pytest.raises(ValueError, match="twice"):
        RobustCusumBank().load_state({**good, "keys": ["a", "a"]})
    other = DetectorBank(RobustCusum)
    other.update(0.0, ["a"], [1.0])
    with pytest.raises(ValueError, match="DetectorBank"):
        other.load_state(good)
    again = DetectorBank(RobustCusum)
    again.load_state(json.loads(json.dumps(other.state_dict())))
    assert again.state("a") == other.state("a")
