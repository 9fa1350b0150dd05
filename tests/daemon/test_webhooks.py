"""Change webhooks and Alertmanager input over HTTP: auth, limits, adapters, idempotency, field errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from correlators.types import ChangeKind
from daemon.api.app import create_app
from daemon.api.webhooks import WebhookSettings, sign
from daemon.core.events import AlertEvent
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, RecordingNotifier

TOKEN = b"t0ken-for-tests"
SECRET = b"hmac-secret-for-tests"

GITHUB = {
    "action": "created",
    "deployment_status": {"id": 7, "state": "success", "created_at": "2026-11-29T03:01:00Z",
                          "target_url": "https://ci.example/run/1", "creator": {"login": "ci-bot"}},
    "deployment": {"id": 42, "sha": "abc1234def", "ref": "v15", "task": "deploy", "environment": "shop",
                   "creator": {"login": "alice"}, "created_at": "2026-11-29T03:00:00Z",
                   "payload": {"service": "checkout", "from_revision": "14", "to_revision": "15"}},
    "repository": {"name": "checkout-repo", "full_name": "acme/checkout-repo"},
    "sender": {"login": "alice"},
}

ALERT = {
    "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0, "status": "firing",
    "receiver": "whatchanged", "groupLabels": {"alertname": "HighErrorRate"},
    "commonLabels": {"alertname": "HighErrorRate"}, "commonAnnotations": {}, "externalURL": "http://am",
    "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "service": "checkout",
                                               "severity": "critical"},
                "annotations": {"summary": "checkout 5xx above 5%"}, "startsAt": "2026-11-29T03:02:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "f00d"}],
}


@pytest.fixture
async def daemon(store: Store) -> Daemon:
    return Daemon(store=store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
                  clock=FakeClock(), step=30.0,
                  webhooks=WebhookSettings(bearer_tokens=(TOKEN,), hmac_secrets=(SECRET,), max_body=4096))


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(daemon))) as c:
        yield c


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN.decode()}"}


async def test_github_deployment_status_signed_is_recorded_once(client: TestClient, daemon: Daemon) -> None:
    raw = json.dumps(GITHUB).encode()
    headers = {"X-GitHub-Event": "deployment_status", "X-Hub-Signature-256": sign(SECRET, raw),
               "Content-Type": "application/json"}
    r = await client.post("/api/v1/webhooks/github", data=raw, headers=headers)
    assert r.status == 202, await r.text()
    assert await r.json() == {"accepted": 1, "duplicates": 0, "ids": ["gh-deploy-42"], "ignored": False}
    # GitHub re-delivers: same deployment, same id, stored once, queued once
    r = await client.post("/api/v1/webhooks/github", data=raw, headers=headers)
    assert (await r.json())["duplicates"] == 1
    [ch] = await daemon.store.changes.find()
    assert (ch.kind, ch.service, ch.namespace, ch.actor) == (ChangeKind.DEPLOY, "checkout", "shop", "alice")
    assert ch.attributes["from_revision"] == "14" and ch.attributes["to_revision"] == "15"
    assert daemon.queue.qsize() == 1


async def test_github_ping_and_other_states_are_not_changes(client: TestClient, daemon: Daemon) -> None:
    r = await client.post("/api/v1/webhooks/github", json={"zen": "hi"}, headers={**_auth(), "X-GitHub-Event": "ping"})
    assert r.status == 200
    pending = {**GITHUB, "deployment_status": {**GITHUB["deployment_status"], "state": "queued"}}
    r = await client.post("/api/v1/webhooks/github", json=pending, headers={**_auth(), "X-GitHub-Event":
                                                                            "deployment_status"})
    assert r.status == 202 and (await r.json())["ignored"] is True
    assert await daemon.store.changes.find() == []


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 403),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 403),
    ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 403),
    ({"X-Hub-Signature-256": "garbage"}, 403),
])
async def test_unauthenticated_calls_are_refused_without_details(client: TestClient, daemon: Daemon,
                                                                 headers: dict[str, str], status: int) -> None:
    for path in ("/api/v1/webhooks/github", "/api/v1/webhooks/alertmanager", "/api/v1/webhooks/flags"):
        r = await client.post(path, json=GITHUB, headers={"X-GitHub-Event": "deployment_status", **headers})
        assert r.status == status
        body = await r.json()
        assert set(body) == {"error"}  # no hint about which credential or why
    assert await daemon.store.changes.find() == [] and daemon.queue.qsize() == 0


async def test_signature_over_a_different_body_is_refused(client: TestClient) -> None:
    raw = json.dumps(GITHUB).encode()
    r = await client.post("/api/v1/webhooks/github", data=raw + b" ",
                          headers={"X-Hub-Signature-256": sign(SECRET, raw)})
    assert r.status == 403


async def test_body_limit(client: TestClient, daemon: Daemon) -> None:
    big = {"flag": "x", "service": "checkout", "ts": 1790000000, "note": "a" * 5000}
    r = await client.post("/api/v1/webhooks/flags", json=big, headers=_auth())
    assert r.status == 413 and (await r.json())["field"] == "body"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b"x" * 1000
    r = await client.post("/api/v1/webhooks/flags", data=chunks(), headers=_auth())
    assert r.status == 413
    assert await daemon.store.changes.find() == []


@pytest.mark.parametrize("path, body, field", [
    ("github", {**GITHUB, "deployment_status": {"state": "success", "created_at": "yesterday"}},
     "deployment_status.created_at"),
    ("github", {"deployment_status": {"state": "success"}}, "deployment"),
    ("argocd", {"app": {"metadata": {"name": "checkout"}}}, "app.status.sync.revision"),
    ("flags", {"flag": "new-checkout", "service": "checkout"}, "ts"),
    ("flags", [1, 2], "body"),
    ("launchdarkly", {"kind": "flag", "_id": "x", "date": "today"}, "date"),
    ("unleash", {"type": "feature-updated", "id": 1, "featureName": "f"}, "createdAt"),
    ("alertmanager", {"version": "4", "alerts": [{"status": "burning", "labels": {}}]}, "alerts.0.status"),
    ("alertmanager", {"version": "3", "alerts": []}, "version"),
    ("alertmanager", {"version": "4", "alerts": [{"status": "firing", "labels": {"service": "a"}}]},
     "alerts.0.startsAt"),
])
async def test_bad_payloads_name_the_field(client: TestClient, daemon: Daemon, path: str, body: object,
                                           field: str) -> None:
    r = await client.post(f"/api/v1/webhooks/{path}", json=body,
                          headers={**_auth(), "X-GitHub-Event": "deployment_status"})
    assert r.status == 400, await r.text()
    assert (await r.json())["field"] == field
    assert await daemon.store.changes.find() == [] and daemon.queue.qsize() == 0


async def test_not_json_and_unknown_adapter(client: TestClient) -> None:
    r = await client.post("/api/v1/webhooks/flags", data=b"{nope", headers=_auth())
    assert r.status == 400 and (await r.json())["field"] == "body"
    r = await client.post("/api/v1/webhooks/jenkins", json={}, headers=_auth())
    assert r.status == 404


async def test_flag_adapters_record_feature_flag_changes(client: TestClient, daemon: Daemon) -> None:
    ld = {"_id": "5f1", "kind": "flag", "date": 1790000000000, "titleVerb": "turned on the flag",
          "member": {"email": "bob@example.com"},
          "target": {"resources": ["proj/shop:env/production:flag/new-checkout"]},
          "currentVersion": {"key": "new-checkout", "on": True, "tags": ["service:checkout"]},
          "previousVersion": {"key": "new-checkout", "on": False}}
    raw = json.dumps(ld).encode()
    r = await client.post("/api/v1/webhooks/launchdarkly", data=raw,
                          headers={"X-LD-Signature": sign(SECRET, raw).removeprefix("sha256=")})
    assert r.status == 202, await r.text()
    unleash = {"id": 913, "type": "feature-environment-disabled", "createdBy": "carol",
               "createdAt": "2026-11-29T03:00:00.000Z", "featureName": "fast-search", "project": "shop",
               "environment": "production", "tags": []}
    r = await client.post("/api/v1/webhooks/unleash?service=search", json=unleash, headers=_auth())
    assert r.status == 202
    r = await client.post("/api/v1/webhooks/flags", headers=_auth(),
                          json={"flag": "ranking-v2", "service": "search", "ts": "2026-11-29T03:05:00Z",
                                "from": "off", "to": "50%", "actor": "dan"})
    assert r.status == 202
    got = {c.id: c for c in await daemon.store.changes.find()}
    assert all(c.kind is ChangeKind.FEATURE_FLAG for c in got.values())
    assert got["ld-5f1"].service == "checkout" and got["ld-5f1"].attributes["to"] == "on"
    assert got["unleash-913"].service == "search" and got["unleash-913"].attributes["to"] == "off"
    [generic] = [c for c in got.values() if c.id.startswith("flag-")]
    assert generic.summary == "flag ranking-v2 off -> 50%" and generic.actor == "dan"


async def test_argocd_sync_and_rollback(client: TestClient, daemon: Daemon) -> None:
    def app(revision: str, history: list[str], started: str) -> dict[str, object]:
        return {"app": {"metadata": {"name": "checkout", "namespace": "argocd"},
                        "spec": {"destination": {"namespace": "shop"}},
                        "status": {"sync": {"revision": revision},
                                   "history": [{"id": i, "revision": h} for i, h in enumerate(history)],
                                   "operationState": {"phase": "Succeeded", "startedAt": started,
                                                      "finishedAt": started,
                                                      "operation": {"initiatedBy": {"automated": True}}}}}}
    r = await client.post("/api/v1/webhooks/argocd", json=app("bbb", ["aaa", "bbb"], "2026-11-29T03:00:00Z"),
                          headers=_auth())
    assert r.status == 202
    r = await client.post("/api/v1/webhooks/argocd", json=app("aaa", ["aaa", "bbb", "aaa"],
                                                              "2026-11-29T03:10:00Z"), headers=_auth())
    assert r.status == 202
    deploy, rollback = sorted(await daemon.store.changes.find(), key=lambda c: c.ts)
    assert deploy.kind is ChangeKind.DEPLOY and deploy.attributes["from_revision"] == "aaa"
    assert rollback.kind is ChangeKind.ROLLBACK and rollback.attributes["from_revision"] == "bbb"
    assert deploy.actor == "automated"


async def test_alertmanager_firing_then_resolved_opens_and_closes_an_incident(client: TestClient,
                                                                              daemon: Daemon) -> None:
    r = await client.post("/api/v1/webhooks/alertmanager", json=ALERT, headers=_auth())
    assert r.status == 202, await r.text()
    assert await r.json() == {"accepted": 1, "skipped": 0, "firing": 1}
    # Alertmanager repeats a firing alert (repeat_interval): still one anomaly
    await client.post("/api/v1/webhooks/alertmanager", json=ALERT, headers=_auth())
    resolved = json.loads(json.dumps(ALERT))
    resolved["status"] = "resolved"
    resolved["alerts"][0].update(status="resolved", endsAt="2026-11-29T03:20:00Z")
    no_service = json.loads(json.dumps(ALERT))
    no_service["alerts"][0]["labels"] = {"alertname": "Watchdog"}
    r = await client.post("/api/v1/webhooks/alertmanager", json=no_service, headers=_auth())
    assert await r.json() == {"accepted": 0, "skipped": 1, "firing": 0}
    events: list[AlertEvent] = []
    while not daemon.queue.empty():
        ev = daemon.queue.get_nowait()
        assert isinstance(ev, AlertEvent)
        events.append(ev)
        await daemon.handle(ev)
        daemon.queue.task_done()
    await daemon.flush()
    [inc] = daemon.engine.incidents.values()
    assert [a.service for a in inc.anomalies] == ["checkout"] and inc.state.value == "open"
    assert inc.anomalies[0].signal == "HighErrorRate" and inc.anomalies[0].confidence == 0.95
    assert inc.paged_at is not None
    r = await client.post("/api/v1/webhooks/alertmanager", json=resolved, headers=_auth())
    await daemon.handle(daemon.queue.get_nowait())
    assert inc.state.value == "resolved"
    stored = await daemon.store.incidents.get(inc.id)
    assert stored is not None and stored["state"] == "resolved"
