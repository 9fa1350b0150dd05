"""Cursors: how far a reader has read (a source's last query time, the leader's detections id)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["CursorRepository"]


class CursorRepository:
    """The ``cursors`` table: one value per reader, replaced on save."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, source: str, value: str, now: float | None = None) -> None:
        now = now if now is not None else time.time()
        async with self.db.write() as conn:
            stmt = self.db.insert(t.cursors).values(source=source, value=value, updated_at=now)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["source"],
                                                          set_={"value": value, "updated_at": now}))

    async def load(self, source: str) -> str | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(t.cursors.c.value).where(t.cursors.c.source == source))).first()
        return str(row[0]) if row else None
