"""No input can stop paging: every route and source, fed poison, on SQLite and PostgreSQL.

Each valid request body (changes, the five change webhooks, Alertmanager, feedback, hypotheses,
silences) has each of its fields in turn replaced by each poison value: a lone surrogate, NUL
and control characters, 300- and 5,000-character strings, ``1e20``, ``Infinity``, ``NaN``, a
64-bit-overflowing integer, far-past and far-future times, wrong types. Query parameters of the
read routes get the same. Every answer must be a 2xx or a 4xx naming the field, never a 500 or
a traceback; afterwards the running daemon must still take a good alert and page it, with
strict JSON, and /readyz must say ready. A stored inbox poisoned behind the edge's back must
not stop a start: the bad rows are set aside (counted), the good one pages, and a second start
replays nothing.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from daemon.api.app import create_app
from daemon.core.events import AlertEvent
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from daemon.store import tables as t
from tests.daemon.helpers import SHOP, FakeClock, RecordingNotifier

from .harness import until

NOW = 1_796_000_000.0  # the daemon's clock: 2026-11-30
POISON: list[Any] = ["\ud800", "a\udfffb", "\u0000", "x\u0001\u001fy", "x" * 300, "x" * 5000, 1e20, -1e20,
                     float("inf"), float("-inf"), float("nan"), 2 ** 70, "2099-01-01T00:00:00Z", 4_102_444_799,
                     "1970-01-01T00:00:00Z", 0, None, [], {"a": [1e20]}, True]

ARGO_APP = {"metadata": {"name": "checkout", "namespace": "argocd"}, "spec": {"destination": {"namespace": "shop"}},
            "status": {"sync": {"revision": "bbb"}, "summary": {"images": ["shop/checkout:15"]},
                       "history": [{"id": 1, "revision": "aaa"}, {"id": 2, "revision": "bbb"}],
                       "operationState": {"phase": "Succeeded", "startedAt": "2026-11-29T03:00:30Z",
                                          "finishedAt": "2026-11-29T03:01:00Z",
                                          "operation": {"initiatedBy": {"username": "alice"}}}}}
BODIES: dict[str, Any] = {
    "/api/v1/changes": {"id": "chg-1", "ts": "2026-11-29T03:01:00Z", "kind": "deploy", "service": "checkout",
                        "namespace": "shop", "summary": "rev 14 -> 15", "actor": "ci",
                        "attributes": {"to_revision": "15"}, "status": "complete",
                        "completed_at": "2026-11-29T03:02:00Z"},
    "/api/v1/webhooks/github": {
        "deployment_status": {"state": "success", "created_at": "2026-11-29T03:01:00Z", "target_url": "https://ci/1"},
        "deployment": {"id": 42, "sha": "abc1234", "ref": "v15", "environment": "production",
                       "creator": {"login": "ci-bot"}, "payload": {"service": "checkout", "to_revision": "15"}},
        "repository": {"name": "checkout", "full_name": "shop/checkout"}},
    "/api/v1/webhooks/argocd": {"app": ARGO_APP},
    "/api/v1/webhooks/flags": {"flag": "new-checkout", "service": "checkout", "ts": "2026-11-29T03:00:00Z",
                               "from": "off", "to": "on", "actor": "bob", "environment": "prod"},
    "/api/v1/webhooks/launchdarkly": {
        "_id": "5f1", "kind": "flag", "date": 1795921200000, "titleVerb": "turned on the flag",
        "member": {"email": "bob@example.com"}, "target": {"resources": ["proj/shop:env/production:flag/nc"]},
        "currentVersion": {"key": "nc", "on": True, "tags": ["service:checkout"]},
        "previousVersion": {"key": "nc", "on": False}},
    "/api/v1/webhooks/unleash": {"id": 913, "type": "feature-environment-enabled", "createdBy": "carol",
                                 "createdAt": "2026-11-29T03:00:00.000Z", "featureName": "nc", "project": "shop",
                                 "environment": "production", "tags": [{"type": "simple", "value": "service:checkout"}]},
    "/api/v1/webhooks/alertmanager": {
        "version": "4", "status": "firing", "receiver": "wc", "groupKey": "{}",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "service": "checkout",
                                                   "severity": "critical"},
                    "annotations": {"summary": "errors"}, "startsAt": "2026-11-29T03:02:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"}]},
    "/api/v1/incidents/{id}/feedback": {"cause": {"type": "change", "id": "chg-1"}, "note": "rolled back",
                                         "actor": "alice"},
    "/api/v1/incidents/{id}/hypotheses": {"cause": {"type": "change", "id": "chg-1"}, "state": "investigating",
                                           "note": "checking", "actor": "alice"},
    "/api/v1/silences": {"service": "search", "starts_at": "2026-11-30T00:00:00Z",
                         "ends_at": "2026-11-30T02:00:00Z", "comment": "maintenance", "actor": "alice"},
}
QUERIES = {"/api/v1/incidents": ["state", "service", "since", "limit", "offset"],
           "/api/v1/changes": ["since", "until", "service", "limit"], "/api/v1/health": ["since", "limit"],
           "/api/v1/silences": ["active"]}


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict) and doc:
        for k, v in doc.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(doc, list) and doc:
        for i, v in enumerate(doc):
            yield from _leaves(v, (*path, i))
    if path:
        yield path


def _mutated(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def _bodies() -> Iterator[tuple[str, bytes]]:
    for route, doc in BODIES.items():
        for path in _leaves(doc):
            for value in POISON:
                yield route, json.dumps(_mutated(doc, path, value)).encode()  # NaN/Infinity as JS would send them
        yield route, json.dumps({**doc, "extra\ud800": "\ud800"} if isinstance(doc, dict) else doc).encode()


def _strict(doc: Any) -> bool:
    try:
        json.dumps(doc, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return True


def _paged_about(service: str, rec: RecordingNotifier) -> Callable[[], bool]:
    return lambda: any(service in p.incident.get("services", []) for _, p in rec.pages)


def _query_value(v: Any) -> str:
    return quote(v if isinstance(v, str) else json.dumps(v), safe="", errors="surrogatepass")


async def test_no_request_gives_500_or_stops_paging(store: Store) -> None:
    rec = RecordingNotifier()
    d = Daemon(store=store, topology=SHOP, sources=[], notifiers={rec.name: rec}, clock=FakeClock(NOW), step=30.0,
               checkpoint_every=3600)
    run = asyncio.create_task(d.run())
    counts: dict[int, int] = {}
    started = time.monotonic()
    async with TestClient(TestServer(create_app(d))) as client:
        first = await client.post("/api/v1/webhooks/alertmanager", json=BODIES["/api/v1/webhooks/alertmanager"])
        assert first.status == 202
        assert await until(lambda: bool(rec.pages), 20), "the valid alert never paged"
        [doc] = await store.incidents.find()
        failures: list[tuple[str, Any, int, str]] = []
        for route, raw in _bodies():
            r = await client.post(route.replace("{id}", doc["id"]), data=raw,
                                  headers={"Content-Type": "application/json"})
            text = await r.text()
            counts[r.status] = counts.get(r.status, 0) + 1
            if r.status >= 500 or "Traceback" in text or (r.status == 400 and not json.loads(text).get("field")):
                failures.append((route, raw[:200], r.status, text[:200]))
        for route, params in QUERIES.items():
            for name in params:
                for value in POISON:
                    r = await client.get(f"{route}?{name}={_query_value(value)}")
                    counts[r.status] = counts.get(r.status, 0) + 1
                    if r.status >= 500 or "Traceback" in await r.text():
                        failures.append((route, name, r.status, (await r.text())[:200]))
        for value in POISON[:6]:
            for route in ("/api/v1/incidents/{v}", "/incidents/{v}", "/api/v1/incidents/{v}/postmortem.md"):
                r = await client.get(route.format(v=_query_value(value)))
                counts[r.status] = counts.get(r.status, 0) + 1
                if r.status >= 500:
                    failures.append((route, value, r.status, (await r.text())[:200]))
        assert failures == [], f"{len(failures)} of {sum(counts.values())}: {failures[:5]}"
        assert await until(lambda: d.pending == 0, 60)
        assert not run.done(), run  # the daemon runs on

        # still paging: a new outage on another service pages, every page is strict JSON
        good = copy.deepcopy(BODIES["/api/v1/webhooks/alertmanager"])
        good["alerts"][0].update(fingerprint="after-the-fuzz", startsAt="2026-11-29T23:55:00Z")
        good["alerts"][0]["labels"].update(service="search", alertname="SearchDown")
        assert (await client.post("/api/v1/webhooks/alertmanager", json=good)).status == 202
        assert await until(lambda: any("search" in p.incident.get("services", []) for _, p in rec.pages), 30), \
            "no page after the fuzz"
        assert all(_strict(p.to_json()) for _, p in rec.pages)
        assert [n.status for n in await store.notifications.find() if n.status == "failed"] == []
        ready = await client.get("/readyz")
        assert ready.status == 200, await ready.text()
    d.stop()
    await asyncio.wait_for(run, 60)
    print(f"\npoison fuzz ({store.dialect}): {sum(counts.values())} requests in {time.monotonic() - started:.1f}s, "
          f"answers {dict(sorted(counts.items()))}, quarantined in the core "
          f"{sum(s.value for m in d.metrics.quarantined.collect() for s in m.samples if s.name.endswith('_total')):.0f}")


async def test_a_poisoned_inbox_is_set_aside_at_start_and_the_rest_pages(store: Store) -> None:
    """Alerts stored behind the edge's back (an older version, a hand edit): a start must survive them."""
    bad = [AlertEvent(4_102_444_799.0, "checkout", "HighErrorRate", "alert:future", True, 0.95),  # 2099
           AlertEvent(NOW - 60, "x" * 300, "HighErrorRate", "alert:long", True, 0.95),  # fixed up, not fatal
           AlertEvent(NOW - 60, "y", "s" * 400, "alert:" + "f" * 700, True, 0.95)]
    await store.alerts.add(bad, NOW - 30)
    async with store.db.write() as conn:  # rows no version could read
        for key, doc in (("garbage-1", {"foo": 1}), ("garbage-2", {"ts": "soon", "service": "checkout"}),
                         ("garbage-3", [1, 2, 3])):
            await conn.execute(sa.insert(t.alert_inbox).values(key=key, alert=doc, received_at=NOW - 30))
    if store.dialect == "sqlite":  # PostgreSQL's JSON refuses these itself
        await store.alerts.add([AlertEvent(float("inf"), "checkout", "E", "alert:inf", True, 0.9),
                                AlertEvent(NOW - 60, "a\ud800b", "E", "alert:surrogate", True, 0.9)], NOW - 30)
    await store.alerts.add([AlertEvent(NOW - 50, "search", "SearchDown", "alert:good", True, 0.95)], NOW - 30)

    for attempt in range(2):
        rec = RecordingNotifier()
        d = Daemon(store=store, topology=SHOP, sources=[], notifiers={rec.name: rec}, clock=FakeClock(NOW),
                   step=30.0, checkpoint_every=3600)
        run = asyncio.create_task(d.run())
        if attempt == 0:
            assert await until(_paged_about("search", rec), 30), "the good alert never paged"
            quarantined = {s.labels["kind"]: s.value for m in d.metrics.quarantined.collect()
                           for s in m.samples if s.name.endswith("_total")}
            assert quarantined.get("alert", 0) >= 4 + (1 if store.dialect == "sqlite" else 0), quarantined
        else:
            await asyncio.sleep(1.0)
        assert not run.done()
        d.stop()
        await asyncio.wait_for(run, 30)
        assert await store.alerts.unprocessed_rows() == []  # nothing is replayed at the next start
    for inc in await store.incidents.find():
        assert all(len(a["service"]) <= 253 and len(a["series"]) <= 512 for a in inc["anomalies"])


def test_prometheus_labels_are_cleaned_where_they_enter() -> None:
    """A lone surrogate, a control character or a 300-character label from a query's result never
    reaches the core or the store as such: cleaned and clipped to the service column's 253."""
    from daemon.core.guard import is_clean
    from daemon.sources.prometheus import samples_from_matrix
    bad = "svc" + chr(0xD800) + chr(7) + "x" * 300
    [s] = samples_from_matrix([{"metric": {"service": bad, "route": chr(0xDFFF)}, "values": [[10, "1"]]}],
                              "error_ratio", "service")
    assert is_clean(s.service) and len(s.service) <= 253 and is_clean(s.key)
