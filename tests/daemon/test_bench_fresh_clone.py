"""`make bench` in a clone without ../shared: it writes its scenario sets with `whatchanged simulate` first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks import rca


def test_bench_generates_simulated_sets_when_the_dev_set_is_absent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(rca, "find_scenario_set", lambda name="dev": None)
    monkeypatch.setattr(rca, "BENCH", tmp_path / ".bench")
    monkeypatch.setattr(rca, "SIMULATED", (("tiny", ["--seed", "5", "--count", "1", "--hours", "2",
                                                     "--kinds", "bad_deploy"]),))
    assert rca.main([]) == 0
    out, err = capsys.readouterr()
    assert "whatchanged simulate --seed 5" in err and "1 scenarios, 1 true incidents" in out, (out, err)
    assert len(list((tmp_path / ".bench" / "tiny").glob("*/scenario.json"))) == 1
    assert rca.main([]) == 0  # the second run reuses the set
    assert "whatchanged simulate" not in capsys.readouterr().err
