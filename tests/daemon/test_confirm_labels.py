"""Live confirm tests split by the labels ``confirm.labels`` names (issue 18): a feature flag by its
variant, a config change by its hash, a dependency by the callee over its users' calls, traffic by the
route that surged. A fake Prometheus parses each query's matchers and answers per arm, so these tests
fail if a split builds the wrong matchers, takes the arms the wrong way round, or stops saying why
when a label is missing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from correlators.confirm import ConfirmData, ConfirmPlan, TestKind, Verdict, judge
from correlators.types import Cause, CauseType, ServiceInfo, Topology
from daemon.config import ConfigError, parse_config
from daemon.confirm.build import build_confirm
from daemon.confirm.pods import PodIndex
from daemon.confirm.prometheus import PerVersionQueries, PrometheusConfirmSource

STEP = 30.0
ONSET = 3000.0
UNTIL = ONSET + 12 * STEP

_MATCHER = re.compile(r'(\w+)(=~|!~|!=|=)"((?:[^"\\]|\\.)*)"')
_BY = re.compile(r"sum by \(([^)]*)\)|sum \(")


@dataclass
class Series:
    labels: dict[str, str]
    rate: float
    err: float
    rate_after: float | None = None

    def rate_at(self, ts: float) -> float:
        return self.rate_after if self.rate_after is not None and ts >= ONSET else self.rate


def _unquote(v: str) -> str:
    return re.sub(r"\\(.)", r"\1", v)


def _selects(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, raw in matchers:
        got, want = labels.get(name, ""), _unquote(raw)
        ok = {"=": got == want, "!=": got != want, "=~": re.fullmatch(want, got) is not None,
              "!~": re.fullmatch(want, got) is None}[op]
        if not ok:
            return False
    return True


class FakePrometheus:
    """Answers the http template's queries over ``series``: request rate, error ratio (rate-weighted
    over the selected series), a latency; grouped by the query's ``sum by`` labels."""

    def __init__(self, series: list[Series]) -> None:
        self.series = series
        self.queries: list[str] = []

    async def __call__(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        self.queries.append(query)
        selector = query[query.index("{") + 1:query.index("}")]
        matchers = [m for m in _MATCHER.findall(selector) if m[0] != "code"]
        chosen = [s for s in self.series if _selects(s.labels, matchers)]
        by = _BY.search(query)
        keys = [k.strip() for k in (by.group(1) or "").split(",") if k.strip() and k.strip() != "le"] if by else []
        groups: dict[tuple[tuple[str, str], ...], list[Series]] = {}
        for s in chosen:
            groups.setdefault(tuple((k, s.labels.get(k, "")) for k in keys if s.labels.get(k)), []).append(s)
        out = []
        for key, members in sorted(groups.items()):
            values = []
            ts = start
            while ts <= end:
                total = sum(m.rate_at(ts) for m in members)
                if query.startswith("histogram_quantile"):
                    v = 0.2
                elif query.startswith("("):  # the error ratio
                    v = sum(m.rate_at(ts) * m.err for m in members) / total if total else float("nan")
                else:
                    v = total
                values.append([ts, str(v)])
                ts += STEP
            out.append({"metric": dict(key), "values": values})
        return out


def _source(series: list[Series], *, labels: dict[str, str | None] | None = None, pods: PodIndex | None = None,
            users: dict[str, list[str]] | None = None) -> tuple[PrometheusConfirmSource, FakePrometheus]:
    prom = FakePrometheus(series)
    queries = PerVersionQueries("http", 60.0) if labels is None else PerVersionQueries("http", 60.0, labels=labels)
    return PrometheusConfirmSource(prom, queries, STEP, pods, users_of=lambda d: (users or {}).get(d, [])), prom


def _plan(kind: TestKind, service: str, split: str, new: str = "", old: str = "", *,
          signals: tuple[str, ...] = ("error_ratio",), cause: Cause | None = None) -> ConfirmPlan:
    return ConfirmPlan(cause or Cause(CauseType.CHANGE, "chg-1"), kind, service, signals, split, new, old,
                       "treated", "control", ONSET, ONSET)


def _level(data: ConfirmData, arm: str, signal: str = "error_ratio") -> float:
    a = data.new if arm == "new" else data.old
    assert a is not None, data.missing
    pts = [v for t, v in a.values[signal] if t >= ONSET]
    return sum(pts) / len(pts)


def _selectors(prom: FakePrometheus) -> list[str]:
    return [q[q.index("{") + 1:q.index("}")] for q in prom.queries]


FLAG = "feature_flag_result_variant"


async def test_a_flag_compares_on_against_off_at_its_service_and_confirms_the_bad_variant() -> None:
    src, prom = _source([Series({"job": "cart", FLAG: "on"}, 20.0, 0.30), Series({"job": "cart", FLAG: "off"}, 60.0, 0.002),
                         Series({"job": "cart"}, 50.0, 0.9), Series({"job": "web", FLAG: "off"}, 50.0, 0.9)])
    plan = _plan(TestKind.FLAG, "cart", "flag_variant", "on", "off")
    data = await src.fetch(plan, UNTIL)
    assert data.new is not None and data.old is not None and data.new.label == "on" and data.old.label == "off"
    assert _level(data, "new") == pytest.approx(0.30) and _level(data, "old") == pytest.approx(0.002)
    sels = _selectors(prom)
    assert all('job=~"cart"' in s for s in sels)
    assert sum(f'{FLAG}="on"' in s for s in sels) == sum(f'{FLAG}="off"' in s for s in sels) == len(sels) / 2
    assert f'{FLAG}="on"' in data.query and f'{FLAG}="off"' in data.query
    assert judge(plan, data, UNTIL).verdict is Verdict.CONFIRMED


async def test_the_flag_values_are_configurable_and_a_harmless_flag_is_not_confirmed() -> None:
    prom = FakePrometheus([Series({"job": "cart", "flag": "true"}, 40.0, 0.001),
                           Series({"job": "cart", "flag": "false"}, 40.0, 0.30)])
    src = PrometheusConfirmSource(prom, PerVersionQueries("http", 60.0, labels={"flag_variant": "flag"},
                                                          flag_on="true", flag_off="false"), STEP)
    plan = _plan(TestKind.FLAG, "cart", "flag_variant", "on", "off")
    data = await src.fetch(plan, UNTIL)
    assert _level(data, "new") == pytest.approx(0.001), "the treated arm is flag_on's value"
    assert judge(plan, data, UNTIL).verdict is Verdict.REFUTED


async def test_a_flag_without_the_label_is_inconclusive_and_names_the_label() -> None:
    src, _ = _source([Series({"job": "cart"}, 40.0, 0.3)])
    plan = _plan(TestKind.FLAG, "cart", "flag_variant", "on", "off")
    data = await src.fetch(plan, UNTIL)
    assert data.new is None and FLAG in data.missing and "no per-flag_variant series" in data.missing
    result = judge(plan, data, UNTIL)
    assert result.verdict is Verdict.INCONCLUSIVE and FLAG in result.reason
    unset, prom = _source([Series({"job": "cart", FLAG: "on"}, 40.0, 0.3)], labels={"flag_variant": None})
    data = await unset.fetch(plan, UNTIL)
    assert "confirm.labels.flag_variant is not set" in data.missing and not prom.queries


async def test_a_config_change_compares_the_new_hash_against_the_old_when_the_pods_cannot_tell() -> None:
    series = [Series({"job": "api", "config_hash": "b2"}, 30.0, 0.25), Series({"job": "api", "config_hash": "a1"}, 30.0, 0.001)]
    plan = _plan(TestKind.CONFIG, "api", "config_hash", "b2", "a1")
    for pods in (None, PodIndex(["app"])):  # no watch; a watch that saw no new ReplicaSet
        src, prom = _source(series, pods=pods)
        data = await src.fetch(plan, UNTIL)
        assert data.new is not None and data.new.label == "b2" and data.old is not None and data.old.label == "a1"
        assert _level(data, "new") == pytest.approx(0.25) and _level(data, "old") == pytest.approx(0.001)
        assert 'config_hash="b2"' in data.query and 'config_hash="a1"' in data.query
        assert judge(plan, data, UNTIL).verdict is Verdict.CONFIRMED
    src, prom = _source(series)
    data = await src.fetch(_plan(TestKind.CONFIG, "api", "config_hash", "b2", ""), UNTIL)
    assert "no from_hash and to_hash" in data.missing and "config_hash label" in data.missing and not prom.queries
    src, _ = _source([Series({"job": "api"}, 30.0, 0.25)])
    data = await src.fetch(plan, UNTIL)
    assert "Prometheus has no api series with config_hash=" in data.missing


async def test_a_dependency_compares_its_users_calls_to_it_against_their_calls_elsewhere() -> None:
    peer = "service_peer_name"
    src, prom = _source([
        Series({"job": "orders", peer: "pay-db"}, 10.0, 0.5), Series({"job": "billing", peer: "pay-db"}, 30.0, 0.1),
        Series({"job": "orders", peer: "cache"}, 40.0, 0.001), Series({"job": "billing", peer: "auth"}, 40.0, 0.001),
        Series({"job": "orders"}, 100.0, 0.9),  # server-side series without the label: no call elsewhere
        Series({"job": "pay-db", peer: "disk"}, 10.0, 0.9),  # the dependency's own metrics are not its users'
        Series({"job": "web", peer: "pay-db"}, 10.0, 0.9),  # not a user in the topology
    ], users={"pay-db": ["orders", "billing"]})
    plan = _plan(TestKind.DEPENDENCY, "pay-db", "callee", "pay-db", "", cause=Cause(CauseType.DEPENDENCY, "pay-db"))
    data = await src.fetch(plan, UNTIL)
    assert _level(data, "new") == pytest.approx(0.2), "rate-weighted over both users: (10*0.5 + 30*0.1) / 40"
    assert _level(data, "old") == pytest.approx(0.001)
    sels = _selectors(prom)
    assert sels and all('job=~"billing|orders"' in s for s in sels)
    assert all(f'{peer}="pay-db"' in s or f'{peer}!="pay-db",{peer}!=""' in s for s in sels)
    assert judge(plan, data, UNTIL).verdict is Verdict.CONFIRMED
    nobody, prom = _source([], users={})
    data = await nobody.fetch(plan, UNTIL)
    assert "no service is known to use pay-db" in data.missing and not prom.queries
    unlabelled, _ = _source([Series({"job": "orders"}, 10.0, 0.5)], users={"pay-db": ["orders"]})
    data = await unlabelled.fetch(plan, UNTIL)
    assert "no per-callee series" in data.missing and peer in data.missing


async def test_traffic_compares_the_route_that_surged_against_the_other_routes() -> None:
    route = "http_route"
    src, prom = _source([Series({"job": "shop", route: "/a"}, 10.0, 0.0), Series({"job": "shop", route: "/b"}, 10.0, 0.0, 80.0),
                         Series({"job": "shop", route: "/c"}, 30.0, 0.0, 35.0), Series({"job": "shop"}, 500.0, 0.0)])
    plan = _plan(TestKind.TRAFFIC, "shop", "route", signals=("request_rate",), cause=Cause(CauseType.TRAFFIC, "shop"))
    data = await src.fetch(plan, UNTIL)
    assert prom.queries[0].startswith(f"sum by ({route}) (rate(http_requests_total{{job=~\"shop\"}}")
    assert data.new is not None and data.new.label == "/b"
    assert _level(data, "new", "request_rate") == pytest.approx(80.0)
    assert _level(data, "old", "request_rate") == pytest.approx(45.0), "/a and /c, not the unlabelled series"
    assert f'{route}="/b"' in data.query and f'{route}!="/b",{route}!=""' in data.query
    flat, _ = _source([Series({"job": "shop"}, 500.0, 0.0, 900.0)])
    data = await flat.fetch(plan, UNTIL)
    assert data.new is None and "no series with the http_route label" in data.missing
    one, _ = _source([Series({"job": "shop", route: "/a"}, 5.0, 0.0, 50.0)])
    assert "only one http_route (/a)" in (await one.fetch(plan, UNTIL)).missing


CONFIG = """
prometheus: {url: "http://127.0.0.1:1", step: 30s}
templates: [{template: http}]
services:
  - {name: web, calls: [orders]}
  - {name: orders, dependencies: [pay-db]}
confirm:
  labels: {flag_variant: variant, callee: peer, route: null}
  flag_on: "true"
  flag_off: "false"
"""


async def test_build_confirm_from_a_yaml_config_uses_its_labels() -> None:
    cfg = parse_config(yaml.safe_load(CONFIG))
    assert cfg.confirm.labels.config_hash == "config_hash", "an unset label keeps its default"
    prom = FakePrometheus([Series({"job": "cart", "variant": "true"}, 20.0, 0.3),
                           Series({"job": "cart", "variant": "false"}, 20.0, 0.001),
                           Series({"job": "web", "peer": "orders"}, 20.0, 0.4),
                           Series({"job": "web", "peer": "search"}, 20.0, 0.001)])
    topology = Topology.from_services([ServiceInfo("web", calls=("orders",)), ServiceInfo("orders", dependencies=("pay-db",))])
    live = build_confirm(cfg, [], topology, query_range=prom)
    assert live is not None, "a template and labels to split by: the tests run without a kubernetes watch"
    source = live.source
    flag = await source.fetch(_plan(TestKind.FLAG, "cart", "flag_variant", "on", "off"), UNTIL)
    assert 'variant="true"' in flag.query and 'variant="false"' in flag.query and _level(flag, "new") == pytest.approx(0.3)
    prom.queries.clear()
    dep = await source.fetch(_plan(TestKind.DEPENDENCY, "orders", "callee", "orders", "",
                                   cause=Cause(CauseType.DEPENDENCY, "orders")), UNTIL)
    assert all('job=~"web"' in s for s in _selectors(prom)), "its caller web, from the topology's calls"
    assert _level(dep, "new") == pytest.approx(0.4)
    traffic = await source.fetch(_plan(TestKind.TRAFFIC, "web", "route", signals=("request_rate",)), UNTIL)
    assert traffic.missing == ("no per-route series: confirm.labels.route is not set "
                               "(the label of the metrics that names it)")


def test_old_configs_load_unchanged_and_bad_labels_are_config_errors() -> None:
    old = parse_config(yaml.safe_load('prometheus: {url: "http://x"}\ntemplates: [{template: http}]\n'
                                      "confirm: {version_label: version, top: 2}\n"))
    assert old.confirm.version_label == "version" and old.confirm.labels.flag_variant == FLAG
    assert (old.confirm.flag_on, old.confirm.flag_off) == ("on", "off")
    with pytest.raises(ConfigError, match=r"confirm\.labels\.flag_variant"):
        parse_config({"confirm": {"labels": {"flag_variant": "feature-flag.variant"}}})
    with pytest.raises(ConfigError, match=r"confirm\.labels\.variant.*unknown field"):
        parse_config({"confirm": {"labels": {"variant": "x"}}})
    with pytest.raises(ConfigError, match="flag_on and flag_off"):
        parse_config({"confirm": {"flag_on": "x", "flag_off": "x"}})
    none = parse_config(yaml.safe_load('prometheus: {url: "http://x"}\ntemplates: [{template: http}]\nconfirm:\n'
                                       "  labels: {config_hash: null, flag_variant: null, callee: null, route: null}\n"))
    assert build_confirm(none, [], Topology.from_services([])) is None, "nothing to split by: no tests"
