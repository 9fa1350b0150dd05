"""The durable outbox: written before sending, marked after the receiver accepted.

A crash between the two re-sends with the same key after restart; receivers
dedupe on the incident's key. Retries back off exponentially with jitter and
honour Retry-After; permanent errors are recorded and shown, never retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping

from ..metrics import Metrics
from ..store import Notification, Store
from .types import DeliveryError, Notifier, Page, Permanent, Retryable

__all__ = ["Outbox", "RetryPolicy", "notification_key"]

log = logging.getLogger("whatchanged.outbox")


def notification_key(page: Page, receiver: str) -> str:
    """Stable across restarts: the same decision (same event time) gives the same key."""
    return f"{page.dedup_key}/{page.action}/{page.ts:.0f}/{receiver}"


class RetryPolicy:
    def __init__(self, base: float = 2.0, factor: float = 2.0, cap: float = 300.0, max_attempts: int = 12,
                 rng: random.Random | None = None) -> None:
        self.base, self.factor, self.cap, self.max_attempts = base, factor, cap, max_attempts
        self._rng = rng or random.Random()

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; never sooner than the receiver's Retry-After."""
        backoff = min(self.cap, self.base * self.factor ** max(0, attempts))
        wait = self._rng.uniform(backoff / 2, backoff)
        if retry_after is not None:
            wait = max(wait, min(retry_after, 3600.0))
        return wait


class Outbox:
    def __init__(self, store: Store, notifiers: Mapping[str, Notifier], *, clock: Callable[[], float],
                 metrics: Metrics | None = None, retry: RetryPolicy | None = None,
                 send_timeout: float = 30.0) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.retry = retry or RetryPolicy()
        self.send_timeout = send_timeout
        self._wake = asyncio.Event()
        self._stopping = False

    async def enqueue(self, page: Page, receivers: list[str] | None = None) -> int:
        """Record the page for each receiver; returns how many were new."""
        now = self.clock()
        new = 0
        for name in receivers if receivers is not None else list(self.notifiers):
            key = notification_key(page, name)
            if await self.store.enqueue(key=key, incident_id=page.incident_id, receiver=name, action=page.action,
                                        dedup_key=page.dedup_key, payload=page.to_json(), now=now):
                new += 1
        self._wake.set()
        return new

    async def deliver_due(self) -> int:
        """Try every due notification once; returns how many were accepted."""
        # Claimed, not just read: several replicas may deliver the same outbox.
        due = await self.store.claim_due_notifications(self.clock(), lease=self.send_timeout + 30.0)
        results = await asyncio.gather(*(self._deliver(n) for n in due))
        self.metrics.outbox_depth.set(await self.store.outbox_depth())
        return sum(results)

    async def _deliver(self, n: Notification) -> bool:
        notifier = self.notifiers.get(n.receiver)
        if notifier is None:
            await self.store.mark_failed(n.id, f"receiver {n.receiver!r} is no longer configured")
            self.metrics.notifications.labels(n.receiver, "failed").inc()
            return False
        page = Page.from_json(n.payload)
        try:
            await asyncio.wait_for(notifier.send(page, key=n.key), timeout=self.send_timeout)
        except Permanent as e:
            await self.store.mark_failed(n.id, str(e))
            self.metrics.notifications.labels(n.receiver, "failed").inc()
            log.error("page %s to %s failed permanently: %s", n.key, n.receiver, e,
                      extra={"incident_id": n.incident_id, "receiver": n.receiver})
            return False
        except (Retryable, DeliveryError, asyncio.TimeoutError, OSError) as e:
            retry_after = e.retry_after if isinstance(e, Retryable) else None
            if n.attempts + 1 >= self.retry.max_attempts:
                await self.store.mark_failed(n.id, f"gave up after {n.attempts + 1} attempts: {e}")
                self.metrics.notifications.labels(n.receiver, "failed").inc()
                log.error("page %s to %s: gave up after %d attempts: %s", n.key, n.receiver, n.attempts + 1, e)
                return False
            wait = self.retry.delay(n.attempts, retry_after)
            await self.store.mark_retry(n.id, f"{type(e).__name__}: {e}", self.clock() + wait)
            self.metrics.notifications.labels(n.receiver, "retry").inc()
            log.warning("page %s to %s will be retried in %.0fs: %s", n.key, n.receiver, wait, e)
            return False
        await self.store.mark_sent(n.id, self.clock())
        self.metrics.notifications.labels(n.receiver, "sent").inc()
        return True

    def stop(self) -> None:
        """Finish the round in flight, then return from :meth:`run` (no send is cut in half)."""
        self._stopping = True
        self._wake.set()

    async def run(self, poll: float = 1.0) -> None:
        """Deliver until stopped; wakes at once on new pages, else polls for retries.

        A :meth:`stop` that came before this task got to run still counts (no reset here):
        a daemon stopped right after start must not wait for a deliverer that never ends.
        """
        while True:
            try:
                await self.deliver_due()
            except Exception:  # the store may be down: keep the loop alive, pages stay in the outbox
                log.exception("outbox delivery round failed; will retry")
            if self._stopping:
                self._stopping = False  # ready for a later run
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
            except asyncio.TimeoutError:
                pass
