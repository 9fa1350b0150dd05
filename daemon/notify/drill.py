"""The drill: a clearly marked drill page through the real pipeline to every receiver.

The drill is written to the outbox like any page, delivered with the same retry,
breaker and record stages, then resolved, and each delivery is reported, so teams
practise (and find a revoked key or a renamed channel) while nothing is broken.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..store import Notification, Store
from .outbox import Outbox
from .retry import RetryPolicy
from .types import Notifier, Page

__all__ = ["DrillResult", "drill_page", "run_drill"]

log = logging.getLogger("whatchanged.drill")


@dataclass(frozen=True)
class DrillResult:
    receiver: str
    action: str
    status: str
    attempts: int
    error: str | None

    def line(self) -> str:
        tail = f": {self.error}" if self.error and self.status != "sent" else ""
        return f"{self.receiver:<24} {self.action:<8} {self.status} ({self.attempts} attempt" \
               f"{'s' if self.attempts != 1 else ''}){tail}"


def drill_page(action: str, drill_id: str, ts: float, base_url: str = "") -> Page:
    doc: dict[str, Any] = {"id": drill_id, "state": "resolved" if action == "resolve" else "open", "onset": ts,
                           "services": [], "anomalies": [], "candidates": [], "dead_ends": []}
    text = ("This is a drill of whatchanged paging: no action needed. It checks that pages reach this "
            "receiver; the drill resolves itself.")
    return Page(action, drill_id, drill_id, ts, "[DRILL] whatchanged paging drill: no action needed", text, doc,
                f"{base_url.rstrip('/')}/incidents/{drill_id}" if base_url else "", drill=True, severity="info",
                service="whatchanged-drill", reason="drill")


async def _deliver_until_done(outbox: Outbox, store: Store, key: str, action: str, deadline: float,
                              clock: Callable[[], float]) -> list[Notification]:
    while True:
        await outbox.deliver_due()
        rows = [n for n in await store.notifications.by_key(key) if n.action == action]
        pending = [n for n in rows if n.status == "pending"]
        if not pending:
            return rows
        now = clock()
        if now >= deadline:
            for n in pending:
                await store.notifications.mark_failed(n.id,
                                                      f"drill gave up at its deadline; last error: {n.last_error}")
            return [n for n in await store.notifications.by_key(key) if n.action == action]
        wake = min(n.next_attempt_at for n in pending)
        await asyncio.sleep(max(0.05, min(wake, deadline) - now))


async def run_drill(store: Store, notifiers: Mapping[str, Notifier], *, timeout: float = 60.0,
                    resolve: bool = True, base_url: str = "", retry: RetryPolicy | None = None,
                    send_timeout: float = 10.0, clock: Callable[[], float] = time.time) -> list[DrillResult]:
    """Page every receiver with a drill, resolve it, and return one result per receiver and action."""
    drill_id = f"drill-{uuid.uuid4().hex[:12]}"
    outbox = Outbox(store, notifiers, clock=clock, retry=retry, send_timeout=min(send_timeout, timeout))
    deadline = clock() + timeout
    await outbox.enqueue(drill_page("trigger", drill_id, clock(), base_url))
    rows = await _deliver_until_done(outbox, store, drill_id, "trigger", deadline, clock)
    results = [DrillResult(n.receiver, n.action, n.status, n.attempts, n.last_error) for n in rows]
    sent = [n.receiver for n in rows if n.status == "sent"]
    if resolve and sent:
        await outbox.enqueue(drill_page("resolve", drill_id, clock() + 1, base_url), sent)
        rows = await _deliver_until_done(outbox, store, drill_id, "resolve", max(deadline, clock() + 10), clock)
        results += [DrillResult(n.receiver, n.action, n.status, n.attempts, n.last_error) for n in rows]
    return results
