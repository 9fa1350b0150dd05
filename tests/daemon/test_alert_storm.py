"""An alert storm into one incident is absorbed in linear work: the incident is saved per burst, not per alert.

Each distinct firing alert is an anomaly; alerts a second apart on one service all join one
incident. Saving that incident (a document that grows with its anomalies)
after every alert made absorbing a storm quadratic: the ingest benchmark's 1,000 alerts were
not absorbed 5 minutes after the load ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from daemon.core.events import AlertEvent
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, RecordingNotifier

T0 = 1_790_000_000.0
N = 400


def _storm(n: int) -> list[AlertEvent]:
    return [AlertEvent(T0 + i, "checkout", "HighErrorRate", f"fp{i:08x}", True, 0.9) for i in range(n)]


def _counting_saves(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], int]]:
    """Record every incident document the daemon saves, with how many of its pages were queued before
    (the daemon writes incidents and their pages in one transaction, :meth:`DecisionLog.commit`)."""
    saved: list[tuple[dict[str, Any], int]] = []
    commit = store.decisions.commit

    async def counting(docs: Any, *args: Any, **kwargs: Any) -> int:
        for doc in docs:
            saved.append((doc, len(await store.notifications.find(incident_id=doc["id"]))))
        return await commit(docs, *args, **kwargs)

    monkeypatch.setattr(store.decisions, "commit", counting)
    return saved


async def _until(predicate: Any, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_storm_is_saved_per_burst_and_whole_once_the_queue_runs_dry(
        sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = RecordingNotifier()
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={rec.name: rec},
               clock=FakeClock(T0 + 10_000), checkpoint_every=3600)
    saved = _counting_saves(sqlite_store, monkeypatch)
    task = asyncio.create_task(d.run())
    await d.submit_alerts(_storm(N))

    async def absorbed() -> bool:
        docs = await sqlite_store.incidents.find()
        return len(docs) == 1 and len(docs[0]["anomalies"]) == N
    await _until(absorbed)  # saved when the queue ran dry, without a stop
    assert len(saved) < N // 4, f"{len(saved)} saves for {N} alerts: one per alert is quadratic work"
    [doc] = await sqlite_store.incidents.find()
    assert doc["paged_at"] is not None
    # the paged incident was saved before its page was queued (a restart never re-decides a sent page)
    first_paged = next(queued for s, queued in saved if s["paged_at"] is not None)
    assert first_paged == 0 and len(await sqlite_store.notifications.find(incident_id=doc["id"])) == 1
    d.stop()
    await asyncio.wait_for(task, 30)
    assert [p.action for _, p in rec.pages] == ["trigger"]


async def test_the_incidents_of_a_storm_cut_short_by_a_stop_are_saved(
        sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
               clock=FakeClock(T0 + 10_000), checkpoint_every=3600)
    saved = _counting_saves(sqlite_store, monkeypatch)
    task = asyncio.create_task(d.run())
    await d.submit_alerts(_storm(N))
    d.stop()  # intake closes; the queued storm is drained, and its incident saved, before the exit
    await asyncio.wait_for(task, 60)
    docs = await sqlite_store.incidents.find()
    assert len(docs) == 1 and len(docs[0]["anomalies"]) == N
    assert len(saved) < N // 4
