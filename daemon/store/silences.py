"""Silences: a service whose incidents page no one for a while (maintenance, a known outage)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["SilenceRepository"]


class SilenceRepository:
    """The ``silences`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, service: str, starts_at: float, ends_at: float, reason: str, actor: str,
                  now: float) -> int:
        """Record a silence; returns its id."""
        async with self.db.write() as conn:
            res = await conn.execute(sa.insert(t.silences).values(
                service=service, starts_at=starts_at, ends_at=ends_at, reason=reason, actor=actor, created_at=now))
            pk = res.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    async def find(self, *, active_at: float | None = None) -> list[dict[str, Any]]:
        """Silences (only those in force at ``active_at`` when given), latest ending first."""
        q = sa.select(t.silences).order_by(t.silences.c.ends_at.desc(), t.silences.c.id)
        if active_at is not None:
            q = q.where(t.silences.c.starts_at <= active_at).where(t.silences.c.ends_at > active_at)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]

    async def expire(self, silence_id: int, now: float) -> bool:
        """End a silence now; False if there is no such silence."""
        s = t.silences
        ends = sa.func.min(s.c.ends_at, now) if self.db.dialect == "sqlite" else sa.func.least(s.c.ends_at, now)
        async with self.db.write() as conn:
            res = await conn.execute(sa.update(s).where(s.c.id == silence_id).values(ends_at=ends))
            return bool(res.rowcount)
