from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from correlators.types import Change, ChangeKind, HealthEvent
from daemon.store import Store
from daemon.store import tables as t


def _change(i: int, ts: float = 100.0) -> Change:
    return Change(f"chg-{i}", ts + i, ChangeKind.DEPLOY, "checkout", "shop", f"deploy {i}", "ci",
                  {"from_revision": "1", "to_revision": "2"})


async def test_changes_are_idempotent_on_id(store: Store) -> None:
    assert await store.changes.add([_change(1), _change(2)]) == [True, True]
    assert await store.changes.add([_change(2), _change(3)]) == [False, True]
    got = await store.changes.find()
    assert [c.id for c in got] == ["chg-3", "chg-2", "chg-1"]
    assert got[0].attributes == {"from_revision": "1", "to_revision": "2"}
    assert [c.id for c in await store.changes.find(since=102, until=103)] == ["chg-3", "chg-2"]


async def test_incident_upsert_and_filters(store: Store) -> None:
    doc = {"id": "inc-1", "state": "open", "onset": 10.0, "opened_at": 20.0, "paged_at": 20.0,
           "resolved_at": None, "services": ["checkout", "frontend"],
           "anomalies": [{"service": "checkout", "signal": "error_ratio", "onset": 10.0, "detected_at": 20.0,
                          "direction": "up", "before": 0.01, "after": 0.2, "confidence": 0.9,
                          "recovered_at": None}]}
    await store.incidents.save(doc)
    await store.incidents.save({**doc, "id": "inc-2", "state": "resolved", "onset": 5.0, "services": ["search"]})
    doc["anomalies"][0]["recovered_at"] = 50.0
    await store.incidents.save({**doc, "state": "resolved", "resolved_at": 50.0})
    got = await store.incidents.get("inc-1")
    assert got is not None and got["state"] == "resolved" and got["anomalies"][0]["recovered_at"] == 50.0
    assert [d["id"] for d in await store.incidents.find(service="frontend")] == ["inc-1"]
    assert [d["id"] for d in await store.incidents.find(state="resolved")] == ["inc-1", "inc-2"]
    assert await store.incidents.get("nope") is None


def _storm(n: int, incident_id: str = "inc-storm", recovered: dict[int, float] | None = None) -> dict[str, Any]:
    """An incident document holding ``n`` anomalies (an alert storm on one incident)."""
    rec = recovered or {}
    return {"id": incident_id, "state": "open", "onset": 0.0, "opened_at": 1.0, "paged_at": None,
            "resolved_at": None, "services": ["s0"],
            "anomalies": [{"service": f"s{i % 50}", "signal": "error_ratio", "series": f"s{i}/alert", "onset": float(i),
                           "detected_at": i + 1.0, "direction": "up", "before": 0.0, "after": 1.0,
                           "confidence": 1.0, "recovered_at": rec.get(i)} for i in range(n)]}


@contextmanager
def _anomaly_rows_written(store: Store) -> Iterator[list[int]]:
    """Count the rows sent to the database by INSERTs into ``anomalies`` while the block runs."""
    written: list[int] = []

    def count(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ANOMALIES"):
            written.append(len(params) if many else 1)

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield written
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", count)


async def _anomaly_table(store: Store) -> dict[str, tuple[float | None, str | None]]:
    a = t.anomalies
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(a.c.series, a.c.recovered_at, a.c.incident_id))).all()
    return {r.series: (r.recovered_at, r.incident_id) for r in rows}


async def test_saving_an_incident_writes_only_its_new_or_changed_anomalies(store: Store) -> None:
    # An incident is saved after every event that touches it; writing all its anomalies each time
    # made absorbing an alert storm quadratic (3,000 alerts on one incident: minutes, not seconds).
    with _anomaly_rows_written(store) as written:
        await store.incidents.save(_storm(300))
    assert sum(written) == 300
    with _anomaly_rows_written(store) as written:
        await store.incidents.save(_storm(301))  # one more anomaly: one row, whatever the incident's size
    assert sum(written) == 1
    with _anomaly_rows_written(store) as written:
        await store.incidents.save(_storm(301))  # nothing changed: nothing written
    assert written == []
    with _anomaly_rows_written(store) as written:
        await store.incidents.save(_storm(301, recovered={7: 500.0, 9: 600.0}))
    assert sum(written) == 2
    rows = await _anomaly_table(store)
    assert len(rows) == 301 and rows["s7/alert"] == (500.0, "inc-storm") and rows["s8/alert"] == (None, "inc-storm")
    # merged into another incident: its anomalies' rows follow it
    with _anomaly_rows_written(store) as written:
        await store.incidents.save(_storm(301, "inc-keep", recovered={7: 500.0, 9: 600.0}))
    assert sum(written) == 301
    rows = await _anomaly_table(store)
    assert len(rows) == 301 and {i for _, i in rows.values()} == {"inc-keep"} and rows["s9/alert"][0] == 600.0
    got = await store.incidents.get("inc-keep")
    assert got is not None and len(got["anomalies"]) == 301


