"""Store access for the incident workspace: series snapshots, the hypothesis log, silences.

Kept apart from :class:`~daemon.store.Store` (one concept per module); it uses the
same engine and dialect-aware upserts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from . import tables as t
from .store import Store

__all__ = ["WorkspaceStore"]


class WorkspaceStore:
    """Workspace tables over an open :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- series snapshots ---------------------------------------------------------------
    async def save_series(self, incident_id: str, series: Sequence[dict[str, Any]], now: float) -> None:
        """Upsert each ``{"series", "service", "signal", "points": [[ts, v], ...]}`` of an incident."""
        if not series:
            return
        async with self.store.write() as conn:
            for s in series:
                values = {"service": s["service"], "signal": s["signal"], "points": s["points"], "updated_at": now}
                stmt = self.store._insert(t.series_snapshots).values(
                    incident_id=incident_id, series=s["series"], **values)
                await conn.execute(stmt.on_conflict_do_update(index_elements=["incident_id", "series"],
                                                              set_=values))

    async def load_series(self, incident_id: str) -> list[dict[str, Any]]:
        q = (sa.select(t.series_snapshots).where(t.series_snapshots.c.incident_id == incident_id)
             .order_by(t.series_snapshots.c.series))
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [{"series": r["series"], "service": r["service"], "signal": r["signal"],
                 "points": [list(p) for p in r["points"]]} for r in rows]

    # -- hypotheses -------------------------------------------------------------------------
    async def add_hypothesis(self, incident_id: str, cause: dict[str, Any], cause_key: str, state: str,
                             note: str, actor: str, now: float) -> int:
        async with self.store.write() as conn:
            res = await conn.execute(sa.insert(t.hypotheses).values(
                incident_id=incident_id, cause=cause, cause_key=cause_key, state=state, note=note, actor=actor,
                created_at=now))
            pk = res.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    async def list_hypotheses(self, incident_id: str) -> list[dict[str, Any]]:
        """Every state change of every candidate of the incident, oldest first."""
        q = sa.select(t.hypotheses).where(t.hypotheses.c.incident_id == incident_id).order_by(t.hypotheses.c.id)
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]

    # -- silences ---------------------------------------------------------------------------
    async def add_silence(self, service: str, starts_at: float, ends_at: float, reason: str, actor: str,
                          now: float) -> int:
        async with self.store.write() as conn:
            res = await conn.execute(sa.insert(t.silences).values(
                service=service, starts_at=starts_at, ends_at=ends_at, reason=reason, actor=actor, created_at=now))
            pk = res.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    async def list_silences(self, *, active_at: float | None = None) -> list[dict[str, Any]]:
        q = sa.select(t.silences).order_by(t.silences.c.ends_at.desc(), t.silences.c.id)
        if active_at is not None:
            q = q.where(t.silences.c.starts_at <= active_at).where(t.silences.c.ends_at > active_at)
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]

    async def expire_silence(self, silence_id: int, now: float) -> bool:
        """End a silence now; False if there is no such silence."""
        async with self.store.write() as conn:
            res = await conn.execute(sa.update(t.silences).where(t.silences.c.id == silence_id)
                                     .values(ends_at=sa.func.min(t.silences.c.ends_at, now)
                                             if self.store.dialect == "sqlite"
                                             else sa.func.least(t.silences.c.ends_at, now)))
            return bool(res.rowcount)

    # -- retention ----------------------------------------------------------------------------
    async def prune(self, before: float) -> dict[str, int]:
        """Drop snapshots and hypothesis logs of incidents no longer stored, and silences ended before ``before``."""
        gone = sa.select(t.incidents.c.id)
        counts: dict[str, int] = {}
        async with self.store.write() as conn:
            for name, stmt in (
                ("series_snapshots", sa.delete(t.series_snapshots)
                 .where(t.series_snapshots.c.incident_id.not_in(gone))),
                ("hypotheses", sa.delete(t.hypotheses).where(t.hypotheses.c.incident_id.not_in(gone))),
                ("silences", sa.delete(t.silences).where(t.silences.c.ends_at < before)),
            ):
                counts[name] = (await conn.execute(stmt)).rowcount or 0
        return counts
