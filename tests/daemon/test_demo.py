"""The simulated shop: determinism, realism of injected incidents, the scenario format, the CLI."""

from __future__ import annotations

import argparse
import csv
import doctest
import importlib
import json
import re
import statistics
from pathlib import Path

import pytest

from correlators.types import ChangeKind, Topology
from daemon.cli.simulate import add_parser
from daemon.core.schema import parse_change
from daemon.demo.incidents import INCIDENT_KINDS
from daemon.demo.randomness import derive_rng
from daemon.demo.scenario import ScenarioSpec, parse_kinds, write_scenario
from daemon.demo.shop import AutoSchedule, DemoShop
from daemon.demo.topology import default_services, random_topology
from daemon.sources.scenario import load_scenario

START = 1_790_000_000.0
STEP = 15.0
CHANGE_KEYS = {"id", "ts", "kind", "service", "namespace", "summary", "actor", "attributes"}
CHANGE_KINDS = {"deploy", "rollback", "config", "feature_flag", "scale", "infra"}


def _series(shop: DemoShop, n_steps: int) -> dict[tuple[str, str], list[tuple[float, float]]]:
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for k in range(n_steps):
        for s in shop.tick(START + k * STEP).samples:
            series.setdefault((s.service, s.signal), []).append((s.ts, s.value))
    return series


def _median(points: list[tuple[float, float]], lo: float, hi: float) -> float:
    return statistics.median(v for t, v in points if lo <= t < hi)


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="whatchanged")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", *argv])
    return int(args.func(args))


@pytest.mark.parametrize("module", ["__init__", "randomness", "topology", "changes", "model", "incidents",
                                    "shop", "scenario"])
def test_doctests(module: str) -> None:
    name = "daemon.demo" if module == "__init__" else f"daemon.demo.{module}"
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0


def test_same_seed_same_data_other_seed_other_data() -> None:
    def record(seed: int) -> list[object]:
        shop = DemoShop(seed, START, STEP, schedule=AutoSchedule(first_after=60, every=300, duration=120))
        return [shop.tick(START + k * STEP) for k in range(240)]

    assert record(3) == record(3)
    assert record(3) != record(4)


def test_ticks_return_changes_of_their_step_with_valid_ids() -> None:
    shop = DemoShop(5, START, STEP, changes_per_hour=30.0, schedule=AutoSchedule())
    ids = []
    for k in range(480):
        ts = START + k * STEP
        for change in shop.tick(ts).changes:
            assert ts - STEP < change.ts <= ts
            assert re.fullmatch(r"chg-[0-9a-f]{8}", change.id)
            ids.append(change.id)
    assert len(ids) == len(set(ids)) > 10


def test_bad_deploy_raises_errors_at_target_then_callers_and_recovers() -> None:
    shop = DemoShop(7, START, STEP, changes_per_hour=0.0)
    at = START + 3600.0
    incident = shop.schedule_incident("bad_deploy", at, 900.0, target="checkout", symptom="errors")
    series = _series(shop, 400)
    onset = shop.truth()[0]["onset"]
    assert at <= onset <= at + 180.0 + STEP
    for service in ("checkout", "frontend"):  # the target and its caller
        points = series[(service, "error_ratio")]
        before = _median(points, at - 1800, at)
        during = _median(points, onset + 60, onset + 840)
        after = _median(points, incident.end + 60, incident.end + 1200)
        assert during > max(3 * before, before + 0.02), service
        assert after < 2 * before, service
    assert _median(series[("checkout", "error_ratio")], onset + 60, onset + 840) > \
        _median(series[("frontend", "error_ratio")], onset + 60, onset + 840)
    quiet = series[("inventory", "error_ratio")]
    assert _median(quiet, onset, onset + 840) < 2 * _median(quiet, at - 1800, at)


def test_callee_deploy_is_small_at_callee_and_large_at_callers() -> None:
    shop = DemoShop(8, START, STEP, changes_per_hour=0.0)
    shop.schedule_incident("callee_deploy", START + 3600.0, 900.0, target="payments")
    series = _series(shop, 400)
    onset = shop.truth()[0]["onset"]

    def rise(service: str) -> float:
        points = series[(service, "error_ratio")]
        return _median(points, onset + 60, onset + 840) - _median(points, onset - 1800, onset - 60)

    assert rise("checkout") > 0.04
    assert rise("payments") < rise("checkout") / 4


def test_traffic_spike_raises_rate_and_latency_downstream_with_errors_flat() -> None:
    shop = DemoShop(9, START, STEP, changes_per_hour=0.0)
    shop.schedule_incident("traffic_spike", START + 3600.0, 900.0)
    truth = shop.truth()[0]
    assert truth["cause"] == {"type": "traffic", "service": "frontend"}
    series = _series(shop, 400)
    onset = truth["onset"]

    def ratio(service: str, signal: str) -> float:
        points = series[(service, signal)]
        return _median(points, onset + 30, onset + 840) / _median(points, onset - 900, onset)

    for service in Topology.from_services(shop.topology()).downstream_of("frontend"):
        assert ratio(service, "request_rate") > 1.3, service
        assert ratio(service, "latency_p99_seconds") > 1.1, service
        assert 0.6 < ratio(service, "error_ratio") < 1.5, service


