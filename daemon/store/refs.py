"""What a receiver returned for an incident's first message (Slack: channel and ts), to update it later."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["ReceiverRefRepository"]


class ReceiverRefRepository:
    """The ``receiver_refs`` table: one reference per (incident dedup key, receiver)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, dedup_key: str, receiver: str) -> dict[str, Any] | None:
        r = t.receiver_refs
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(r.c.ref).where(r.c.dedup_key == dedup_key)
                                      .where(r.c.receiver == receiver))).first()
        return dict(row[0]) if row else None

    async def save(self, dedup_key: str, receiver: str, ref: dict[str, Any], now: float) -> None:
        stmt = self.db.insert(t.receiver_refs).values(dedup_key=dedup_key, receiver=receiver, ref=ref,
                                                      updated_at=now)
        async with self.db.write() as conn:
            await conn.execute(stmt.on_conflict_do_update(index_elements=["dedup_key", "receiver"],
                                                          set_={"ref": ref, "updated_at": now}))
