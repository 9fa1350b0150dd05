"""Confirm tests in replay: per-version series in the scenario format, the simulator writing them
with same-time decoy deploys, and the incident re-ranked and recorded with the tests' numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.core.replay import replay
from daemon.demo.scenario import ScenarioSpec, write_scenario
from daemon.sources.scenario import load_scenario


@pytest.fixture(scope="module")
def bad_deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("versions") / "bad_deploy"
    write_scenario(out, 11, ["bad_deploy"], hours=1.0, step=30.0, spec=ScenarioSpec(versions=True, decoys=4))
    return out


def test_labelled_rows_are_a_split_not_samples(bad_deploy: Path) -> None:
    sc = load_scenario(bad_deploy)
    header = (bad_deploy / "metrics.csv").read_text().splitlines()[0]
    assert header == "timestamp,service,signal,value,labels"
    samples = list(sc.samples())
    labelled = list(sc.labelled())
    assert labelled and {tuple(s.labels) for s in labelled} <= {("version",), ("config_hash",), ("flag_variant",)}
    # The detectors see one series per service and signal, as without the column.
    assert len({(s.service, s.signal) for s in samples}) == 3 * len(sc.topology.services)


def test_decoys_are_deploys_at_the_cause(bad_deploy: Path) -> None:
    truth = json.loads((bad_deploy / "truth.json").read_text())["incidents"][0]["cause"]["id"]
    changes = [json.loads(line) for line in (bad_deploy / "changes.jsonl").read_text().splitlines()]
    cause = next(c for c in changes if c["id"] == truth)
    same_time = [c for c in changes if c["ts"] == cause["ts"] and c["id"] != truth]
    assert len(same_time) == 4 and all(c["kind"] == "deploy" for c in same_time)


def test_replay_confirms_the_bad_deploy_and_refutes_decoys(bad_deploy: Path) -> None:
    truth = json.loads((bad_deploy / "truth.json").read_text())["incidents"][0]["cause"]
    doc = replay(load_scenario(bad_deploy))
    inc = next(i for i in doc["incidents"] if i["paged_at"] is not None)
    assert inc["candidates"][0]["cause"] == truth
    tests = {t["cause"].get("id"): t for t in inc["tests"]}
    mine = tests[truth["id"]]
    assert mine["verdict"] == "confirmed"
    assert mine["query"].startswith("metrics.csv: ") and mine["signals"][0]["n_new"] > 0
    assert "new pods (revision" in mine["line"]
    refuted = [t for cid, t in tests.items() if cid != truth["id"] and t["verdict"] == "refuted"]
    assert refuted, tests
    dead = {d["cause"].get("id"): d["reason"] for d in inc["dead_ends"]}
    assert all(dead[t["cause"]["id"]].startswith("refuted by its test: not materially worse") for t in refuted)
    assert inc["candidates"][0]["evidence"][-1].startswith("its test: confirmed:")
    assert truth in inc["ranked_without_tests"]


def test_without_labels_the_tests_say_so_and_rank_nothing_differently(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_scenario(plain, 11, ["bad_deploy"], hours=1.0, step=30.0, spec=ScenarioSpec(decoys=4))
    assert (plain / "metrics.csv").read_text().splitlines()[0] == "timestamp,service,signal,value"
    with_tests = replay(load_scenario(plain))
    without = replay(load_scenario(plain), confirm=False)
    assert [i["candidates"] for i in without["incidents"]] != []
    for a, b in zip(with_tests["incidents"], without["incidents"], strict=True):
        assert [c["cause"] for c in a["candidates"]] == [c["cause"] for c in b["candidates"]]
        assert [c["score"] for c in a["candidates"]] == pytest.approx([c["score"] for c in b["candidates"]])
        assert all(t["verdict"] == "inconclusive" and t["reason"].startswith("no per-version series")
                   for t in a["tests"])
        assert "tests" not in b
