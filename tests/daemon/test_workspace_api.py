"""The workspace API on SQLite and PostgreSQL: view, hypothesis loop, postmortem, silences, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from correlators.types import Cause, Change, ChangeKind
from daemon.api.app import create_app
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from daemon.workspace.hypotheses import HypothesisState
from daemon.workspace.postmortem import FOLLOW_UPS

from .helpers import FakeClock
from .workspace_helpers import CONFIG, DEPLOY, START, STEP, feed_incident, make_daemon


@pytest.fixture
async def daemon(store: Store) -> Daemon:
    return make_daemon(store)


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(daemon))) as c:
        yield c


async def _updates(daemon: Daemon, incident_id: str) -> list[str]:
    return [n.payload["text"] for n in await daemon.store.notifications.find(incident_id=incident_id)
            if n.action == "note"]


async def test_incident_view_has_series_timeline_and_changes(client: TestClient, daemon: Daemon) -> None:
    inc = await feed_incident(daemon)
    view = await (await client.get(f"/api/v1/incidents/{inc}")).json()
    assert view["candidates"] and view["recommendation"]
    assert view["candidates"][0]["cause"] == {"type": "change", "id": DEPLOY.id}
    keys = {s["series"] for s in view["series"]}
    assert {"checkout/error_ratio", "frontend/error_ratio"} <= keys
    pts = next(s for s in view["series"] if s["series"] == "checkout/error_ratio")["points"]
    assert len(pts) >= 100  # the hours around the onset, not just the anomaly
    assert pts[0][0] == START  # everything the daemon saw in the 3 h before the onset
    assert pts[-1][0] == START + 119 * STEP > view["onset"]
    before = [v for t, v in pts if t < DEPLOY.ts]
    after = [v for t, v in pts if t > view["onset"] + 60]
    assert max(before) < 0.02 and min(after) > 0.1  # the real samples, before and after the shift
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.index("change") < kinds.index("onset") < kinds.index("detection") <= kinds.index("page")
    assert [c["id"] for c in view["changes"]] == [CONFIG.id, DEPLOY.id]
    assert view["window"]["start"] == view["onset"] - 3 * 3600


async def test_hypothesis_loop(client: TestClient, daemon: Daemon) -> None:
    inc = await feed_incident(daemon)
    clock = daemon.clock
    assert isinstance(clock, FakeClock)
    view = await (await client.get(f"/api/v1/incidents/{inc}")).json()
    first, second = view["candidates"][0], view["candidates"][1]
    url = f"/api/v1/incidents/{inc}/hypotheses"

    r = await client.post(url, json={"cause": first["cause"], "state": "investigating", "actor": "ann"})
    assert r.status == 201, await r.text()
    assert (await r.json())["notified"] == 1
    updates = await _updates(daemon, inc)
    assert updates and updates[-1].startswith("Hypothesis investigating by ann: ")

    inv = (await (await client.get(f"/api/v1/incidents/{inc}")).json())["investigation"]
    assert inv["cause"] == first["cause"] and inv["suggest_next"] is None
    clock.now += 11 * 60
    inv = (await (await client.get(f"/api/v1/incidents/{inc}")).json())["investigation"]
    assert inv["overdue"] and inv["elapsed"] >= 600
    assert inv["suggest_next"]["cause"] == second["cause"]

    r = await client.post(url, json={"cause": first["cause"], "state": "refuted"})
    assert r.status == 400 and (await r.json())["field"] == "note"
    r = await client.post(url, json={"cause": first["cause"], "state": "refuted", "note": "old pods fail too"})
    assert r.status == 201
    view = await (await client.get(f"/api/v1/incidents/{inc}")).json()
    assert first["cause"] not in [c["cause"] for c in view["candidates"]]
    dead = next(d for d in view["dead_ends"] if d["cause"] == first["cause"])
    assert dead["reason"] == "refuted: old pods fail too"
    assert "old pods fail too" in (await _updates(daemon, inc))[-1]

    clock.now += 1
    r = await client.post(url, json={"cause": second["cause"], "state": "confirmed", "note": "it was this"})
    assert r.status == 201
    assert (await r.json())["feedback_id"] is not None
    feedback = await daemon.store.feedback.find(inc)
    assert [f["cause"] for f in feedback] == [second["cause"]]  # confirmed causes feed the learning
    assert len(await _updates(daemon, inc)) == 3  # every change of state went out
    assert (await (await client.get(f"/api/v1/incidents/{inc}")).json())["investigation"] is None

    for body, field in [({"cause": second["cause"], "state": "maybe"}, "state"),
                        ({"cause": {"type": "change", "id": "chg-unknown"}, "state": "investigating"}, "cause"),
                        ({"cause": {"type": "change"}, "state": "investigating"}, "cause.id"),
                        ({"cause": second["cause"], "state": "investigating", "note": 3}, "note")]:
        r = await client.post(url, json=body)
        assert r.status == 400 and (await r.json())["field"] == field, body
    assert (await client.post("/api/v1/incidents/inc-nope/hypotheses",
                              json={"cause": {"type": "none"}, "state": "investigating"})).status == 404


async def test_postmortem_draft(client: TestClient, daemon: Daemon) -> None:
    background = Change("chg-bg-1", START + 20 * STEP, ChangeKind.DEPLOY, "search", "shop",
                        "search rollout revision 3 -> 4", "ci", {})
    await daemon.store.changes.add([background], received_at=background.ts)
    rollback = Change("chg-rb-1", START + 135 * STEP, ChangeKind.ROLLBACK, "checkout", "shop",
                      "checkout rollback revision 15 -> 14", "oncall", {})
    inc = await feed_incident(daemon, steps=200, bad_until=140, extra=[rollback])
    view = await (await client.get(f"/api/v1/incidents/{inc}")).json()
    assert view["state"] == "resolved"
    assert any(c["id"] == background.id for c in view["changes"])  # in the window, so the filter is tested
    await client.post(f"/api/v1/incidents/{inc}/hypotheses",
                      json={"cause": view["candidates"][0]["cause"], "state": "confirmed", "note": "rolled back"})
    r = await client.get(f"/api/v1/incidents/{inc}/postmortem.md")
    assert r.status == 200 and r.content_type == "text/markdown"
    md = await r.text()
    for heading in ("## Timeline", "## Impact", "## Candidates", "## Dead ends", "## Root cause", "## Follow-ups"):
        assert heading in md
    for name, _ in FOLLOW_UPS:
        assert f"- [ ] **{name}**" in md
    timeline = md.split("## Timeline")[1].split("## Impact")[0]
    for kind in ("| change |", "| onset |", "| detection |", "| page |", "| hypothesis |", "| resolution |"):
        assert kind in timeline, kind
    # the candidates' changes are there, the background deploy of search is not
    assert "checkout rollout revision 14 -> 15" in timeline and CONFIG.summary in timeline
    assert background.summary not in timeline
    assert rollback.summary in timeline  # what the responders did during the incident
    assert md.startswith("# Postmortem draft: checkout: error ratio") and "- Ranking: likely checkout rollout" in md
    # the confirm (which also recorded feedback) is one row, marked as the first responder action, by title
    rows = [line for line in timeline.splitlines() if "confirmed" in line or "the cause was" in line]
    assert len(rows) == 1 and "(first responder action)" in rows[0] and "change:" not in rows[0], rows
    assert "| acknowledgement |" not in timeline and "| feedback |" not in timeline
    # candidates numbered 1, 2, ... as listed; scores and values human-formatted
    cands = md.split("## Candidates")[1].split("## Dead ends")[0]
    numbers = [int(line.split(".")[0]) for line in cands.splitlines() if line[:1].isdigit()]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers, cands
    assert "Duration: " in md and "checkout" in md and "confirmed" in md
    impact = md.split("- checkout error ratio: ")[1].splitlines()[0]
    before, after = impact.split(",")[0].split(" → ")
    assert before.endswith("%") and after.endswith("%"), impact
    worst = impact.split("worst ")[1].split(" ")[0]
    assert worst.endswith("%") and 10.0 < float(worst.rstrip("%")) < 14.0, impact  # worst while it lasted
    assert "<script>" in md  # Markdown is text; it is not rendered here, and table pipes are escaped
    assert (await client.get("/api/v1/incidents/inc-nope/postmortem.md")).status == 404


async def test_series_snapshot_survives_a_restart(store: Store) -> None:
    first = make_daemon(store)
    inc = await feed_incident(first)
    await first.checkpoint()  # periodic, and at shutdown: open incidents' series are snapshotted
    fresh = make_daemon(store, clock=FakeClock(START + 130 * STEP))  # empty ring buffer
    assert len(fresh.workspace.buffer) == 0
    view = await fresh.workspace.view(inc)
    assert view is not None
    pts = next(s for s in view["series"] if s["series"] == "checkout/error_ratio")["points"]
    assert len(pts) >= 100 and max(v for _, v in pts) > 0.1


async def test_silences_suppress_pages(client: TestClient, daemon: Daemon) -> None:
    r = await client.post("/api/v1/silences", json={"service": "checkout", "reason": "planned"})
    assert r.status == 400 and (await r.json())["field"] == "ends_at"
    r = await client.post("/api/v1/silences", json={"service": "*", "ends_at": START - 10, "reason": "x"})
    assert r.status == 400 and (await r.json())["field"] == "ends_at"
    r = await client.post("/api/v1/silences", json={"service": "*", "ends_at": START + 86400, "reason": "drill"})
    assert r.status == 201
    sid = (await r.json())["id"]
    listed = (await (await client.get("/api/v1/silences?active=true")).json())["silences"]
    assert [s["id"] for s in listed] == [sid]
    inc = await feed_incident(daemon)
    assert (await daemon.store.incidents.get(inc)) is not None  # recorded…
    assert await daemon.store.notifications.find(incident_id=inc) == []  # …but not paged
    view = await (await client.get(f"/api/v1/incidents/{inc}")).json()
    assert [(s["id"], s["reason"]) for s in view["silences"]] == [(sid, "drill")]
    assert (await client.delete(f"/api/v1/silences/{sid}")).status == 200
    assert (await (await client.get("/api/v1/silences?active=true")).json())["silences"] == []
    assert (await client.delete("/api/v1/silences/999")).status == 404


async def test_health_endpoint_and_openapi_lists_every_api_route(client: TestClient) -> None:
    assert (await client.get("/api/v1/health")).status == 200
    assert (await client.get("/api/v1/health?since=nonsense")).status == 400
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    app = client.app
    assert app is not None
    routes = {(res.canonical, route.method.lower()) for res in app.router.resources() for route in res
              if res.canonical.startswith("/api/v1/") and route.method != "HEAD"}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes <= documented, routes - documented


async def test_retention_prunes_workspace_rows_of_pruned_incidents(store: Store) -> None:
    daemon = make_daemon(store)
    inc = await feed_incident(daemon, steps=200, bad_until=140)
    view = await daemon.workspace.view(inc)
    assert view is not None and view["state"] == "resolved"
    await daemon.workspace.set_hypothesis(inc, Cause.from_json(view["candidates"][0]["cause"]),
                                          HypothesisState.INVESTIGATING, "", "ann")
    await daemon.workspace.db.silences.add("*", START, START + 60, "old", "", START)
    assert await daemon.workspace.db.snapshots.load(inc)
    assert await daemon.workspace.db.retention.prune_workspace(START - 1) == {
        "series_snapshots": 0, "hypotheses": 0, "silences": 0}
    await store.retention.prune(START + 86400)  # the resolved incident goes…
    counts = await daemon.workspace.db.retention.prune_workspace(START + 86400)  # …and its workspace rows with it
    assert counts["series_snapshots"] >= 2 and counts["hypotheses"] == 1 and counts["silences"] == 1
    assert await daemon.workspace.db.snapshots.load(inc) == []


async def test_changes_known_only_to_the_engine_are_shown(store: Store) -> None:
    """Sources feed changes straight to the core (the demo, watchers): the workspace shows them too."""
    daemon = make_daemon(store)
    inc = await feed_incident(daemon)
    unstored = Change("chg-src-1", START + 70 * STEP, ChangeKind.FEATURE_FLAG, "checkout", "shop", "flag on", "k8s")
    await daemon.handle(unstored)
    view = await daemon.workspace.view(inc)
    assert view is not None
    assert [c["id"] for c in view["changes"]] == [CONFIG.id, "chg-src-1", DEPLOY.id]
    assert [e["ref"] for e in view["timeline"] if e["kind"] == "change"] == [CONFIG.id, "chg-src-1", DEPLOY.id]
