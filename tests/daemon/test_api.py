from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from daemon.api.app import create_app
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, RecordingNotifier, shop_events

CHANGE = {"id": "chg-3f2a91c0", "ts": 1790012310, "kind": "deploy", "service": "checkout", "namespace": "shop",
          "summary": "checkout rollout revision 14 -> 15", "actor": "ci",
          "attributes": {"from_revision": "14", "to_revision": "15", "image": "registry.example/checkout:1.15.0"}}


@pytest.fixture
async def daemon(store: Store) -> Daemon:
    return Daemon(store=store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
                  clock=FakeClock(), step=30.0)


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(daemon))) as c:
        yield c


async def test_health_ready_metrics(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    r = await client.get("/readyz")
    assert r.status == 200 and (await r.json())["ready"] is True
    text = await (await client.get("/metrics")).text()
    assert "whatchanged_samples_total" in text and "whatchanged_outbox_depth" in text


async def test_post_change_is_stored_once_and_reaches_the_core(client: TestClient, daemon: Daemon) -> None:
    r = await client.post("/api/v1/changes", json=CHANGE)
    assert r.status == 202, await r.text()
    assert await r.json() == {"accepted": 1, "duplicates": 0, "ids": ["chg-3f2a91c0"]}
    r = await client.post("/api/v1/changes", json=[CHANGE, {**CHANGE, "id": "chg-2", "ts": "2026-09-21T12:00:00Z"}])
    assert await r.json() == {"accepted": 1, "duplicates": 1, "ids": ["chg-3f2a91c0", "chg-2"]}
    listed = await (await client.get("/api/v1/changes")).json()
    assert {c["id"] for c in listed["changes"]} == {"chg-3f2a91c0", "chg-2"}
    assert daemon.queue.qsize() == 2  # each new change goes to the core once


@pytest.mark.parametrize("body, field", [
    ({**CHANGE, "kind": "deploymnet"}, "kind"),
    ({k: v for k, v in CHANGE.items() if k != "service"}, "service"),
    ({**CHANGE, "ts": "yesterday"}, "ts"),
    ({**CHANGE, "attributes": "x"}, "attributes"),
    ([CHANGE, {**CHANGE, "id": "b", "ts": None}], "1.ts"),
    ({"changes": [{**CHANGE, "kind": 3}]}, "changes.0.kind"),
    ("just text", "body"),
])
async def test_bad_change_gets_400_naming_the_field_and_stores_nothing(
        client: TestClient, daemon: Daemon, body: object, field: str) -> None:
    r = await client.post("/api/v1/changes", json=body)
    assert r.status == 400
    doc = await r.json()
    assert doc["field"] == field, doc
    assert "Traceback" not in await r.text()
    assert await daemon.store.changes.find() == []


async def test_every_missing_field_is_named_in_one_400(client: TestClient, daemon: Daemon) -> None:
    r = await client.post("/api/v1/changes", json={})
    doc = await r.json()
    assert r.status == 400 and doc["fields"] == ["ts", "kind", "service"], doc
    assert doc["field"] == "ts" and doc["message"] == "missing required fields: ts, kind, service"
    r = await client.post("/api/v1/changes", json={"changes": [{"ts": "yesterday", "kind": "deployy"}]})
    doc = await r.json()
    assert doc["fields"] == ["changes.0.ts", "changes.0.kind", "changes.0.service"], doc
    assert "changes.0.kind: expected one of deploy" in doc["message"] and doc["message"].endswith(
        "changes.0.service: required field is missing")
    assert await daemon.store.changes.find() == []


async def test_malformed_json_and_oversized_body(client: TestClient) -> None:
    r = await client.post("/api/v1/changes", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["field"] == "body"
    r = await client.post("/api/v1/changes", data=b"x" * (2 * 1024 * 1024))
    assert r.status == 413


async def test_incidents_api_and_feedback(client: TestClient, daemon: Daemon) -> None:
    for ev in shop_events(1_790_000_000.0, 120, bad_from=80):
        await daemon.handle(ev)
    await daemon.flush()
    doc = await (await client.get("/api/v1/incidents")).json()
    assert len(doc["incidents"]) == 1
    inc = doc["incidents"][0]
    assert {"checkout", "frontend"} <= set(inc["services"])
    assert inc["paged_at"] is not None and inc["candidates"]
    one = await (await client.get(f"/api/v1/incidents/{inc['id']}")).json()
    assert one["notifications"][0]["receiver"] == "rec"
    assert (await client.get("/api/v1/incidents/inc-nope")).status == 404
    assert (await client.get("/api/v1/incidents?state=bogus")).status == 400
    assert (await client.get("/api/v1/incidents?limit=0")).status == 400
    assert (await (await client.get("/api/v1/incidents?service=search")).json())["incidents"] == []
    r = await client.post(f"/api/v1/incidents/{inc['id']}/feedback", json={"cause": {"type": "none"}, "note": "cron"})
    assert r.status == 201
    r = await client.post(f"/api/v1/incidents/{inc['id']}/feedback", json={"cause": {"type": "change"}})
    assert r.status == 400 and (await r.json())["field"] == "cause.id"
    one = await (await client.get(f"/api/v1/incidents/{inc['id']}")).json()
    assert one["feedback"][0]["note"] == "cron"
