"""Start-up: resume from the last checkpoint (detectors warm, learned weights, open incidents and their
pages known), and take the alerts that were received but never reached the core before a crash."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from correlators.incidents import Incident
from correlators.learning import OnlineWeights

from ..core.engine import Engine
from ..core.events import AlertEvent
from ..core.guard import clean_alert
from ..store import Store
from ..store.alerts import alert_of
from .admission import Admission
from .lanes import Quarantine
from .mode import Mode
from .paging import event_times

__all__ = ["LEARNING_CHECKPOINT", "Restorer"]

log = logging.getLogger("whatchanged.daemon")

LEARNING_CHECKPOINT = "learning"


class Restorer:
    """Puts a fresh engine back where the last process left it."""

    def __init__(self, store: Store, engine: Engine, learner: OnlineWeights, mode: Mode, admission: Admission, *,
                 quarantine: Quarantine, clock: Callable[[], float]) -> None:
        self.store = store
        self.engine = engine
        self.learner = learner
        self.mode = mode
        self.admission = admission
        self.quarantine = quarantine
        self.clock = clock

    async def restore(self, inbox_keys: dict[str, str], enqueue_alert: Callable[[AlertEvent], Awaitable[None]]) -> None:
        """Resume from the last checkpoint: detectors warm, open incidents and their pages known.

        A replica of a cluster takes its shard's detectors instead; incidents are the leader's.
        """
        await self.mode.restore_detectors(self.resume)
        if await self.resume(LEARNING_CHECKPOINT, self.learner.load_state, "learned weights",
                             "ranking starts from its priors"):
            log.info("resumed ranking weights learned from %d answers", self.learner.updates)
        latest = float("-inf")
        owned = await self.store.incidents.find(state="open", limit=500) if self.mode.owns_incidents else []
        for doc in owned:
            try:
                inc = Incident.from_json(doc)
                latest = max(latest, *event_times(doc))
            except (KeyError, TypeError, ValueError) as e:
                self.quarantine("incident", f"stored incident {doc.get('id')!r} is unreadable ({e})")
                continue
            self.engine.tracker.restore(inc)
        if not math.isfinite(self.engine.now) and math.isfinite(latest):
            # no checkpoint (a crash before the first one): the core's clock resumes at the latest
            # time the restored incidents saw, so a page decided now carries a real event time
            self.engine.now = latest
        now = self.clock()
        for ch in await self.store.changes.find(since=now - self.engine.change_retention, limit=10_000):
            good = self.admission.admissible_change(ch, "stored change")
            if good is not None:
                self.engine.add_change(good)
        for h in reversed(await self.store.health.find(since=now - self.engine.change_retention, limit=10_000)):
            if math.isfinite(h.ts) and h.ts <= self.admission.horizon():
                self.engine.add_health(h)
        replay: list[AlertEvent] = []
        poisoned: list[str] = []
        for key, raw in await self.store.alerts.unprocessed_rows():
            try:
                alert = clean_alert(alert_of(raw))
                if alert.ts > self.admission.horizon():
                    raise ValueError(self.admission.time_window.check(alert.ts, self.admission.reference_now()))
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                self.quarantine("alert", f"stored alert {key!r} set aside at start-up: {e}")
                poisoned.append(key)
                continue
            if alert.key[:600] != key:  # fixed up: mark the row it came from once the core has it
                inbox_keys[alert.key] = key
            replay.append(alert)
        if poisoned:  # never replayed again: one bad alert must not stop every start
            await self.store.alerts.mark_processed(poisoned, now)
        if self.mode.owns_incidents and (released := await self.store.notifications.release_claims(now)):
            # the only deliverer: pages its previous process had claimed (and perhaps died sending)
            # go out now with their keys, not after the claim's lease
            log.info("%d pending page(s) from before the last stop are due now", released)
        if replay:  # received and acknowledged before a crash, never taken by the core: take them now
            log.info("feeding %d alert(s) received before the last stop to the core", len(replay))
        for a in replay:
            await enqueue_alert(a)

    async def resume(self, key: str, load: Callable[[dict[str, Any]], None], what: str, fallback: str) -> bool:
        """Load one checkpoint into ``load``; an unusable one is logged and skipped, never fatal."""
        state = await self.store.checkpoints.load(key)
        if not state:
            return False
        try:
            load(state)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("ignoring unusable %s (%s); %s", what, e, fallback)
            return False
        return True
