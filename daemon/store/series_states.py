"""Scale-out detector checkpoints per series, so that any replica can resume a series it takes over."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["SeriesStateRepository"]


class SeriesStateRepository:
    """The ``series_states`` table: one detector state per series, replaced on save."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, states: dict[str, tuple[str, dict[str, Any]]], *, member: str, now: float) -> None:
        """Checkpoint detectors per series (``key -> (signal, state)``)."""
        if not states:
            return
        st = t.series_states
        async with self.db.write() as conn:
            stmt = self.db.insert(st)
            stmt = stmt.on_conflict_do_update(index_elements=["series"], set_={
                "signal": stmt.excluded.signal, "state": stmt.excluded.state, "member": stmt.excluded.member,
                "updated_at": stmt.excluded.updated_at})
            await conn.execute(stmt, [{"series": k, "signal": sig, "state": state, "member": member,
                                       "updated_at": now} for k, (sig, state) in states.items()])

    async def load(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every series' checkpointed detector: ``key -> (signal, state)``."""
        st = t.series_states
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(st.c.series, st.c.signal, st.c.state))).all()
        return {str(r[0]): (str(r[1]), dict(r[2])) for r in rows}
