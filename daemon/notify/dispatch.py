"""From a page decision to outbox rows: route, pin, silence, enqueue.

Stages before the outbox, in order: **route** (a trigger goes where the routes say;
later actions go to every receiver already paged about the incident, plus new
matches), **pin** (an incident keeps the service and severity of its first page,
so Alertmanager's alert identity and PagerDuty's severity stay put), **silence**
(matching silences and maintenance windows record the page as silenced).
Drills go to every configured receiver and ignore silences.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from ..store import Store
from .outbox import Outbox
from .routing import Router
from .silences import matching_silence
from .types import Page

__all__ = ["Dispatcher"]

log = logging.getLogger("whatchanged.dispatch")


class Dispatcher:
    def __init__(self, store: Store, outbox: Outbox, router: Router | None = None, *,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.outbox = outbox
        self.router = router or Router(default=list(outbox.notifiers))
        self.clock = clock

    async def receivers_for(self, page: Page) -> list[str]:
        if page.drill:
            return list(self.outbox.notifiers)
        routed = self.router.receivers(page)
        if page.action == "trigger":
            return routed
        earlier = await self.store.receivers_for(page.dedup_key)
        if page.action in ("resolve", "acknowledge"):
            return earlier  # never resolve where nothing was paged
        return earlier + [r for r in routed if r not in earlier]

    async def pin(self, page: Page) -> Page:
        if page.action == "trigger" or page.drill:
            return page
        first = next(iter(await self.store.list_notifications_by_key(page.dedup_key, limit=1)), None)
        if first is None:
            return page
        return dataclasses.replace(page, severity=str(first.payload.get("severity", page.severity)),
                                   service=str(first.payload.get("service", page.service)))

    async def dispatch(self, page: Page) -> int:
        """Enqueue ``page`` for its receivers; returns how many notifications were new."""
        page = await self.pin(page)
        receivers = await self.receivers_for(page)
        if not receivers:
            log.info("page %s for %s: no receiver", page.action, page.incident_id,
                     extra={"incident_id": page.incident_id})
            return 0
        silence = None
        if not page.drill:
            silence = matching_silence(await self.store.list_silences(active_at=self.clock()), page)
        if silence:
            log.info("page %s for %s silenced by %s", page.action, page.incident_id, silence,
                     extra={"incident_id": page.incident_id})
        return await self.outbox.enqueue(page, receivers, silenced_by=silence)
