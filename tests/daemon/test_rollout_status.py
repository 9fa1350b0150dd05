"""A rollout's outcome (complete, failed) recorded on its change: store, API, core and hypotheses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from correlators.types import CauseType, Change, ChangeKind
from daemon.api.app import create_app
from daemon.core.engine import Engine
from daemon.core.events import ChangeStatus
from daemon.runtime.daemon import Daemon
from daemon.store import StatusOutcome, StatusUpdate, Store

from .helpers import SHOP, FakeClock, ListSource, shop_events

T0 = 1_790_000_000.0
DEPLOY = Change("k8s-checkout-15", T0 + 78 * 30, ChangeKind.DEPLOY, "checkout", "shop",
                "checkout rollout revision 14 -> 15", "kubectl", {"rollout_complete": False}, "progressing")


async def test_store_records_the_outcome_once_and_never_steps_back(store: Store) -> None:
    await store.changes.add([DEPLOY])
    unknown = await store.changes.update_status(ChangeStatus(T0, "no-such-change", "complete", T0))
    assert unknown == StatusUpdate(StatusOutcome.UNKNOWN)
    failed = await store.changes.update_status(ChangeStatus(T0 + 2400, DEPLOY.id, "failed", T0 + 2400,
                                                            "ProgressDeadlineExceeded"))
    assert failed.outcome is StatusOutcome.UPDATED and failed.change is not None
    assert failed.change.status == "failed"
    done = await store.changes.update_status(ChangeStatus(T0 + 2500, DEPLOY.id, "complete", T0 + 2460,
                                                          "NewReplicaSetAvailable"))
    assert done.outcome is StatusOutcome.UPDATED and done.change is not None
    assert (done.change.status, done.change.completed_at) == ("complete", T0 + 2460)
    for repeat in (ChangeStatus(T0 + 2600, DEPLOY.id, "complete", T0 + 2460),  # a repeat
                   ChangeStatus(T0 + 2700, DEPLOY.id, "failed", T0 + 2700)):  # a step back from complete
        assert await store.changes.update_status(repeat) == StatusUpdate(StatusOutcome.UNCHANGED)
    [got] = await store.changes.find()
    assert (got.status, got.completed_at) == ("complete", T0 + 2460)
    assert got.attributes == {"rollout_complete": True, "status_reason": "NewReplicaSetAvailable"}
    assert got.to_json()["summary"] == DEPLOY.summary  # the rest of the change untouched
    assert await store.changes.get(DEPLOY.id) == got


@pytest.fixture
async def daemon(store: Store) -> Daemon:
    return Daemon(store=store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(daemon))) as c:
        yield c


async def test_api_takes_and_shows_the_outcome(client: TestClient, daemon: Daemon) -> None:
    body = {"id": "chg-1", "ts": T0, "kind": "deploy", "service": "checkout", "summary": "ci deploy 1.15",
            "status": "progressing"}
    assert (await client.post("/api/v1/changes", json=body)).status == 202
    [listed] = (await (await client.get("/api/v1/changes")).json())["changes"]
    assert listed["status"] == "progressing" and "completed_at" not in listed
    # the CI job reports completion: the same change again, with its outcome (RFC 3339 taken too)
    r = await client.post("/api/v1/changes", json={**body, "status": "complete",
                                                   "completed_at": "2026-09-21T12:00:00Z"})
    assert r.status == 202 and (await r.json())["duplicates"] == 1
    [listed] = (await (await client.get("/api/v1/changes")).json())["changes"]
    assert (listed["status"], listed["completed_at"]) == ("complete", 1789992000.0)
    queued = [daemon.queue.get_nowait() for _ in range(daemon.queue.qsize())]
    assert [type(e).__name__ for e in queued] == ["Change", "ChangeStatus"]
    # a change without the new fields reads as before: no status, no completed_at
    await client.post("/api/v1/changes", json={**body, "id": "chg-2", "status": None})
    plain = next(c for c in (await (await client.get("/api/v1/changes")).json())["changes"] if c["id"] == "chg-2")
    assert set(plain) == {"id", "ts", "kind", "service", "namespace", "summary", "actor", "attributes"}


@pytest.mark.parametrize("extra, field", [({"status": "done"}, "status"), ({"completed_at": "soon"}, "completed_at")])
async def test_bad_outcome_fields_get_400_naming_them(client: TestClient, extra: dict[str, str], field: str) -> None:
    r = await client.post("/api/v1/changes", json={"ts": T0, "kind": "deploy", "service": "a", **extra})
    assert r.status == 400 and (await r.json())["field"] == field


def test_hypothesis_says_when_the_rollout_finished() -> None:
    engine = Engine(SHOP)
    events = shop_events(T0, 100, bad_from=80)
    engine.ingest_many(events[: 78 * 9])
    engine.ingest(DEPLOY)
    assert engine.update_change(ChangeStatus(DEPLOY.ts + 10, "unknown-change", "complete", DEPLOY.ts)).changes_updated == []
    out = engine.ingest(ChangeStatus(DEPLOY.ts + 10, DEPLOY.id, "complete", DEPLOY.ts + 5, "NewReplicaSetAvailable"))
    assert [c.status for c in out.changes_updated] == ["complete"]
    assert engine.ingest(ChangeStatus(DEPLOY.ts + 20, DEPLOY.id, "complete", DEPLOY.ts + 5)).changes_updated == []
    engine.ingest_many(events[78 * 9:])
    engine.flush()
    [inc] = engine.incidents.values()
    top = inc.ranking.candidates[0] if inc.ranking else None
    assert top is not None and top.cause.type is CauseType.CHANGE and top.cause.ref == DEPLOY.id
    onset = inc.estimated_onset
    gap = onset - (DEPLOY.ts + 5)
    assert gap >= 5, "the scenario puts the completion before the onset"
    expected = f"{gap:.0f} s" if gap < 90 else f"{gap / 60:.0f} min"
    assert f"its rollout finished {expected} before the onset" in top.hypothesis, top.hypothesis


async def test_a_source_outcome_is_stored_and_an_unknown_one_ignored(sqlite_store: Store) -> None:
    events = [DEPLOY, ChangeStatus(DEPLOY.ts + 5, "k8s-never-seen", "complete", DEPLOY.ts + 5),
              ChangeStatus(DEPLOY.ts + 90, DEPLOY.id, "complete", DEPLOY.ts + 80, "NewReplicaSetAvailable")]
    daemon = Daemon(store=sqlite_store, topology=SHOP, sources=[ListSource(events, name="kubernetes")],
                    notifiers={}, clock=FakeClock(), step=30.0)
    task = asyncio.create_task(daemon.run())
    for _ in range(200):
        await asyncio.sleep(0.05)
        got = await sqlite_store.changes.get(DEPLOY.id)
        if got is not None and got.status == "complete" and daemon.queue.qsize() == 0:
            break
    daemon.stop()
    await asyncio.wait_for(task, timeout=30)
    [stored] = await sqlite_store.changes.find()
    assert (stored.status, stored.completed_at) == ("complete", DEPLOY.ts + 80)
    held = daemon.engine.change(DEPLOY.id)
    assert held is not None and held.status == "complete"  # the core's copy too (hypotheses use it)
    assert await sqlite_store.changes.get("k8s-never-seen") is None


async def test_migration_0005_keeps_old_changes_and_downgrades(store_url: str) -> None:
    """Changes written before 0005 read back unchanged (no status, no completed_at); 0005 goes down and up."""
    import sqlalchemy as sa
    from alembic import command

    from daemon.store.store import _alembic_config

    def migrate(target: str, down: bool = False) -> Any:
        def run(conn: Any) -> None:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, target)
        return run

    store = await Store.open(store_url, migrate=False)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(migrate("0004_paging"))
            await conn.execute(sa.text(
                "INSERT INTO changes (id, ts, kind, service, namespace, summary, actor, attributes, source, "
                "received_at) VALUES ('old-1', 100.0, 'deploy', 'checkout', 'shop', 'old deploy', 'ci', "
                "'{\"to_revision\": \"2\"}', 'api', 101.0)"))
        await store.migrate()
        [old] = await store.changes.find()
        assert (old.status, old.completed_at, dict(old.attributes)) == ("", None, {"to_revision": "2"})
        assert set(old.to_json()) == {"id", "ts", "kind", "service", "namespace", "summary", "actor", "attributes"}
        res = await store.changes.update_status(ChangeStatus(200.0, "old-1", "complete", 150.0))
        assert res.outcome is StatusOutcome.UPDATED and isinstance(res.change, Change)
        async with store.engine.begin() as conn:
            await conn.run_sync(migrate("0004_paging", down=True))
        await store.migrate()
        [again] = await store.changes.find()
        assert again.id == "old-1" and again.status == ""  # the outcome went with the column, the change stayed
    finally:
        await store.close()


def test_differ_keeps_a_pending_rollout_across_a_restart() -> None:
    """The snapshot carries the rollout under way: a restarted differ still reports its completion once."""
    from daemon.sources.kube_changes import KubeDiffer

    from . import kube_api as k
    differ = KubeDiffer(["app.kubernetes.io/name"])
    differ.observe("Deployment", "ADDED", k.deployment("checkout", "shop", "img:14", 14), 1000.0)
    new = k.deployment("checkout", "shop", "img:15", 14, generation=2)
    [change] = differ.observe("Deployment", "MODIFIED", k.rollout_step(
        new, revision=15, updated=1, available=3, total=4, reason="ReplicaSetUpdated",
        when="2026-11-29T03:05:00Z"), 1_795_921_600.0)
    assert isinstance(change, Change) and change.status == "progressing"
    restarted = KubeDiffer.from_state(json.loads(json.dumps(differ.state_dict())), ["app.kubernetes.io/name"])
    done = k.rollout_step(new, revision=15, updated=3, available=3, total=3, reason="NewReplicaSetAvailable",
                          when="2026-11-29T03:07:00Z")
    [outcome] = restarted.observe("Deployment", "MODIFIED", done, 1_795_921_700.0)
    assert isinstance(outcome, ChangeStatus) and outcome.change_id == change.id and outcome.status == "complete"
    assert restarted.observe("Deployment", "MODIFIED", done, 1_795_921_800.0) == []
    assert restarted.sync("Deployment", [done], 1_795_921_900.0, "shop") == []  # a re-list after 410 Gone too


def test_the_timeline_shows_when_a_rollout_finished_or_failed() -> None:
    from daemon.workspace.view import timeline
    doc = {"id": "inc-1", "onset": 400.0, "opened_at": 430.0, "paged_at": None, "state": "open",
           "resolved_at": None}
    changes = [
        {**Change("c1", 100.0, ChangeKind.DEPLOY, "checkout", status="complete", completed_at=280.0).to_json()},
        {**Change("c2", 150.0, ChangeKind.DEPLOY, "payments", status="failed", completed_at=700.0,
                  attributes={"status_reason": "ProgressDeadlineExceeded"}).to_json()},
        {**Change("c3", 160.0, ChangeKind.DEPLOY, "search", status="progressing").to_json()},
    ]
    rows = timeline(doc, changes=changes, health=[], notifications=[], feedback=[], hypotheses=[])
    texts = [(r["ts"], r["text"]) for r in rows if r["kind"] == "change"]
    assert (280.0, "deploy checkout: rollout finished") in texts
    assert (700.0, "deploy payments: rollout failed (ProgressDeadlineExceeded)") in texts
    assert any(t.endswith("(rollout in progress)") for _, t in texts)
