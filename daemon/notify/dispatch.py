"""From a page decision to outbox rows: silence, pin, route, enqueue.

Stages before the outbox, in order: **silence** (when silences or maintenance
windows cover every service of the incident, the page is not queued; the
incident view lists the silences), **pin** (an incident keeps the service and
severity of its first page, so Alertmanager's alert identity and PagerDuty's
severity stay put), **route** (a trigger goes where the routes say; later actions
go to the receivers already paged about the incident; updates also to new matches).
Drills go to every configured receiver and ignore silences.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from ..store import Store
from .outbox import Outbox
from .routing import Router
from .types import Page

__all__ = ["Dispatcher"]

log = logging.getLogger("whatchanged.dispatch")


class Dispatcher:
    """
    Parameters
    ----------
    silenced
        ``await silenced(services, ts)``: True when silences cover the incident's services at
        ``ts`` (the workspace's silences API provides it); None: nothing is silenced.
    """

    def __init__(self, store: Store, outbox: Outbox, router: Router | None = None, *,
                 clock: Callable[[], float],
                 silenced: Callable[[list[str], float], Awaitable[bool]] | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.router = router or Router(default=list(outbox.notifiers))
        self.clock = clock
        self.silenced = silenced

    async def is_silenced(self, services: Sequence[str], ts: float) -> bool:
        return self.silenced is not None and await self.silenced(list(services), ts)

    async def receivers_for(self, page: Page) -> list[str]:
        if page.drill:
            return list(self.outbox.notifiers)
        routed = self.router.receivers(page)
        if page.action == "trigger":
            return routed
        earlier = await self.store.notifications.receivers_for(page.dedup_key)
        if page.action in ("resolve", "acknowledge", "note"):
            return earlier  # never resolve or annotate where nothing was paged
        return earlier + [r for r in routed if r not in earlier]

    async def pin(self, page: Page) -> Page:
        if page.action == "trigger" or page.drill:
            return page
        first = next(iter(await self.store.notifications.by_key(page.dedup_key, limit=1)), None)
        if first is None:
            return page
        return dataclasses.replace(page, severity=str(first.payload.get("severity", page.severity)),
                                   service=str(first.payload.get("service", page.service)))

    async def plan(self, page: Page) -> tuple[Page, list[str]] | None:
        """``page`` as it goes out (pinned) and its receivers, or ``None`` when silenced or unrouted.

        Reads only: the caller writes the outbox rows (with the incident, in one transaction)."""
        if not page.drill and await self.is_silenced(page.services, page.ts):
            log.info("page %s for %s not sent: its services are silenced", page.action, page.incident_id,
                     extra={"incident_id": page.incident_id})
            return None
        page = await self.pin(page)
        receivers = await self.receivers_for(page)
        if not receivers:
            log.info("page %s for %s: no receiver", page.action, page.incident_id,
                     extra={"incident_id": page.incident_id})
            return None
        return page, receivers

    async def dispatch(self, page: Page) -> int:
        """Queue ``page`` for its receivers; returns how many notifications were new."""
        planned = await self.plan(page)
        if planned is None:
            return 0
        return await self.outbox.enqueue(*planned)
