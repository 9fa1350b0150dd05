"""The Alertmanager inbox: alerts kept before the webhook answers, until the core has taken them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.events import AlertEvent
from . import tables as t
from .session import Database

__all__ = ["AlertInbox", "alert_of"]

_KEY = 600  # the width of ``alert_inbox.key``


def _alert_json(a: AlertEvent) -> dict[str, Any]:
    return {"ts": a.ts, "service": a.service, "signal": a.signal, "series": a.series, "firing": a.firing,
            "confidence": a.confidence, "summary": a.summary, "starts_at": a.starts_at}


def alert_of(d: dict[str, Any]) -> AlertEvent:
    """The :class:`AlertEvent` of a stored inbox document (raises on a document it cannot read)."""
    return AlertEvent(float(d["ts"]), str(d["service"]), str(d["signal"]), str(d["series"]), bool(d["firing"]),
                      float(d["confidence"]), str(d.get("summary", "")),
                      None if d.get("starts_at") is None else float(d["starts_at"]))


class AlertInbox:
    """The ``alert_inbox`` table; idempotent on :attr:`AlertEvent.key` (fingerprint, startsAt, status)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, alerts: Sequence[AlertEvent], now: float) -> list[bool]:
        """Keep received alerts before the webhook answers. Returns, per alert, whether it was new.
        All or nothing."""
        new: list[bool] = []
        async with self.db.write() as conn:
            for a in alerts:
                res = await conn.execute(self.db.insert(t.alert_inbox).values(
                    key=a.key[:_KEY], alert=_alert_json(a), received_at=now, processed_at=None,
                ).on_conflict_do_nothing(index_elements=["key"]))
                new.append(res.rowcount == 1)
        return new

    async def mark_processed(self, keys: Sequence[str], now: float, *, tx: AsyncConnection | None = None) -> int:
        """The core has taken these alerts (and its output is stored): not replayed at the next start."""
        if not keys:
            return 0
        a = t.alert_inbox
        async with self.db.transaction(tx) as conn:
            res = await conn.execute(sa.update(a).where(a.c.key.in_([k[:_KEY] for k in keys]))
                                     .where(a.c.processed_at.is_(None)).values(processed_at=now))
        return int(res.rowcount or 0)

    async def unprocessed(self, limit: int = 10_000) -> list[AlertEvent]:
        """Alerts received but not yet taken by the core (a crash came between), oldest first."""
        a = t.alert_inbox
        q = sa.select(a.c.alert).where(a.c.processed_at.is_(None)).order_by(a.c.id).limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).all()
        return [alert_of(r[0]) for r in rows]

    async def unprocessed_rows(self, limit: int = 10_000) -> list[tuple[str, Any]]:
        """Like :meth:`unprocessed`, undecoded: ``(key, stored document)``, so a start-up
        replay can set aside a row it cannot read instead of failing on it."""
        a = t.alert_inbox
        q = sa.select(a.c.key, a.c.alert).where(a.c.processed_at.is_(None)).order_by(a.c.id).limit(limit)
        async with self.db.read() as conn:
            return [(str(r[0]), r[1]) for r in (await conn.execute(q)).all()]
