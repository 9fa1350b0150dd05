"""The notification outbox: a page action per receiver, written before it is sent, then its delivery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables as t
from .session import Database

__all__ = ["Notification", "NotificationRepository"]

_ERROR = 2000  # how much of a delivery error is kept


@dataclass(frozen=True, slots=True)
class Notification:
    """One outbox row: a page action for one receiver."""

    id: int
    key: str
    incident_id: str
    receiver: str
    action: str
    dedup_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


def _notification(r: Any) -> Notification:
    return Notification(r["id"], r["key"], r["incident_id"], r["receiver"], r["action"], r["dedup_key"],
                        r["payload"], r["status"], r["attempts"], r["next_attempt_at"], r["last_error"],
                        r["created_at"], r["sent_at"])


def _earlier_pending() -> Any:
    """An older notification for the same incident and receiver is still pending (it goes first)."""
    n, earlier = t.notifications, t.notifications.alias("earlier")
    return sa.exists().where(earlier.c.incident_id == n.c.incident_id, earlier.c.receiver == n.c.receiver,
                             earlier.c.status == "pending", earlier.c.id < n.c.id)


class NotificationRepository:
    """The ``notifications`` table: pending, sent, failed or superseded; idempotent on ``key``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing pages down ---------------------------------------------------------------
    async def enqueue(self, *, key: str, incident_id: str, receiver: str, action: str, dedup_key: str,
                      payload: dict[str, Any], now: float, next_attempt_at: float | None = None,
                      tx: AsyncConnection | None = None) -> bool:
        """Write a notification before it is sent; idempotent on ``key``. True if new.

        It is delivered from ``next_attempt_at`` (default ``now``; later for a held-back resolve).
        """
        async with self.db.transaction(tx) as conn:
            res = await conn.execute(self.db.insert(t.notifications).values(
                key=key, incident_id=incident_id, receiver=receiver, action=action, dedup_key=dedup_key,
                payload=payload, status="pending", attempts=0,
                next_attempt_at=now if next_attempt_at is None else next_attempt_at, created_at=now,
            ).on_conflict_do_nothing(index_elements=["key"]))
            return bool(res.rowcount == 1)

    async def supersede(self, dedup_key: str, action: str, reason: str, *,
                        tx: AsyncConnection | None = None) -> int:
        """Withdraw pending ``action`` notifications of an incident (a held resolve after a relapse)."""
        n = t.notifications
        async with self.db.transaction(tx) as conn:
            res = await conn.execute(sa.update(n).where(n.c.dedup_key == dedup_key).where(n.c.action == action)
                                     .where(n.c.status == "pending").values(status="superseded",
                                                                            last_error=reason[:_ERROR]))
        return int(res.rowcount or 0)

    # -- reading -----------------------------------------------------------------------------
    async def receivers_for(self, dedup_key: str) -> list[str]:
        """Receivers that were paged (or are being paged) about an incident, in first-paged order."""
        n = t.notifications
        q = (sa.select(n.c.receiver, sa.func.min(n.c.id)).where(n.c.dedup_key == dedup_key)
             .where(n.c.status.in_(("pending", "sent", "failed"))).group_by(n.c.receiver)
             .order_by(sa.func.min(n.c.id)))
        async with self.db.read() as conn:
            return [r[0] for r in (await conn.execute(q)).all()]

    async def find(self, incident_id: str | None = None, status: str | None = None,
                   limit: int = 200) -> list[Notification]:
        """Notifications (of one incident, in one status, when given), oldest first."""
        q = sa.select(t.notifications).order_by(t.notifications.c.id).limit(limit)
        if incident_id:
            q = q.where(t.notifications.c.incident_id == incident_id)
        if status:
            q = q.where(t.notifications.c.status == status)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [_notification(r) for r in rows]

    async def by_key(self, dedup_key: str, limit: int = 200) -> list[Notification]:
        """An incident's notifications at every receiver, oldest first (withdrawn ones included)."""
        q = (sa.select(t.notifications).where(t.notifications.c.dedup_key == dedup_key)
             .order_by(t.notifications.c.id).limit(limit))
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [_notification(r) for r in rows]

    async def depth(self) -> int:
        """How many notifications are pending."""
        async with self.db.read() as conn:
            n = (await conn.execute(sa.select(sa.func.count()).select_from(t.notifications)
                                    .where(t.notifications.c.status == "pending"))).scalar_one()
        return int(n)

    # -- delivery ------------------------------------------------------------------------------
    async def due(self, now: float, limit: int = 50) -> list[Notification]:
        """Pending notifications whose time has come, oldest first.

        Per incident and receiver only the oldest pending one is due: a resolve never overtakes
        its trigger while the trigger waits for a retry (the receiver would open an incident
        that nothing resolves)."""
        n = t.notifications
        q = (sa.select(n).where(n.c.status == "pending").where(n.c.next_attempt_at <= now)
             .where(~_earlier_pending()).order_by(n.c.id).limit(limit))
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [_notification(r) for r in rows]

    async def claim_due(self, now: float, limit: int = 50, lease: float = 60.0, *,
                        receivers: Sequence[str] | None = None,
                        exclude: Sequence[str] | None = None) -> list[Notification]:
        """Take due notifications for delivery by this replica only, for ``lease`` seconds.

        On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED`` and pushed ``lease``
        seconds into the future in one transaction, so replicas delivering the same
        outbox never send a row twice at once; a replica that dies mid-send leaves
        the row to be retried by another once the lease has passed (same key: the
        receiver dedupes). SQLite serialises writers, which gives the same guarantee.
        """
        n = t.notifications
        # An incident's notifications reach a receiver in order: a row waits while an earlier one
        # for the same incident and receiver is pending and not due (backing off, or claimed).
        earlier = t.notifications.alias("earlier")
        blocked = (sa.select(earlier.c.id).where(earlier.c.dedup_key == n.c.dedup_key)
                   .where(earlier.c.receiver == n.c.receiver).where(earlier.c.status == "pending")
                   .where(earlier.c.id < n.c.id).where(earlier.c.next_attempt_at > now))
        pick = (sa.select(n.c.id).where(n.c.status == "pending").where(n.c.next_attempt_at <= now)
                .where(~sa.exists(blocked)).order_by(n.c.id).limit(limit))
        if receivers is not None:  # one receiver's loop: a hung receiver holds up no other
            pick = pick.where(n.c.receiver.in_(list(receivers)))
        if exclude:
            pick = pick.where(n.c.receiver.not_in(list(exclude)))
        if self.db.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        # One statement: the pick and the push into the future are atomic on both databases.
        claim = (sa.update(n).where(n.c.id.in_(pick.scalar_subquery())).values(next_attempt_at=now + lease)
                 .returning(*n.c))
        async with self.db.write() as conn:
            rows = sorted((await conn.execute(claim)).mappings().all(), key=lambda r: r["id"])
        return [_notification(r) for r in rows]

    async def release_claims(self, now: float) -> int:
        """Make pending notifications due now (a single replica's start: claims held by its previous
        process, which died mid-send, would otherwise wait out their lease). Held-back resolves keep
        their time. Returns how many were released."""
        n = t.notifications
        async with self.db.write() as conn:
            res = await conn.execute(sa.update(n).where(n.c.status == "pending").where(n.c.next_attempt_at > now)
                                     .where(n.c.action != "resolve").values(next_attempt_at=now))
        return int(res.rowcount or 0)

    async def mark_sent(self, notification_id: int, now: float) -> None:
        await self._set(notification_id, status="sent", sent_at=now, attempts=t.notifications.c.attempts + 1,
                        last_error=None)

    async def postpone(self, notification_id: int, next_attempt_at: float) -> None:
        """Move a notification's next attempt without counting an attempt (an open circuit breaker)."""
        await self._set(notification_id, next_attempt_at=next_attempt_at)

    async def mark_retry(self, notification_id: int, error: str, next_attempt_at: float) -> None:
        await self._set(notification_id, attempts=t.notifications.c.attempts + 1, last_error=error[:_ERROR],
                        next_attempt_at=next_attempt_at)

    async def mark_failed(self, notification_id: int, error: str) -> None:
        await self._set(notification_id, status="failed", attempts=t.notifications.c.attempts + 1,
                        last_error=error[:_ERROR])

    async def _set(self, notification_id: int, **values: Any) -> None:
        async with self.db.write() as conn:
            await conn.execute(sa.update(t.notifications).where(t.notifications.c.id == notification_id)
                               .values(**values))
