"""Series snapshots of the incident workspace: the points of each series an incident involves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["SnapshotRepository"]


class SnapshotRepository:
    """The ``series_snapshots`` table: one row per (incident, series), replaced on save."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, incident_id: str, series: Sequence[dict[str, Any]], now: float) -> None:
        """Upsert each ``{"series", "service", "signal", "points": [[ts, v], ...]}`` of an incident."""
        if not series:
            return
        async with self.db.write() as conn:
            for s in series:
                values = {"service": s["service"], "signal": s["signal"], "points": s["points"], "updated_at": now}
                stmt = self.db.insert(t.series_snapshots).values(incident_id=incident_id, series=s["series"],
                                                                 **values)
                await conn.execute(stmt.on_conflict_do_update(index_elements=["incident_id", "series"],
                                                              set_=values))

    async def load(self, incident_id: str) -> list[dict[str, Any]]:
        """An incident's series, by series key."""
        q = (sa.select(t.series_snapshots).where(t.series_snapshots.c.incident_id == incident_id)
             .order_by(t.series_snapshots.c.series))
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [{"series": r["series"], "service": r["service"], "signal": r["signal"],
                 "points": [list(p) for p in r["points"]]} for r in rows]
