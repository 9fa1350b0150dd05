"""Dependency health events (a probe or a health query turning healthy or unhealthy)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from correlators.types import HealthEvent

from . import tables as t
from .session import Database

__all__ = ["HealthRepository"]


class HealthRepository:
    """The ``health_events`` table; idempotent on (target, ts, healthy)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, items: Sequence[HealthEvent]) -> None:
        if not items:
            return
        async with self.db.write() as conn:
            for h in items:
                await conn.execute(self.db.insert(t.health_events).values(
                    ts=h.ts, target=h.target, healthy=h.healthy, detail=h.detail,
                ).on_conflict_do_nothing())

    async def find(self, since: float | None = None, until: float | None = None,
                   limit: int = 1000) -> list[HealthEvent]:
        """Health events in ``[since, until]``, newest first."""
        q = sa.select(t.health_events).order_by(t.health_events.c.ts.desc()).limit(limit)
        if since is not None:
            q = q.where(t.health_events.c.ts >= since)
        if until is not None:
            q = q.where(t.health_events.c.ts <= until)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [HealthEvent(r["ts"], r["target"], bool(r["healthy"]), r["detail"]) for r in rows]
