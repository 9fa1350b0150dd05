"""The hypothesis log of the incident workspace: every state an operator gave a candidate cause."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["HypothesisRepository"]


class HypothesisRepository:
    """The ``hypotheses`` table (append only: the latest row per cause is its state)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, incident_id: str, cause: dict[str, Any], cause_key: str, state: str,
                  note: str, actor: str, now: float) -> int:
        """Record a state change; returns its id."""
        async with self.db.write() as conn:
            res = await conn.execute(sa.insert(t.hypotheses).values(
                incident_id=incident_id, cause=cause, cause_key=cause_key, state=state, note=note, actor=actor,
                created_at=now))
            pk = res.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    async def find(self, incident_id: str) -> list[dict[str, Any]]:
        """Every state change of every candidate of the incident, oldest first."""
        q = sa.select(t.hypotheses).where(t.hypotheses.c.incident_id == incident_id).order_by(t.hypotheses.c.id)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]
