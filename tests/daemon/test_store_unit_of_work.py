"""Writes that span record types are one transaction: the decisions of a step, and any caller's ``tx``."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.core.events import AlertEvent
from daemon.store import Store

DOC = {"id": "inc-1", "state": "open", "onset": 10.0, "opened_at": 20.0, "paged_at": 20.0, "resolved_at": None,
       "services": ["checkout"],
       "anomalies": [{"service": "checkout", "signal": "error_ratio", "onset": 10.0, "detected_at": 20.0,
                      "direction": "up", "before": 0.01, "after": 0.2, "confidence": 0.9, "recovered_at": None}]}
ALERT = AlertEvent(15.0, "checkout", "HighErrorRate", "fp1", True, 0.9)


def _page(receiver: str) -> dict[str, Any]:
    return {"key": f"inc-1/trigger/20/{receiver}", "incident_id": "inc-1", "receiver": receiver, "action": "trigger",
            "dedup_key": "inc-1", "payload": {"title": "checkout errors"}, "next_attempt_at": 20.0}


async def _nothing_written(store: Store) -> None:
    assert await store.incidents.get("inc-1") is None
    assert await store.notifications.find() == []
    assert [a.key for a in await store.alerts.unprocessed()] == [ALERT.key]


async def test_a_failing_step_leaves_neither_its_incident_nor_its_pages(store: Store,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    await store.alerts.add([ALERT], now=15.0)

    async def crash(*_: Any, **__: Any) -> int:
        raise RuntimeError("the process dies after the pages were written")

    monkeypatch.setattr(store.alerts, "mark_processed", crash)
    with pytest.raises(RuntimeError):
        await store.decisions.commit([DOC], [_page("pd"), _page("slack")], alert_keys=[ALERT.key], now=20.0)
    await _nothing_written(store)
    monkeypatch.undo()
    assert await store.decisions.commit([DOC], [_page("pd"), _page("slack")], alert_keys=[ALERT.key], now=20.0) == 2
    assert (await store.incidents.get("inc-1") or {}).get("paged_at") == 20.0
    assert [n.receiver for n in await store.notifications.find()] == ["pd", "slack"]
    assert await store.alerts.unprocessed() == []
    # the same decisions again (a replay after a crash): no page twice
    assert await store.decisions.commit([DOC], [_page("pd"), _page("slack")], alert_keys=[ALERT.key], now=21.0) == 0
    assert len(await store.notifications.find()) == 2


async def test_repositories_write_inside_the_callers_transaction(store: Store) -> None:
    await store.alerts.add([ALERT], now=15.0)
    with pytest.raises(RuntimeError):
        async with store.db.write() as tx:
            await store.incidents.save(DOC, now=20.0, tx=tx)
            assert await store.notifications.enqueue(**_page("pd"), now=20.0, tx=tx)
            assert await store.alerts.mark_processed([ALERT.key], 20.0, tx=tx) == 1
            raise RuntimeError("rolled back")
    await _nothing_written(store)
    async with store.db.write() as tx:
        await store.incidents.save(DOC, now=20.0, tx=tx)
        await store.notifications.enqueue(**_page("pd"), now=20.0, tx=tx)
    assert await store.incidents.get("inc-1") is not None
    assert [n.key for n in await store.notifications.find()] == [_page("pd")["key"]]


async def test_a_write_forgetting_tx_inside_a_transaction_fails_at_once_on_sqlite(sqlite_store: Store) -> None:
    """SQLite's writers take turns on a lock that is not re-entrant: a nested write is an error, not a hang."""
    with pytest.raises(RuntimeError, match="tx="):
        async with sqlite_store.db.write() as tx:
            await sqlite_store.incidents.save(DOC, now=20.0, tx=tx)
            await sqlite_store.notifications.enqueue(**_page("pd"), now=20.0)
    assert await sqlite_store.incidents.get("inc-1") is None
    async with sqlite_store.db.write():  # the lock was released
        pass
