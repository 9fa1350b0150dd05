"""Bad input, generated: every parser and the change endpoint either accept or refuse with a
clear error naming the field; never a 500, never a traceback to the client, never half a record.

Property-based (hypothesis): arbitrary JSON, and valid documents with one field mutated.
60 examples per property in ``make test``; ``FUZZ_EXAMPLES=2000`` for a longer fuzzing run.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.api.app import create_app
from daemon.config import Config, ConfigError, load_config, parse_config
from daemon.core.schema import InputError, parse_changes
from daemon.runtime.daemon import Daemon
from daemon.sources.prometheus import samples_from_matrix
from daemon.sources.scenario import ScenarioError, load_scenario
from daemon.store import Store
from tests.daemon.helpers import SHOP, FakeClock, RecordingNotifier

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                           st.dictionaries(st.text(max_size=12), kids, max_size=4)),
                           max_leaves=12)

VALID_CHANGE: dict[str, Any] = {
    "id": "chg-1", "ts": 1790012310, "kind": "deploy", "service": "checkout", "namespace": "shop",
    "summary": "checkout rollout revision 14 -> 15", "actor": "ci", "attributes": {"to_revision": "15"}}


@st.composite
def mutated_change(draw: st.DrawFn) -> Any:
    doc = dict(VALID_CHANGE)
    key = draw(st.sampled_from([*VALID_CHANGE, "extra"]))
    if draw(st.booleans()):
        doc.pop(key, None)
    else:
        doc[key] = draw(json_values)
    shape = draw(st.sampled_from(["one", "list", "wrapped"]))
    return doc if shape == "one" else [VALID_CHANGE, doc] if shape == "list" else {"changes": [doc]}


def _check_change_parse(data: Any) -> None:
    try:
        changes = parse_changes(data)
    except InputError as e:
        assert isinstance(e.field, str) and e.field, e  # names the field (or "body")
        assert e.message and "Traceback" not in e.message
        return
    for c in changes:
        assert c.id and c.service and math.isfinite(c.ts)
        json.dumps(c.to_json())  # storable as JSON


@FUZZ
@given(json_values)
def test_change_parser_arbitrary_json(data: Any) -> None:
    _check_change_parse(data)


@FUZZ
@given(mutated_change())
def test_change_parser_mutated_fields(data: Any) -> None:
    _check_change_parse(data)


# -- the HTTP endpoint: one app and one event loop for all examples -------------------------------
class _Api:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.store: Store = self.loop.run_until_complete(Store.open(f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}"))
        self.daemon = Daemon(store=self.store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
                             clock=FakeClock(), step=30.0)
        self.client = TestClient(TestServer(create_app(self.daemon)), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())

    def post(self, body: bytes, content_type: str = "application/json",
             path: str = "/api/v1/changes") -> tuple[int, str, int]:
        async def go() -> tuple[int, str, int]:
            before = len(await self.store.changes.find(limit=100_000))
            r = await self.client.post(path, data=body, headers={"Content-Type": content_type})
            text = await r.text()
            after = len(await self.store.changes.find(limit=100_000))
            return r.status, text, after - before
        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.run_until_complete(self.store.close())
        self.loop.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    a = _Api(tmp_path_factory.mktemp("fuzz"))
    yield a
    a.close()


def _check_response(status: int, text: str, stored: int, changes: bool = True) -> None:
    assert status in (200, 202, 400, 413), (status, text)
    assert "Traceback" not in text and 'File "' not in text
    doc = json.loads(text)
    if status in (200, 202):
        assert not changes or stored == doc.get("accepted", 0)
    else:
        assert stored == 0  # refused: nothing of it stored
        assert "field" in doc and doc["message"]


@FUZZ
@given(st.one_of(json_values, mutated_change()))
def test_changes_endpoint_json(api: _Api, data: Any) -> None:
    body = json.dumps(data, allow_nan=True).encode()
    _check_response(*api.post(body))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
def test_changes_endpoint_bytes(api: _Api, body: bytes, ctype: str) -> None:
    _check_response(*api.post(body, ctype))


def test_changes_endpoint_deep_nesting_and_huge_numbers(api: _Api) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"ts": 1e999, "kind": "deploy", "service": "a"}',
                 b'{"ts": 1' + b"0" * 5000 + b', "kind": "deploy", "service": "a"}',
                 json.dumps({**VALID_CHANGE, "attributes": {"a": "\u0000\ud7ff"}}).encode(),
                 b'{"ts": NaN, "kind": "deploy", "service": "a"}', b"\xff\xfe\x00"):
        _check_response(*api.post(body))


# -- webhooks: Alertmanager and the change adapters ------------------------------------------------
ALERT = {"version": "4", "status": "firing", "receiver": "whatchanged", "groupKey": "{}:{}",
         "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "service": "checkout"},
                     "annotations": {"summary": "<b>errors</b>"}, "startsAt": "2026-11-29T03:02:00Z",
                     "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"}]}


@st.composite
def mutated_alert(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(ALERT)
    alert = doc["alerts"][0]
    where = draw(st.sampled_from(["top", "alert", "labels"]))
    target = doc if where == "top" else alert if where == "alert" else alert["labels"]
    key = draw(st.sampled_from(sorted(target) + ["extra"]))
    if draw(st.booleans()):
        target.pop(key, None)
    else:
        target[key] = draw(json_values)
    return doc


@FUZZ
@given(st.one_of(json_values, mutated_alert()))
def test_alertmanager_webhook(api: _Api, data: Any) -> None:
    status, text, stored = api.post(json.dumps(data).encode(), path="/api/v1/webhooks/alertmanager")
    _check_response(status, text, stored, changes=False)
    assert stored == 0  # alerts are not changes


@FUZZ
@given(st.sampled_from(["github", "argocd", "flags", "launchdarkly", "unleash"]), json_values)
def test_change_webhook_adapters(api: _Api, adapter: str, data: Any) -> None:
    _check_response(*api.post(json.dumps(data).encode(), path=f"/api/v1/webhooks/{adapter}"))


def test_webhooks_deep_nesting_and_bad_bytes(api: _Api) -> None:
    for path in ("/api/v1/webhooks/alertmanager", "/api/v1/webhooks/github"):
        for body in (b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b'{"a": 1' + b"0" * 5000 + b"}"):
            _check_response(*api.post(body, path=path), changes=False)


# -- config files ----------------------------------------------------------------------------
EXAMPLE = yaml.safe_load((ROOT / "deploy" / "examples" / "config.yaml").read_text())
CONFIG_PATHS = ["listen", "base_url", "store", "store.url", "store.retention", "prometheus", "prometheus.url",
                "prometheus.step", "prometheus.timeout", "signals", "signals.0", "signals.0.name", "signals.0.query",
                "services", "services.0.calls", "probes.0.url", "probes.0.interval", "probes.0.expect_status",
                "notifiers", "notifiers.1.type", "notifiers.1.url", "notifiers.1.secret", "detection",
                "detection.page_min_confidence", "detection.group_window", "unknown_key"]


def _set(doc: Any, path: str, value: Any, delete: bool) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        doc = doc[int(p)] if isinstance(doc, list) else doc.setdefault(p, {})
        if not isinstance(doc, (dict, list)):
            return
    last = parts[-1]
    if isinstance(doc, list):
        doc[int(last)] = value
    elif delete:
        doc.pop(last, None)
    else:
        doc[last] = value


@FUZZ
@given(st.sampled_from(CONFIG_PATHS), json_values, st.booleans())
def test_config_mutations_name_the_field(path: str, value: Any, delete: bool) -> None:
    doc = copy.deepcopy(EXAMPLE)
    _set(doc, path, value, delete)
    try:
        cfg = parse_config(doc, "c.yaml")
    except ConfigError as e:
        assert str(e).startswith("c.yaml"), e
        assert e.message and "Traceback" not in str(e)
        top = path.split(".")[0]
        # the error names the mutated field, or a field that refers to it (routing -> notifiers),
        # or the whole document's consistency check
        assert e.field == "" or e.field.split(".")[0] in {top, *EXAMPLE}, (path, e)
        return
    assert isinstance(cfg, Config)


@FUZZ
@given(st.binary(max_size=400))
def test_config_file_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    p = tmp_path_factory.mktemp("cfg") / "c.yaml"
    p.write_bytes(raw)
    try:
        load_config(p)
    except ConfigError as e:
        assert str(p) in str(e)


# -- scenario folders --------------------------------------------------------------------------
@FUZZ
@given(meta=st.one_of(json_values, st.fixed_dictionaries({"services": json_values, "step_seconds": json_values})),
       metrics=st.lists(st.lists(st.text(max_size=8), max_size=5), max_size=5),
       changes=st.lists(st.one_of(json_values, mutated_change()), max_size=3),
       health=st.lists(st.lists(st.text(max_size=8), max_size=4), max_size=3), header=st.booleans())
def test_scenario_folder(tmp_path_factory: pytest.TempPathFactory, meta: Any, metrics: list[list[str]],
                         changes: list[Any], health: list[list[str]], header: bool) -> None:
    import csv
    root = tmp_path_factory.mktemp("scn")
    (root / "scenario.json").write_text(json.dumps(meta))
    with (root / "metrics.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(["timestamp", "service", "signal", "value"])
        w.writerows(metrics)
    (root / "changes.jsonl").write_text("\n".join(json.dumps(c) for c in changes))
    with (root / "health.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["timestamp", "target", "healthy"], *health])
    try:
        scn = load_scenario(root)
        events = list(scn.events())
    except ScenarioError as e:
        assert str(root) in str(e)
        return
    assert all(math.isfinite(ev.ts) or isinstance(ev.ts, float) for ev in events)


# -- PromQL responses --------------------------------------------------------------------------
values = st.one_of(st.text(max_size=10), st.sampled_from(["NaN", "+Inf", "-Inf", "1e309", "", "0x10"]),
                   st.floats(allow_nan=True), st.none(), st.integers())
matrix = st.lists(st.fixed_dictionaries(
    {"metric": st.dictionaries(st.sampled_from(["service", "__name__", "route", "pod", "x"]),
                               st.text(min_size=1, max_size=10),  # Prometheus drops empty labels
                               max_size=3),
     "values": st.lists(st.tuples(st.integers(0, 2**32), values), max_size=5)}), max_size=4)


@FUZZ
@given(matrix)
def test_promql_matrix_values_never_break_the_parser(result: list[dict[str, Any]]) -> None:
    samples = samples_from_matrix(result, "error_ratio", "service")
    assert len(samples) == sum(len(s["values"]) for s in result)
    for s in samples:
        assert isinstance(s.value, float) and math.isfinite(s.ts) and s.service
