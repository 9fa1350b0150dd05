"""Persistence of what the core decides: health, stream changes, incidents, and their pages in one
transaction, retried while the store is down; data the store refuses itself is set aside."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import exc
from sqlalchemy.exc import SQLAlchemyError

from correlators.incidents import Incident

from ..core.engine import Engine, EngineOutput
from ..notify.outbox import Outbox
from ..notify.types import Page
from ..store import Store, StoreError
from ..store.store import describe_store_error
from ..telemetry.metrics import Metrics
from ..workspace.service import Workspace
from .lanes import Quarantine
from .paging import PagePlanner

__all__ = ["OutputWriter", "StoreHealth", "permanent"]

log = logging.getLogger("whatchanged.daemon")


def permanent(e: BaseException) -> bool:
    """The store refused the data itself (too long, not encodable, out of range): retrying cannot help."""
    if isinstance(e, (exc.DataError, exc.IntegrityError, UnicodeError, ValueError, TypeError, OverflowError)):
        return True
    if isinstance(e, exc.StatementError) and not isinstance(e, exc.DBAPIError):
        return isinstance(e.orig, (UnicodeError, ValueError, TypeError, OverflowError))
    return False


@dataclass
class StoreHealth:
    """Whether the daemon's last writes went through (``/readyz`` says why not)."""

    ok: bool = True
    reason: str = ""