def test_dependency_outage_fails_probes_and_errors_its_users() -> None:
    shop = DemoShop(10, START, STEP, changes_per_hour=0.0)
    at = START + 3600.0
    shop.schedule_incident("dependency_down", at, 600.0, target="inventory-db")
    failed = [p.ts for k in range(400) for p in shop.tick(START + k * STEP).probes
              if p.target == "inventory-db" and not p.healthy]
    assert sum(1 for ts in failed if at <= ts < at + 600.0) >= 600.0 / STEP - 1
    truth = shop.truth()[0]
    assert truth["cause"] == {"type": "dependency", "target": "inventory-db"}
    topo = Topology.from_services(shop.topology())
    assert set(truth["services"]) == topo.blast_radius_of_dependency("inventory-db")


@pytest.mark.parametrize("kind", INCIDENT_KINDS)
def test_truth_matches_what_was_injected(kind: str) -> None:
    shop = DemoShop(11, START, STEP, changes_per_hour=0.0)
    incident = shop.schedule_incident(kind, START + 600.0, 1500.0)
    changes = [c for k in range(200) for c in shop.tick(START + k * STEP).changes]
    truth = shop.truth()
    assert len(truth) == 1 and truth[0]["services"][0] in {incident.target} | set(incident.effects)
    assert set(truth[0]["services"]) == set(incident.effects)
    assert truth[0]["onset"] >= START + 600.0
    if truth[0]["cause"]["type"] == "change":
        cause = next(c for c in changes if c.id == truth[0]["cause"]["id"])
        assert cause.ts == START + 600.0 and cause.service == incident.target
        assert cause.ts <= truth[0]["onset"] <= cause.ts + 180.0 + STEP
        expected = {"bad_config": ChangeKind.CONFIG, "bad_flag": ChangeKind.FEATURE_FLAG}
        assert cause.kind is expected.get(kind, ChangeKind.DEPLOY)


def test_deploy_attributes_and_rollback_on_recovery() -> None:
    shop = DemoShop(12, START, STEP, changes_per_hour=0.0)
    incident = shop.schedule_incident("bad_deploy", START + 300.0, 600.0, target="catalog")
    changes = [c for k in range(100) for c in shop.tick(START + k * STEP).changes]
    deploy, rollback = changes
    assert deploy.kind is ChangeKind.DEPLOY and rollback.kind is ChangeKind.ROLLBACK
    assert set(deploy.attributes) == {"from_revision", "to_revision", "image"}
    assert int(deploy.attributes["to_revision"]) == int(deploy.attributes["from_revision"]) + 1
    assert rollback.attributes["to_revision"] == deploy.attributes["from_revision"]
    assert deploy.ts < rollback.ts < incident.end


def test_quiet_shop_has_lone_glitches_and_probe_blips_only() -> None:
    shop = DemoShop(13, START, STEP, changes_per_hour=6.0)
    series = _series(shop, 3000)
    assert shop.truth() == []
    glitches = 0
    for (service, signal), points in series.items():
        if signal == "request_rate":
            continue
        values = [v for _, v in points]
        level = statistics.median(values)
        high = [i for i, v in enumerate(values) if v > 3 * level]
        glitches += len(high)
        assert all(i - 1 not in high for i in high), (service, signal)  # never two in a row
    assert glitches > 0
    blips = sum(not p.healthy for k in range(3000) for p in shop.tick(START + (3000 + k) * STEP).probes)
    assert 0 < blips < 50


def test_random_topology_is_a_connected_dag() -> None:
    for n in (6, 12, 20, 30):
        services = random_topology(derive_rng(n, "t"), n, 4)
        names = [s.name for s in services]
        assert len(set(names)) == n
        index = {name: i for i, name in enumerate(names)}
        assert all(index[c] > index[s.name] for s in services for c in s.calls)
        called = {c for s in services for c in s.calls}
        assert sum(1 for name in names if name not in called) <= 2
        assert {d for s in services for d in s.dependencies} == {
            "payments-gateway", "inventory-db", "redis-cache", "auth-idp"}


