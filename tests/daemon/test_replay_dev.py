"""Replay over the dev scenarios: the product's contract, measured against truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.core.replay import replay
from daemon.sources.scenario import load_scenario
from tests.benchmarks.evaluate import load_truth, naive_rank_of, score_scenario, summarise


@pytest.fixture(scope="module")
def dev_results() -> list[tuple[Path, dict]]:  # type: ignore[type-arg]
    from tests.conftest import DEV_SCENARIOS, require_or_skip
    require_or_skip(DEV_SCENARIOS.is_dir(), f"dev scenarios not found at {DEV_SCENARIOS}")
    dirs = sorted(d for d in DEV_SCENARIOS.iterdir() if (d / "scenario.json").exists())
    return [(d, replay(load_scenario(d))) for d in dirs]


def test_dev_set_recall_ranking_and_no_false_pages_on_quiet(dev_results: list[tuple[Path, dict]]) -> None:  # type: ignore[type-arg]
    ours, naive = [], []
    for d, doc in dev_results:
        truth = load_truth(d)
        changes = [json.loads(x) for x in (d / "changes.jsonl").read_text().splitlines() if x.strip()]
        ours.append(score_scenario(d.name, truth, doc["incidents"]))
        naive.append(score_scenario(d.name, truth, doc["incidents"], naive_rank_of(changes)))
    s, n = summarise(ours), summarise(naive)
    assert s.recall >= 0.95
    assert s.quiet_false_pages == 0
    assert s.false_pages <= 2
    assert s.hit1 >= 0.75 and s.hit1 > n.hit1 + 0.2
    assert s.hit3 >= 0.9
    assert s.median_time_to_page is not None and s.median_time_to_page <= 180


def test_every_candidate_has_hypothesis_test_and_evidence(dev_results: list[tuple[Path, dict]]) -> None:  # type: ignore[type-arg]
    for _, doc in dev_results:
        for inc in doc["incidents"]:
            assert inc["recommendation"]["why"]
            for c in inc["candidates"]:
                assert c["hypothesis"].startswith(("I think", "No recorded change"))
                assert c["test"]
                if c["cause"]["type"] != "none":
                    assert c["evidence"]
            for d in inc["dead_ends"]:
                assert d["reason"]


def test_replay_is_deterministic(dev_scenarios: Path) -> None:
    d = dev_scenarios / "dev-bad_deploy-1"
    assert replay(load_scenario(d)) == replay(load_scenario(d))


def test_replay_cli_prints_the_document_and_logs_to_stderr(dev_scenarios: Path) -> None:
    d = dev_scenarios / "dev-bad_flag-0"
    r = subprocess.run([sys.executable, "-m", "daemon.cli", "replay", "--scenario", str(d)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    inc = doc["incidents"][0]
    for key in ("id", "onset", "opened_at", "paged_at", "services", "anomalies", "candidates", "dead_ends",
                "recommendation"):
        assert key in inc
    assert {"rank", "cause", "score", "hypothesis", "test", "evidence"} <= set(inc["candidates"][0])
    assert "replayed" in r.stderr


def test_replay_cli_bad_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "scenario.json").write_text('{"services": "nope", "step_seconds": 30}')
    (tmp_path / "metrics.csv").write_text("timestamp,service,signal,value\n")
    r = subprocess.run([sys.executable, "-m", "daemon.cli", "replay", "--scenario", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "services" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "daemon.cli", "replay", "--scenario", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a folder" in r.stderr


def test_bad_change_line_names_file_line_and_field(tmp_path: Path, dev_scenarios: Path) -> None:
    src = dev_scenarios / "dev-quiet-1"
    for name in ("scenario.json", "metrics.csv", "health.csv"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "changes.jsonl").write_text('{"id": "c", "ts": 1, "kind": "deploy", "service": "a"}\n'
                                            '{"id": "d", "ts": 1, "kind": "oops", "service": "a"}\n')
    r = subprocess.run([sys.executable, "-m", "daemon.cli", "replay", "--scenario", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "changes.jsonl:2" in r.stderr and "kind" in r.stderr
