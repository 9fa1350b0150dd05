"""Disk full for SQLite, emulated with ``PRAGMA max_page_count``: the database may not grow past
its current size, so SQLite answers SQLITE_FULL ("database or disk is full") exactly as on a
full disk. (A tmpfs would need mount privileges; the page limit exercises the same error path.)

While full: the change API answers 503 and stores no part of a batch; writes that no longer
fit wait in the daemon (retried) instead of being dropped. After space is freed: the page has
arrived exactly once, the batch can be re-posted, the database passes its integrity check.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from daemon.api.app import create_app
from daemon.store import Store
from tests.daemon.helpers import SHOP, FakeClock, shop_events

from .harness import QueueSource, until, webhook_daemon
from .receiver import Receiver

T0 = 1_790_000_000.0


def _batch(n: int) -> list[dict[str, Any]]:
    return [{"id": f"chg-full-{i}", "ts": T0 + i, "kind": "config", "service": "search",
             "summary": f"config change {i} " + "x" * 1800} for i in range(n)]


def _fill(db: Path) -> int:
    """Cap the file at its current size, then fill every free byte inside it, as a full disk is."""
    con = sqlite3.connect(db, timeout=30)
    con.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    con.commit()
    pages = int(con.execute("PRAGMA page_count").fetchone()[0])
    con.execute(f"PRAGMA max_page_count = {pages}")
    for size in (4096, 512, 64, 8):
        while True:
            try:
                con.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))
                con.commit()
            except sqlite3.OperationalError as e:
                assert "full" in str(e), e
                con.rollback()
                break
    con.close()
    return pages


def _free(db: Path) -> None:
    con = sqlite3.connect(db, timeout=30)
    con.execute("DROP TABLE filler")
    con.commit()
    con.close()


async def test_sqlite_disk_full_then_freed(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    limit: dict[str, int | None] = {"pages": None}

    @sa.event.listens_for(store.engine.sync_engine, "connect")
    def _cap(dbapi_conn: Any, _: Any) -> None:
        if limit["pages"] is not None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA max_page_count = {limit['pages']}")
            cur.close()

    clock = FakeClock(T0 + 10_000)
    src = QueueSource()
    events = shop_events(T0, 160, bad_from=80, bad_until=120)
    per_step = len(events) // 160
    async with Receiver() as rx:
        d = webhook_daemon(store, SHOP, rx.url, clock, [src])
        task = asyncio.create_task(d.run())
        try:
            async with TestClient(TestServer(create_app(d))) as client:
                src.feed(events[: 70 * per_step])
                assert await until(lambda: d.queue.empty() and src.q.empty())
                await asyncio.sleep(0.3)

                # the disk fills up: no page may be added to the database from now on
                limit["pages"] = _fill(db)
                await store.engine.dispose()
                r = await client.post("/api/v1/changes", json=_batch(50))
                assert r.status == 503, await r.text()
                assert "Traceback" not in await r.text()
                src.feed(events[70 * per_step: 100 * per_step])
                await asyncio.sleep(3.0)
                # Small writes may still fit in free space inside pages each table already has, so
                # the page may or may not be out yet; what matters is below: once, never lost.
                r = await client.get("/readyz")
                assert r.status in (200, 503)  # a full disk may still answer SELECT 1
                assert await client.get("/healthz") is not None

                # space is freed
                limit["pages"] = None
                await store.engine.dispose()
                _free(db)
                assert await until(lambda: "trigger" in rx.actions(), 30), "page lost while the disk was full"
                r = await client.post("/api/v1/changes", json=_batch(50))
                assert r.status == 202 and (await r.json())["accepted"] == 50
                src.feed(events[100 * per_step:])
                assert await until(lambda: "resolve" in rx.actions(), 30)
        finally:
            d.stop()
            await asyncio.wait_for(task, 20)
    assert rx.actions().count("trigger") == 1 and rx.doubled() == {}
    assert len(await store.changes.find(limit=100)) == 50
    await store.close()
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_sqlite_full_batch_is_all_or_nothing(tmp_path: Path) -> None:
    """The failing batch leaves no half of itself behind (checked before space is freed)."""
    db = tmp_path / "store.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    first = await store.changes.add([], source="api")
    assert first == []
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]

    @sa.event.listens_for(store.engine.sync_engine, "connect")
    def _cap(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for a few changes, not fifty
        cur.close()

    await store.engine.dispose()
    from daemon.core.schema import parse_changes
    try:
        await store.changes.add(parse_changes(_batch(50)))
        raise AssertionError("expected the store to be full")
    except sa.exc.OperationalError as e:
        assert "full" in str(e)
    assert await store.changes.find() == []
    await store.close()
