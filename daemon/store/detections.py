"""Scale-out detections log: what each replica's detectors found, for the leader to group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["DetectionRepository"]


class DetectionRepository:
    """The ``detections`` table (append only, read in id order)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, rows: Sequence[dict[str, Any]], *, member: str, now: float) -> None:
        """Append detections (``series``, ``service``, ``signal``, ``detection``) for the leader to group."""
        if not rows:
            return
        async with self.db.write() as conn:
            await conn.execute(sa.insert(t.detections), [dict(r, member=member, created_at=now) for r in rows])

    async def after(self, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Detections with an id above ``after_id``, in id order."""
        d = t.detections
        q = sa.select(d).where(d.c.id > after_id).order_by(d.c.id).limit(limit)
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]