async def test_outbox_lifecycle(store: Store) -> None:
    kw = {"incident_id": "inc-1", "receiver": "hook", "action": "trigger", "dedup_key": "inc-1", "payload": {"a": 1}}
    assert await store.notifications.enqueue(key="k1", now=100.0, **kw)
    assert not await store.notifications.enqueue(key="k1", now=101.0, **kw)  # written once, whatever the retries
    due = await store.notifications.due(100.0)
    assert [n.key for n in due] == ["k1"]
    await store.notifications.mark_retry(due[0].id, "HTTP 500", 200.0)
    assert await store.notifications.due(150.0) == []
    assert [n.attempts for n in await store.notifications.due(200.0)] == [1]
    await store.notifications.mark_sent(due[0].id, 201.0)
    assert await store.notifications.due(1e12) == []
    assert await store.notifications.depth() == 0
    sent = await store.notifications.find(incident_id="inc-1")
    assert sent[0].status == "sent" and sent[0].attempts == 2


async def test_health_feedback_checkpoints_cursors_and_prune(store: Store) -> None:
    await store.health.add([HealthEvent(10.0, "db", False, "2 failed"), HealthEvent(70.0, "db", True)])
    await store.health.add([HealthEvent(10.0, "db", False, "2 failed")])  # duplicate ignored
    assert [h.healthy for h in await store.health.find()] == [True, False]
    fid = await store.feedback.add("inc-1", {"type": "none"}, "was a cron job", "alice", 5.0)
    assert (await store.feedback.find("inc-1"))[0]["id"] == fid
    await store.checkpoints.save("engine", {"version": 1, "x": [1, 2]})
    await store.checkpoints.save("engine", {"version": 1, "x": [3]})
    assert await store.checkpoints.load("engine") == {"version": 1, "x": [3]}
    await store.cursors.save("prometheus", "123")
    assert await store.cursors.load("prometheus") == "123"
    await store.changes.add([_change(1, ts=0.0)])
    counts = await store.retention.prune(before=50.0)
    assert counts["changes"] == 1 and counts["health_events"] == 1
    assert await store.ping()


async def test_prune_drops_old_feedback_of_gone_incidents_and_stale_replicas(store: Store) -> None:
    await store.incidents.save({**_storm(1, "inc-kept"), "state": "open"})
    old_gone = await store.feedback.add("inc-gone", {"type": "none"}, "old", "alice", 5.0)
    await store.feedback.add("inc-gone", {"type": "none"}, "recent", "alice", 60.0)
    await store.feedback.add("inc-kept", {"type": "none"}, "about an incident still stored", "bob", 5.0)
    await store.members.heartbeat("replica-crashed", 10.0)
    await store.members.heartbeat("replica-live", 60.0)
    await store.series_states.save({"churned/pod-1": ("error_ratio", {"n": 1})}, member="replica-crashed", now=10.0)
    await store.series_states.save({"live/pod-2": ("error_ratio", {"n": 2})}, member="replica-live", now=60.0)
    counts = await store.retention.prune(before=50.0)
    assert (counts["feedback"], counts["members"], counts["series_states"]) == (1, 1, 1)
    assert old_gone not in [f["id"] for f in await store.feedback.find()]
    assert sorted(f["note"] for f in await store.feedback.find()) == ["about an incident still stored", "recent"]
    assert await store.members.live(since=0.0) == ["replica-live"]
    assert list(await store.series_states.load()) == ["live/pod-2"]


async def test_prune_drops_old_merged_incidents_and_keeps_open_ones(store: Store) -> None:
    # an incident merged into another is final like a resolved one; kept, it would never go
    await store.incidents.save({**_storm(1, "inc-merged"), "state": "merged", "resolved_at": 20.0})
    await store.incidents.save({**_storm(1, "inc-open"), "state": "open"})
    assert (await store.retention.prune(before=50.0))["incidents"] == 1
    assert [d["id"] for d in await store.incidents.find()] == ["inc-open"]


async def test_migrations_are_idempotent(store: Store) -> None:
    await store.migrate()  # a second replica starting: nothing to do, no error
    assert await store.ping()


async def test_sqlite_writers_of_one_process_take_turns_before_reaching_sqlite(sqlite_store: Store) -> None:
    # SQLite admits one writer; a second one that reaches it waits in its busy handler, which
    # sleeps in steps of up to 100 ms. This process's writers queue on the store's lock instead.
    import asyncio

    issued: list[str] = []

    def count(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CHANGES"):
            issued.append(statement)

    sa.event.listen(sqlite_store.engine.sync_engine, "before_cursor_execute", count)
    async with sqlite_store.db.write() as conn:
        await conn.execute(sa.insert(t.changes).values(
            id="chg-held", ts=1.0, kind="deploy", service="checkout", attributes={}, received_at=1.0))
        second = asyncio.create_task(sqlite_store.changes.add([_change(1)]))
        await asyncio.sleep(0.3)
        assert not second.done() and len(issued) == 1  # waiting its turn, not inside SQLite
    assert await asyncio.wait_for(second, 10) == [True]
    assert len(issued) == 2 and len(await sqlite_store.changes.find()) == 2