class OutputWriter:
    """Writes the core's output; owns the incidents changed since their last save."""

    def __init__(self, store: Store, engine: Engine, planner: PagePlanner, outbox: Outbox, workspace: Workspace, *,
                 metrics: Metrics, quarantine: Quarantine, clock: Callable[[], float], stopping: asyncio.Event,
                 health: StoreHealth) -> None:
        self.store = store
        self.engine = engine
        self.planner = planner
        self.outbox = outbox
        self.workspace = workspace
        self.metrics = metrics
        self.quarantine = quarantine
        self.clock = clock
        self.stopping = stopping
        self.health = health
        self.unsaved: dict[str, Incident] = {}  # changed by the analysis loop since their last save
        self.alerts_unsaved: list[str] = []  # inbox keys of alerts whose incidents are among unsaved
        self.saved_at = 0.0  # monotonic time the analysis loop last saved them

    async def save_incidents(self) -> None:
        """Save the incidents the loop changed without a page. Not once stopping: the stop path
        cancels this loop and saves them itself (a cancel must not land inside a write)."""
        if not self.unsaved or self.stopping.is_set():
            return
        try:
            await self.persist_reliably(EngineOutput())
        except Exception:
            log.exception("failed to save %d incidents", len(self.unsaved))

    async def persist_reliably(self, out: EngineOutput, *, give_up_after_stop: float = 10.0,
                               coalesce: bool = False) -> None:
        """Persist, retrying while the store is down or full: the engine has already decided these
        pages, so dropping the write would lose them. Writes are idempotent (upserts, outbox keys).
        Once stopping, give up after ``give_up_after_stop`` seconds rather than hang the shutdown."""
        delay = 0.2
        stop_seen: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.persist(out, coalesce=coalesce)
                self.health.ok, self.health.reason = True, ""
                return
            except Exception as e:
                if not permanent(e) and not isinstance(e, (SQLAlchemyError, StoreError, OSError, TimeoutError)):
                    raise
                if permanent(e):  # this data can never be stored: set it aside, keep the rest going
                    out = await self._set_aside_unstorable(out, e)
                    continue
                self.health.ok, self.health.reason = False, describe_store_error(e)
                if self.stopping.is_set():
                    stop_seen = stop_seen if stop_seen is not None else loop.time()
                    if loop.time() - stop_seen > give_up_after_stop:
                        log.error("store still failing at shutdown; %d pages not written: %s", len(out.pages), e)
                        raise
                log.warning("store write failed (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _set_aside_unstorable(self, out: EngineOutput, err: Exception) -> EngineOutput:
        """The store refused this data itself (not a failure of the store): find the incidents it
        cannot hold, one by one, and quarantine them with their pages, so the rest is written and
        nothing is retried for ever."""
        bad: set[str] = set()
        for inc_id, inc in list(self.unsaved.items()):
            try:
                await self.store.incidents.save(inc.to_json(), now=self.clock())
            except Exception as e:
                if not permanent(e):
                    raise
                bad.add(inc_id)
                self.unsaved.pop(inc_id, None)
                self.quarantine("incident", f"incident {inc_id} cannot be stored ({type(e).__name__}); "
                                            "its pages are not sent")
        if not bad:  # not an incident: the health, stream changes or alerts of this output
            self.quarantine("output", f"the store refused a decision ({type(err).__name__}: {str(err)[:200]})")
            self.alerts_unsaved = []
            return EngineOutput()
        return replace(out, pages=[p for p in out.pages if p.incident_id not in bad],
                       incidents={k: v for k, v in out.incidents.items() if k not in bad})

    async def persist(self, out: EngineOutput, *, coalesce: bool = False) -> None:
        """Write what the core decided: health, stream changes, incidents, then pages.

        With ``coalesce`` (the analysis loop), an incident that changed without a page is only
        marked unsaved: the loop saves those when the queue runs dry, every
        ``save_incidents_every`` seconds of a long burst, and at shutdown. An incident is saved
        whole (its document grows with its anomalies), so saving it after every event of an
        alert storm made absorbing the storm quadratic. Any page still goes out after the
        incidents are saved, as without ``coalesce``: a restart never re-decides a page it sent.
        """
        for a in out.anomalies:
            self.metrics.anomalies.labels(self.metrics.signal_label(a.signal)).inc()
        if out.health:
            await self.store.health.add(out.health)
        if out.changes:  # changes handed to the core directly; submit_changes stored its own already
            await self.store.changes.add(out.changes, source="stream", received_at=self.clock())
        self.unsaved.update(out.incidents)
        if not coalesce or out.pages:
            planned = [p for p in [await self.planner.plan_page(a) for a in out.pages] if p is not None]
            await self._save_unsaved(planned)
        for ch in out.changes:
            await self.planner.forward_change(ch)

    async def _save_unsaved(self, planned: Sequence[tuple[Page, list[str]]] = ()) -> None:
        """Save the changed incidents, the pages decided about them and the alerts they took in one
        transaction: a kill at any instant leaves all of it or none of it (never an incident
        marked paged whose page is not in the outbox)."""
        now = self.clock()
        self.saved_at = time.monotonic()
        items = list(self.unsaved.items())
        docs = [self.planner.incident_doc(inc) for _, inc in items]
        rows: list[dict[str, Any]] = []
        withdraw: list[tuple[str, str]] = []
        for page, receivers in planned:
            reason, page_rows = self.outbox.plan(page, receivers, now)
            if reason is not None:
                withdraw.append((page.dedup_key, reason))
            rows += page_rows
        keys, self.alerts_unsaved = self.alerts_unsaved, []
        try:
            new = await self.store.decisions.commit(docs, rows, withdraw=withdraw, alert_keys=keys, now=now)
        except BaseException:
            self.alerts_unsaved = keys + self.alerts_unsaved
            raise
        for inc_id, _ in items:
            self.unsaved.pop(inc_id, None)
        for doc in docs:
            await self.workspace.snapshot(doc, self.engine.now)
        for page, receivers in planned:
            log.info("page %s for %s queued (%d receivers): %s", page.action, page.incident_id, len(receivers),
                     page.title, extra={"incident_id": page.incident_id})
        if new:
            self.outbox.wake()

    async def mark_alerts_processed(self) -> None:
        if self.alerts_unsaved:
            keys, self.alerts_unsaved = self.alerts_unsaved, []
            await self.store.alerts.mark_processed(keys, self.clock())
