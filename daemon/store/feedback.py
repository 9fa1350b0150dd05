"""Feedback: which cause an operator said was the true one, for learning the ranking."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["FeedbackRepository"]


class FeedbackRepository:
    """The ``feedback`` table (append only)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, incident_id: str, cause: dict[str, Any], note: str, actor: str, now: float) -> int:
        """Record an answer; returns its id."""
        async with self.db.write() as conn:
            res = await conn.execute(sa.insert(t.feedback).values(
                incident_id=incident_id, cause=cause, note=note, actor=actor, created_at=now))
            key = res.inserted_primary_key
            assert key is not None
            return int(key[0])

    async def find(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        """Answers (about one incident when given), oldest first."""
        q = sa.select(t.feedback).order_by(t.feedback.c.id)
        if incident_id:
            q = q.where(t.feedback.c.incident_id == incident_id)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]
