"""The durable outbox: written before sending, marked after the receiver accepted.

Delivery is a pipeline of small stages, in the manner of Alertmanager's notify
pipeline:

- **dedup**: every notification has a stable key (:func:`notification_key`), unique in
  the store, so deciding the same page twice (a restart re-reading its input) writes
  it once; receivers get the key (PagerDuty ``dedup_key``, Opsgenie ``alias``,
  ``Idempotency-Key``) and dedupe a re-send after a crash between send and mark.
- **claim**: a round claims due rows with a lease (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL), so any replica may deliver and none sends a row another is sending;
  an incident's notifications reach a receiver in order (trigger before update).
- **breaker**: a :class:`CircuitBreaker` per receiver holds pages back while it keeps failing.
- **send**: the receiver, bounded by ``send_timeout``.
- **retry**: :class:`Retryable` errors (timeouts, 5xx, 429 with Retry-After) back off with
  jitter up to ``max_attempts``; :class:`Permanent` ones are never retried.
- **record**: sent, retry or failed in the store (shown with the incident) and on /metrics.

Resolves are held back ``resolve_hold`` seconds: a relapse in that time (flapping)
withdraws the resolve and the page stays open: no second page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..store import Notification, Store
from ..telemetry.metrics import Metrics
from ..telemetry.redact import redact
from .breaker import CircuitBreaker
from .retry import RetryPolicy
from .types import Notifier, Page, Permanent, Retryable

__all__ = ["Outbox", "RetryPolicy", "notification_key"]

log = logging.getLogger("whatchanged.outbox")

#: Actions that, for an open incident, mean it is (again) open: they withdraw a held-back resolve.
_OPENING = ("trigger", "update")


def notification_key(page: Page, receiver: str) -> str:
    """Stable across restarts: the same decision (same event time) gives the same key.

    Notes carry a digest of their text, so two different notes in one second are two notifications.

    >>> notification_key(Page("trigger", "inc-1", "inc-1", 1790000000.4, "t", ""), "pd")
    'inc-1/trigger/1790000000/pd'
    >>> notification_key(Page("note", "inc-1", "inc-1", 1790000000.4, "t", "rolled back"), "pd")
    'inc-1/note/1790000000/pd/e557b043'
    """
    key = f"{page.dedup_key}/{page.action}/{page.ts:.0f}/{receiver}"
    if page.action == "note":
        key += "/" + hashlib.sha1(page.text.encode()).hexdigest()[:8]
    return key


class Outbox:
    """Enqueue pages for receivers and deliver them, at least once, in order per incident.

    Parameters
    ----------
    store
        Where notifications live (the outbox table).
    notifiers
        Receivers by name.
    clock
        Wall-clock seconds (injected for tests).
    retry
        Backoff and attempt bound (:class:`RetryPolicy`).
    send_timeout
        Seconds one send may take; the claim lease is this plus a margin.
    breaker_threshold, breaker_cool_down
        Consecutive retryable failures that open a receiver's circuit, and for how long.
    resolve_hold
        Seconds a resolve waits before it is sent (flap damping); 0 sends at once.
    """

    def __init__(self, store: Store, notifiers: Mapping[str, Notifier], *, clock: Callable[[], float],
                 metrics: Metrics | None = None, retry: RetryPolicy | None = None,
                 send_timeout: float = 30.0, breaker_threshold: int = 5, breaker_cool_down: float = 60.0,
                 resolve_hold: float = 0.0) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.retry = retry or RetryPolicy()
        self.send_timeout = send_timeout
        self.resolve_hold = resolve_hold
        self.breakers = {name: CircuitBreaker(breaker_threshold, breaker_cool_down) for name in self.notifiers}
        self._wake = asyncio.Event()
        self._wakes: dict[str, asyncio.Event] = {}  # one per receiver's delivery loop
        self._stopping = False

    @property
    def lease(self) -> float:
        return self.send_timeout + 5.0

    # -- dedup: write before sending -----------------------------------------------------
    async def enqueue(self, page: Page, receivers: list[str] | None = None) -> int:
        """Record the page for each receiver (all when ``receivers`` is None); returns how many were new."""
        now = self.clock()
        withdraw, rows = self.plan(page, receivers, now)
        if withdraw is not None:
            withdrawn = await self.store.notifications.supersede(page.dedup_key, "resolve", withdraw)
            if withdrawn:
                log.info("incident %s relapsed: held-back resolve withdrawn, the page stays open",
                         page.incident_id, extra={"incident_id": page.incident_id})
        new = 0
        for row in rows:
            if await self.store.notifications.enqueue(**row, now=now):
                new += 1
        self.wake()
        return new

    def plan(self, page: Page, receivers: list[str] | None, now: float) -> tuple[str | None, list[dict[str, Any]]]:
        """The outbox rows for ``page`` (for :meth:`~daemon.store.decisions.DecisionLog.commit` or :meth:`enqueue`), and
        the reason to withdraw the incident's held-back resolve, if the page re-opens it."""
        if not math.isfinite(page.ts):
            raise ValueError(f"page {page.action} for {page.incident_id}: event time {page.ts} is not finite")
        withdraw = None
        if page.action in _OPENING and page.incident.get("state", "open") == "open":
            withdraw = f"withdrawn: {page.reason or 'relapsed'}"
        hold = self.resolve_hold if page.hold is None else page.hold
        due = now + hold if page.action == "resolve" and not page.drill else now
        payload = page.to_json()
        rows = [{"key": notification_key(page, name), "incident_id": page.incident_id, "receiver": name,
                 "action": page.action, "dedup_key": page.dedup_key, "payload": payload, "next_attempt_at": due}
                for name in (receivers if receivers is not None else list(self.notifiers))]
        return withdraw, rows

    def wake(self) -> None:
        """New rows are in the outbox: deliver without waiting for the next poll."""
        self._wake.set()
        for ev in self._wakes.values():
            ev.set()

    # -- a delivery round ----------------------------------------------------------------
    async def deliver_due(self, receiver: str | None = None, *, others: bool = False) -> int:
        """Try every due notification once (in order per incident and receiver); returns how many were accepted.

        ``receiver``: only that receiver's (each receiver's loop delivers its own, so a slow or
        hung receiver delays no other); ``others``: only rows for receivers not configured."""
        # Claimed, not just read: several replicas may deliver the same outbox.
        claimed = await self.store.notifications.claim_due(
            self.clock(), lease=self.lease, receivers=None if receiver is None else [receiver],
            exclude=list(self.notifiers) if others else None)
        groups: dict[tuple[str, str], list[Notification]] = {}
        for n in claimed:
            groups.setdefault((n.receiver, n.dedup_key), []).append(n)
        results = await asyncio.gather(*(self._deliver_in_order(g) for g in groups.values()))
        self.metrics.outbox_depth.set(await self.store.notifications.depth())
        return sum(results)

    async def _deliver_in_order(self, group: list[Notification]) -> int:
        sent = 0
        for i, n in enumerate(group):
            if await self._deliver(n) != "sent":
                for later in group[i + 1:]:  # release: they wait behind the earlier one, never overtake it
                    await self.store.notifications.postpone(later.id, self.clock())
                break
            sent += 1
        return sent

    async def _deliver(self, n: Notification) -> str:
        notifier = self.notifiers.get(n.receiver)
        if notifier is None:
            return await self._failed(n, f"receiver {n.receiver!r} is no longer configured")
        try:
            page = Page.from_json(n.payload)
        except (KeyError, TypeError, ValueError) as e:
            return await self._failed(n, f"unreadable stored page: {e!r}")
        if not math.isfinite(page.ts):  # stored by an older version: never send a body that is not JSON
            page = dataclasses.replace(page, ts=n.created_at)
        breaker = self.breakers.setdefault(n.receiver, CircuitBreaker())
        now = self.clock()
        if not breaker.allow(now):  # breaker stage: wait, no attempt counted
            await self.store.notifications.postpone(n.id, max(breaker.retry_at, now + 1.0))
            self.metrics.notifications.labels(n.receiver, "deferred").inc()
            return "deferred"
        try:
            await asyncio.wait_for(notifier.send(page, key=n.key), timeout=self.send_timeout)
        except Permanent as e:
            breaker.release()
            return await self._failed(n, str(e))
        except Exception as e:  # Retryable, timeouts, network and unexpected errors: retried, bounded
            if isinstance(e, asyncio.CancelledError):
                raise
            breaker.failure(self.clock())
            self.metrics.circuit_open.labels(n.receiver).set(1.0 if breaker.state(self.clock()) != "closed" else 0.0)
            return await self._retry(n, e)
        breaker.success()
        self.metrics.circuit_open.labels(n.receiver).set(0.0)
        await self.store.notifications.mark_sent(n.id, self.clock())
        self.metrics.notifications.labels(n.receiver, "sent").inc()
        log.info("page %s delivered to %s", n.key, n.receiver,
                 extra={"incident_id": n.incident_id, "receiver": n.receiver, "key": n.key})
        return "sent"

    # -- record ------------------------------------------------------------------------
    async def _failed(self, n: Notification, error: str) -> str:
        error = redact(error)  # a receiver's error may carry its URL (a Slack webhook URL is a secret)
        await self.store.notifications.mark_failed(n.id, error)
        self.metrics.notifications.labels(n.receiver, "failed").inc()
        log.error("page %s to %s failed permanently: %s", n.key, n.receiver, error,
                  extra={"incident_id": n.incident_id, "receiver": n.receiver, "key": n.key})
        return "failed"

    async def _retry(self, n: Notification, e: Exception) -> str:
        what = redact(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        if self.retry.gives_up(n.attempts + 1):
            return await self._failed(n, f"gave up after {n.attempts + 1} attempts: {what}")
        retry_after = e.retry_after if isinstance(e, Retryable) else None
        wait = self.retry.delay(n.attempts, retry_after)
        await self.store.notifications.mark_retry(n.id, what, self.clock() + wait)
        self.metrics.notifications.labels(n.receiver, "retry").inc()
        log.warning("page %s to %s will be retried in %.0fs: %s", n.key, n.receiver, wait, what,
                    extra={"incident_id": n.incident_id, "receiver": n.receiver, "key": n.key})
        return "retry"

    # -- the deliverer task --------------------------------------------------------------
    def stop(self) -> None:
        """Finish the rounds in flight, then return from :meth:`run` (no send is cut in half)."""
        self._stopping = True
        self.wake()

    async def run(self, poll: float = 1.0) -> None:
        """Deliver until stopped: one loop per receiver, each waking at once on new pages, else
        polling for retries; a hung receiver holds up its own loop only.

        A :meth:`stop` that came before this task got to run still counts (no reset here):
        a daemon stopped right after start must not wait for a deliverer that never ends.
        """
        loops = [self._loop(name, poll) for name in self.notifiers] + [self._loop(None, poll)]
        try:
            await asyncio.gather(*loops)
        finally:
            self._stopping = False  # ready for a later run

    async def _loop(self, receiver: str | None, poll: float) -> None:
        """Deliver ``receiver``'s notifications (``None``: those of receivers no longer configured)."""
        wake = self._wake if receiver is None else self._wakes.setdefault(receiver, asyncio.Event())
        while True:
            try:
                await self.deliver_due(receiver, others=receiver is None)
            except Exception:  # the store may be down: keep the loop alive, pages stay in the outbox
                log.exception("outbox delivery round failed; will retry")
            if self._stopping:
                break
            wake.clear()
            try:
                async with asyncio.timeout(poll if receiver is not None else max(poll, 30.0)):
                    await wake.wait()
            except TimeoutError:
                pass
