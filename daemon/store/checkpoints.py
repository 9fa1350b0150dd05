"""Checkpoints: a state document per key (the core's detectors, the learned weights, a source's differ)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["CheckpointRepository"]


class CheckpointRepository:
    """The ``checkpoints`` table: one row per key, replaced on save."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, key: str, state: dict[str, Any], now: float | None = None) -> None:
        now = now if now is not None else time.time()
        async with self.db.write() as conn:
            stmt = self.db.insert(t.checkpoints).values(key=key, state=state, updated_at=now)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                          set_={"state": state, "updated_at": now}))

    async def load(self, key: str) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(t.checkpoints.c.state).where(t.checkpoints.c.key == key))).first()
        return dict(row[0]) if row else None
