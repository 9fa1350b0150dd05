from __future__ import annotations

from correlators.types import Change, ChangeKind, HealthEvent
from daemon.store import Store


def _change(i: int, ts: float = 100.0) -> Change:
    return Change(f"chg-{i}", ts + i, ChangeKind.DEPLOY, "checkout", "shop", f"deploy {i}", "ci",
                  {"from_revision": "1", "to_revision": "2"})


async def test_changes_are_idempotent_on_id(store: Store) -> None:
    assert await store.add_changes([_change(1), _change(2)]) == [True, True]
    assert await store.add_changes([_change(2), _change(3)]) == [False, True]
    got = await store.list_changes()
    assert [c.id for c in got] == ["chg-3", "chg-2", "chg-1"]
    assert got[0].attributes == {"from_revision": "1", "to_revision": "2"}
    assert [c.id for c in await store.list_changes(since=102, until=103)] == ["chg-3", "chg-2"]


async def test_incident_upsert_and_filters(store: Store) -> None:
    doc = {"id": "inc-1", "state": "open", "onset": 10.0, "opened_at": 20.0, "paged_at": 20.0,
           "resolved_at": None, "services": ["checkout", "frontend"],
           "anomalies": [{"service": "checkout", "signal": "error_ratio", "onset": 10.0, "detected_at": 20.0,
                          "direction": "up", "before": 0.01, "after": 0.2, "confidence": 0.9,
                          "recovered_at": None}]}
    await store.save_incident(doc)
    await store.save_incident({**doc, "id": "inc-2", "state": "resolved", "onset": 5.0, "services": ["search"]})
    doc["anomalies"][0]["recovered_at"] = 50.0
    await store.save_incident({**doc, "state": "resolved", "resolved_at": 50.0})
    got = await store.get_incident("inc-1")
    assert got is not None and got["state"] == "resolved" and got["anomalies"][0]["recovered_at"] == 50.0
    assert [d["id"] for d in await store.list_incidents(service="frontend")] == ["inc-1"]
    assert [d["id"] for d in await store.list_incidents(state="resolved")] == ["inc-1", "inc-2"]
    assert await store.get_incident("nope") is None


async def test_outbox_lifecycle(store: Store) -> None:
    kw = dict(incident_id="inc-1", receiver="hook", action="trigger", dedup_key="inc-1", payload={"a": 1})
    assert await store.enqueue(key="k1", now=100.0, **kw)
    assert not await store.enqueue(key="k1", now=101.0, **kw)  # written once, whatever the retries
    due = await store.due_notifications(100.0)
    assert [n.key for n in due] == ["k1"]
    await store.mark_retry(due[0].id, "HTTP 500", 200.0)
    assert await store.due_notifications(150.0) == []
    assert [n.attempts for n in await store.due_notifications(200.0)] == [1]
    await store.mark_sent(due[0].id, 201.0)
    assert await store.due_notifications(1e12) == []
    assert await store.outbox_depth() == 0
    sent = await store.list_notifications(incident_id="inc-1")
    assert sent[0].status == "sent" and sent[0].attempts == 2


async def test_health_feedback_checkpoints_cursors_and_prune(store: Store) -> None:
    await store.add_health([HealthEvent(10.0, "db", False, "2 failed"), HealthEvent(70.0, "db", True)])
    await store.add_health([HealthEvent(10.0, "db", False, "2 failed")])  # duplicate ignored
    assert [h.healthy for h in await store.list_health()] == [True, False]
    fid = await store.add_feedback("inc-1", {"type": "none"}, "was a cron job", "alice", 5.0)
    assert (await store.list_feedback("inc-1"))[0]["id"] == fid
    await store.save_checkpoint("engine", {"version": 1, "x": [1, 2]})
    await store.save_checkpoint("engine", {"version": 1, "x": [3]})
    assert await store.load_checkpoint("engine") == {"version": 1, "x": [3]}
    await store.save_cursor("prometheus", "123")
    assert await store.load_cursor("prometheus") == "123"
    await store.add_changes([_change(1, ts=0.0)])
    counts = await store.prune(before=50.0)
    assert counts["changes"] == 1 and counts["health_events"] == 1
    assert await store.ping()


async def test_migrations_are_idempotent(store: Store) -> None:
    await store.migrate()  # a second replica starting: nothing to do, no error
    assert await store.ping()
