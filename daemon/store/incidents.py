"""Incidents: the snapshot document of each, and the rows of its anomalies."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.guard import bounded_id
from . import tables as t
from .session import Database

__all__ = ["IncidentRepository"]


def _fit(value: Any, limit: int) -> str:
    """A value for a bounded column: the edge bounds it already; this is the last line (a digest if longer)."""
    return bounded_id(str(value), limit)


def _anomaly_row(a: dict[str, Any], incident_id: str) -> dict[str, Any]:
    """The ``anomalies`` row of one anomaly of an incident document."""
    return {"series": _fit(a.get("series") or f"{a['service']}/{a['signal']}", 512),
            "service": _fit(a["service"], 253), "signal": _fit(a["signal"], 253), "onset": float(a["onset"]),
            "detected_at": a["detected_at"], "direction": a["direction"], "before": a["before"],
            "after": a["after"], "confidence": a["confidence"], "recovered_at": a.get("recovered_at"),
            "incident_id": incident_id}


class IncidentRepository:
    """The ``incidents`` table and the ``anomalies`` rows written with each incident."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, doc: dict[str, Any], *, now: float | None = None,
                   tx: AsyncConnection | None = None) -> None:
        """Insert or replace an incident's snapshot, and upsert its anomalies that are new or changed.

        An incident is saved after every event that touches it. The anomaly rows it already has
        are read back (one indexed query) and only the new or changed ones are written, in one
        statement: the work per save is one row per *changed* anomaly, not one statement per
        anomaly of the incident (an alert storm of thousands of anomalies in one incident made
        each save cost thousands of statements, and absorbing the storm quadratic).
        """
        now = now if now is not None else time.time()
        async with self.db.transaction(tx) as conn:
            await self._save(conn, doc, now)

    async def _save(self, conn: AsyncConnection, doc: dict[str, Any], now: float) -> None:
        values = {"state": doc["state"], "onset": doc["onset"], "opened_at": doc["opened_at"],
                  "paged_at": doc["paged_at"], "resolved_at": doc["resolved_at"], "services": doc["services"],
                  "doc": doc, "updated_at": now}
        rows = [_anomaly_row(a, doc["id"]) for a in doc.get("anomalies", [])]
        a = t.anomalies
        stmt = self.db.insert(t.incidents).values(id=doc["id"], **values)
        await conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
        if not rows:
            return
        held = await conn.execute(sa.select(a.c.series, a.c.onset, a.c.recovered_at)
                                  .where(a.c.incident_id == doc["id"]))
        written = {(r.series, r.onset): r.recovered_at for r in held}
        changed = [r for r in rows
                   if (r["series"], r["onset"]) not in written
                   or written[(r["series"], r["onset"])] != r["recovered_at"]]
        if changed:
            ins = self.db.insert(a)
            await conn.execute(ins.on_conflict_do_update(
                index_elements=["series", "onset"],
                set_={"recovered_at": ins.excluded.recovered_at, "incident_id": ins.excluded.incident_id}),
                changed)

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(t.incidents.c.doc).where(t.incidents.c.id == incident_id))).first()
        return dict(row[0]) if row else None

    async def find(self, *, state: str | None = None, service: str | None = None,
                   since: float | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first; open incidents before resolved ones when no state is given."""
        q = sa.select(t.incidents.c.doc, t.incidents.c.services)
        if state:
            q = q.where(t.incidents.c.state == state)
        if since is not None:
            q = q.where(t.incidents.c.onset >= since)
        q = q.order_by((t.incidents.c.state == "open").desc(), t.incidents.c.onset.desc(), t.incidents.c.id)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).all()
        docs = [dict(r[0]) for r in rows if not service or service in (r[1] or [])]
        return docs[offset: offset + limit]
