"""The unit of work of one analysis step: its incidents, their pages and the alerts it took, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .alerts import AlertInbox
from .incidents import IncidentRepository
from .notifications import NotificationRepository
from .session import Database

__all__ = ["DecisionLog"]


class DecisionLog:
    """Writes what the core decided across incidents, the outbox and the inbox as one transaction."""

    def __init__(self, db: Database, incidents: IncidentRepository, notifications: NotificationRepository,
                 alerts: AlertInbox) -> None:
        self.db = db
        self.incidents = incidents
        self.notifications = notifications
        self.alerts = alerts

    async def commit(self, docs: Sequence[dict[str, Any]], notifications: Sequence[dict[str, Any]] = (),
                     *, withdraw: Sequence[tuple[str, str]] = (), alert_keys: Sequence[str] = (),
                     now: float) -> int:
        """In one transaction: incidents, the pages decided about them (outbox rows as
        :meth:`NotificationRepository.enqueue` takes them, idempotent on ``key``), held-back resolves
        they withdraw (``(dedup_key, reason)``) and the inbox alerts they took. A crash leaves all
        of it or none: never an incident marked paged without its page in the outbox. Returns how
        many notifications were new."""
        new = 0
        async with self.db.write() as tx:
            for doc in docs:
                await self.incidents.save(doc, now=now, tx=tx)
            for dedup_key, reason in withdraw:
                await self.notifications.supersede(dedup_key, "resolve", reason, tx=tx)
            for row in notifications:
                new += int(await self.notifications.enqueue(**row, now=now, tx=tx))
            await self.alerts.mark_processed(alert_keys, now, tx=tx)
        return new