def _check_scenario_folder(folder: Path) -> dict[str, object]:
    scenario = json.loads((folder / "scenario.json").read_text())
    assert set(scenario) == {"name", "step_seconds", "start", "end", "services", "dependencies"}
    for service in scenario["services"]:
        assert set(service) == {"name", "namespace", "calls", "dependencies"}
    names = {s["name"] for s in scenario["services"]}
    with open(folder / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["timestamp", "service", "signal", "value"]
    times = [float(r["timestamp"]) for r in rows]
    assert times == sorted(times) and times[0] == scenario["start"] and times[-1] <= scenario["end"]
    assert {r["service"] for r in rows} == names
    assert all(0.0 <= float(r["value"]) <= 1.0 for r in rows if r["signal"] == "error_ratio")
    n_steps = (scenario["end"] - scenario["start"]) / scenario["step_seconds"] + 1
    assert len(rows) < n_steps * 3 * len(names)  # some scrape gaps
    with open(folder / "health.csv", newline="") as f:
        health = list(csv.DictReader(f))
    assert {r["target"] for r in health} == set(scenario["dependencies"])
    assert {r["healthy"] for r in health} <= {"0", "1"}
    for line in (folder / "changes.jsonl").read_text().splitlines():
        change = json.loads(line)
        assert set(change) == CHANGE_KEYS and change["kind"] in CHANGE_KINDS
        assert re.fullmatch(r"chg-[0-9a-f]{8}", change["id"]) and change["service"] in names
        assert isinstance(change["attributes"], dict) and isinstance(change["ts"], (int, float))
        assert change["namespace"] and change["summary"] and change["actor"]
        assert parse_change(change).to_json() == {**change, "ts": float(change["ts"])}
    loaded = load_scenario(folder)  # the replay's own loader accepts it all
    assert loaded.name == scenario["name"] and len(loaded.changes()) == len(
        (folder / "changes.jsonl").read_text().splitlines())
    truth: dict[str, object] = json.loads((folder / "truth.json").read_text())
    assert set(truth) == {"incidents"}
    return truth


def test_written_scenario_follows_the_shared_format(tmp_path: Path) -> None:
    truth = write_scenario(tmp_path / "s", 21, ["bad_deploy", "dependency_down"], hours=4, step=30)
    assert _check_scenario_folder(tmp_path / "s") == {"incidents": truth}
    assert [i["cause"]["type"] for i in truth] == ["change", "dependency"]
    changes = [json.loads(x) for x in (tmp_path / "s" / "changes.jsonl").read_text().splitlines()]
    assert truth[0]["cause"]["id"] in {c["id"] for c in changes}


def test_written_scenario_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_scenario(tmp_path / name, 22, ["traffic_spike"], hours=2, step=60)
    for file in ("scenario.json", "metrics.csv", "health.csv", "changes.jsonl", "truth.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_quiet_scenario_has_no_incident(tmp_path: Path) -> None:
    assert write_scenario(tmp_path / "q", 23, [], hours=3, step=30, spec=ScenarioSpec(n_services=8)) == []
    assert _check_scenario_folder(tmp_path / "q") == {"incidents": []}
    kinds = {json.loads(x)["kind"] for x in (tmp_path / "q" / "changes.jsonl").read_text().splitlines()}
    assert "rollback" not in kinds


def test_parse_kinds_rejects_unknown_kinds() -> None:
    assert parse_kinds("quiet,bad_deploy+slow_creep") == [[], ["bad_deploy", "slow_creep"]]
    with pytest.raises(ValueError, match="nope"):
        parse_kinds("bad_deploy,nope")


def test_cli_writes_the_requested_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run_cli("--out", str(tmp_path), "--seed", "4", "--kinds", "bad_flag,quiet", "--count", "3",
                    "--hours", "1.5", "--step", "60")
    assert code == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["sim-bad_flag-0", "sim-bad_flag-2", "sim-quiet-1"]
    for folder in folders:
        _check_scenario_folder(tmp_path / folder)
    assert capsys.readouterr().err == ""  # no progress when stderr is not a terminal


@pytest.mark.parametrize(("argv", "option"), [
    ((), "--out"),
    (("--hours", "x"), "--hours"),
    (("--hours", "-1"), "--hours"),
    (("--step", "0"), "--step"),
    (("--count", "2.5"), "--count"),
    (("--seed", "abc"), "--seed"),
    (("--kinds", "bad_deploy,typo"), "--kinds"),
    (("--topology", "mesh"), "--topology"),
    (("--services", "1"), "--services"),
    (("--hours", "0.2", "--kinds", "bad_deploy+bad_flag"), "--hours"),
])
def test_cli_bad_options_exit_2_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], option: str,
) -> None:
    out = () if argv == () else ("--out", str(tmp_path / "out"))
    assert _run_cli(*out, *argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_default_shop_shape() -> None:
    services = default_services()
    assert 5 <= len(services) <= 8 and {s.namespace for s in services} == {"shop"}
    topo = Topology.from_services(services)
    assert "payments-gateway" in topo.services["checkout"].dependencies
    assert topo.blast_radius_of_service("payments") == {"payments", "checkout", "frontend"}


def test_live_preset_history_and_auto_schedule() -> None:
    shop = DemoShop.live(seed=1, start=START)
    history = shop.history(40)
    assert [t.ts for t in history] == [START - (40 - k) * STEP for k in range(40)]
    assert all(not t.changes for t in history)
    ticks = [shop.tick(START + k * STEP) for k in range(4 * 15)]  # 15 minutes
    kinds = [i.kind for i in shop.incidents()]
    assert kinds[:2] == ["bad_deploy", "dependency_down"] and len(kinds) == 3
    first = shop.incidents()[0]
    assert first.at == START + 90.0 and first.end <= START + 90.0 + 180.0 + 180.0
    assert shop.incidents()[1].at == START + 90.0 + 360.0
    kinds_seen = {c.kind for t in ticks for c in t.changes}
    assert {ChangeKind.DEPLOY, ChangeKind.ROLLBACK} <= kinds_seen
