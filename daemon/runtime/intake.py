"""Intake: changes, rollout outcomes, alerts and feedback from the API and the sources. Each is stored
first (durable before its 2xx), then fed to the core through the lanes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from correlators.learning import OnlineWeights
from correlators.types import Cause, Change

from ..core.events import AlertEvent, ChangeStatus
from ..core.guard import clean_alert
from ..store import StatusOutcome, Store
from ..telemetry.metrics import Metrics
from .admission import Admission
from .lanes import Lanes
from .paging import PagePlanner
from .restore import LEARNING_CHECKPOINT

__all__ = ["Intake"]

log = logging.getLogger("whatchanged.daemon")


class Intake:
    """The daemon's :class:`~daemon.core.ports.ChangeSink`, ``AlertSink`` and ``FeedbackSink``."""

    def __init__(self, store: Store, lanes: Lanes, admission: Admission, planner: PagePlanner,
                 learner: OnlineWeights, *, metrics: Metrics, clock: Callable[[], float]) -> None:
        self.store = store
        self.lanes = lanes
        self.admission = admission
        self.planner = planner
        self.learner = learner
        self.metrics = metrics
        self.clock = clock

    async def submit_changes(self, changes: Sequence[Change], source: str) -> list[bool]:
        """Store first (durable), then feed the core through the queue. A change whose time is not
        finite or far ahead of now is set aside (quarantined), never stored."""
        admitted = [self.admission.admissible_change(ch, f"change from {source}") for ch in changes]
        good = [ch for ch in admitted if ch is not None]
        stored = iter(await self.store.changes.add(good, source=source, received_at=self.clock()) if good else [])
        inserted = [False if ch is None else next(stored) for ch in admitted]
        for ch, new in zip(admitted, inserted, strict=True):
            if ch is None:
                continue
            if new:
                self.metrics.changes.labels(source).inc()
                await self.planner.forward_change(ch)  # idempotent on the change id: the core's output may repeat it
                self.lanes.stored_changes.add(ch.id)
                await self.lanes.queue.put(ch)
            elif ch.status:  # a known change sent again with its outcome (a CI hook reporting completion)
                await self.submit_change_status(ChangeStatus(self.clock(), ch.id, ch.status, ch.completed_at),
                                                source=source)
        return inserted

    async def submit_change_status(self, st: ChangeStatus, source: str) -> str:
        """A change's outcome: stored on the change first, then fed to the core (re-ranks, hypotheses).

        Returns ``updated``, ``unchanged`` (a repeat) or ``unknown`` (no change with that id:
        logged and dropped, as an outcome means nothing without its change).
        """
        res = await self.store.changes.update_status(st)
        if res.outcome is StatusOutcome.UNKNOWN:
            log.info("%s: outcome %s of unknown change %s ignored", source, st.status, st.change_id,
                     extra={"change_ids": [st.change_id]})
            return "unknown"
        if res.outcome is StatusOutcome.UNCHANGED:
            return "unchanged"
        log.info("%s: change %s is %s", source, st.change_id, st.status, extra={"change_ids": [st.change_id]})
        await self.lanes.queue.put(st)
        return "updated"

    async def submit_alerts(self, alerts: Sequence[AlertEvent]) -> list[bool]:
        """External alerts (Alertmanager): stored first, so an answered webhook survives a crash,
        then fed to the core through the queue. A re-sent alert (same fingerprint, startsAt and
        status) is not fed twice. Returns, per alert, whether it was new."""
        alerts = [clean_alert(a) for a in alerts]
        new = await self.store.alerts.add(alerts, self.clock())
        for a, fresh in zip(alerts, new, strict=True):
            self.metrics.alerts.labels("firing" if a.firing else "resolved").inc()
            if fresh:
                await self.lanes.put_alert(a)
        return new

    async def record_feedback(self, incident_id: str, cause: Cause, note: str, actor: str) -> int:
        """Store the answer, then learn from it: the evidence of the true cause against the rest
        of what was shown. The learned weights are checkpointed at once, so they survive restarts."""
        fid = await self.store.feedback.add(incident_id, cause.to_json(), note, actor, self.clock())
        doc = await self.store.incidents.get(incident_id)
        shown = [(Cause.from_json(c["cause"]), c.get("features") or {}) for c in (doc or {}).get("candidates", [])]
        if self.learner.update(shown, cause):
            await self.store.checkpoints.save(LEARNING_CHECKPOINT, self.learner.state_dict(), now=self.clock())
            log.info("learned from feedback on %s (%d answers so far)", incident_id, self.learner.updates,
                     extra={"incident_id": incident_id})
        return fid
