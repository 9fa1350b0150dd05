"""The pages of the core's decisions: the incident document with what the engine knows around it,
the page (title, link, severity, runbook), its receivers, notes, and change events for receivers."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from correlators.incidents import Incident, PageAction, PageKind
from correlators.types import Change
from correlators.view import IncidentView

from ..core.engine import Engine
from ..notify.dispatch import Dispatcher
from ..notify.outbox import Outbox
from ..notify.render import render_resolve_text, render_text, render_title
from ..notify.routing import severity_of
from ..notify.types import Page
from .mode import Mode

__all__ = ["PagePlanner", "event_times"]

log = logging.getLogger("whatchanged.daemon")


def event_times(doc: dict[str, Any]) -> list[float]:
    """The event times an incident document records (onset, opening, paging, its anomalies), finite ones."""
    times = [doc.get("onset"), doc.get("opened_at"), doc.get("paged_at"), doc.get("resolved_at")]
    for a in doc.get("anomalies") or []:
        times += [a.get("onset"), a.get("detected_at"), a.get("recovered_at")]
    return [float(t) for t in times if isinstance(t, (int, float)) and math.isfinite(t)] or [float("-inf")]


class PagePlanner:
    """Turns the core's page decisions into pages and their receivers (routing, silences)."""

    def __init__(self, engine: Engine, dispatcher: Dispatcher, outbox: Outbox, mode: Mode, *, base_url: str,
                 clock: Callable[[], float]) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.outbox = outbox
        self.mode = mode
        self.base_url = base_url
        self.clock = clock
        self._lineage: dict[str, dict[str, Any]] = {}  # incident id -> follows_by, merged_from (kept once forgotten)

    def incident_doc(self, inc: Incident) -> dict[str, Any]:
        """The incident's document with what the engine knows around it: the incident it follows and
        how long after that one resolved, those merged into it, and the changes made in response to it
        (a rollback, a flag turned off) with their times, for the pages, the API and the postmortem."""
        return self.incident_view(inc).to_json()

    def incident_view(self, inc: Incident) -> IncidentView:
        """The typed view of :meth:`incident_doc`: what every renderer reads."""
        known = self._lineage.setdefault(inc.id, {})
        earlier = self.engine.incidents.get(inc.follows) if inc.follows else None
        if earlier is not None and earlier.resolved_at is not None:
            known["follows_by"] = max(0.0, inc.onset - earlier.resolved_at)
        merged = sorted(i.id for i in self.engine.incidents.values() if i.merged_into == inc.id)
        if merged:
            known["merged_from"] = sorted(set(known.get("merged_from", [])) | set(merged))
        return IncidentView.of(inc, follows_by=known.get("follows_by"), merged_from=known.get("merged_from", ()),
                               responses=self.responses_to(inc), roles=self.engine.tracker.policy.impact.roles)

    def responses_to(self, inc: Incident) -> list[Change]:
        """Changes made after the incident was paged to its services or to its top candidate's service."""
        _, responses = self.engine.ranker.episode_changes(inc)
        services = set(inc.involved)
        top = inc.ranking.top if inc.ranking else None
        if top is not None and (ch := self.engine.change(top.cause.ref)) is not None:
            services.add(ch.service)
        return [c for c in responses if c.service in services]

    def page_for(self, action: PageAction) -> Page:
        """The page for a decision. Its event time is always finite: a decision made before the core
        saw any event time (a restart without a checkpoint) takes the incident's own latest time."""
        view = self.incident_view(self.engine.incidents[action.incident_id])
        doc = view.to_json()
        ts = action.ts
        if not math.isfinite(ts):
            ts = max(event_times(doc))
            ts = ts if math.isfinite(ts) else self.clock()
            log.warning("page %s for %s had no event time; using %.0f", action.kind.value, action.incident_id, ts,
                        extra={"incident_id": action.incident_id})
        text = render_resolve_text(view) if action.kind is PageKind.RESOLVE else render_text(view)
        return self.page_of_doc(doc, action.kind.value, ts, text, action.reason, severity=severity_of(view))

    def page_of_doc(self, doc: dict[str, Any], action: str, ts: float, text: str, reason: str, *,
                    severity: str | None = None) -> Page:
        """The page for an incident document: title, link, severity (by default from the document's signals'
        names; the planner passes the one from configured roles), first service, runbook."""
        url = f"{self.base_url}/incidents/{doc['id']}" if self.base_url else ""
        services = list(doc.get("services") or [])
        return Page(action, doc["id"], doc["id"], ts, render_title(doc), text, doc, url,
                    severity=severity or severity_of(doc), service=services[0] if services else "",
                    runbook=self.dispatcher.router.runbook(services), reason=reason)

    async def plan_page(self, action: PageAction) -> tuple[Page, list[str]] | None:
        """The page and its receivers (routing, silences: the workspace's), to be written with the incident."""
        if not self.mode.may_page():
            log.warning("not leading: page %s for %s dropped", action.kind.value, action.incident_id)
            return None
        page = self.page_for(action)
        head = self.engine.history_until
        if action.kind is PageKind.RESOLVE and action.ts < head:
            # Decided while reading history: the data up to the head already shows whether it relapsed,
            # so the flap damping is held on event time, not again on wall time.
            page = replace(page, hold=max(0.0, self.outbox.resolve_hold - (head - action.ts)))
        return await self.dispatcher.plan(page)

    async def send_note(self, doc: dict[str, Any], text: str, ts: float) -> int:
        """A finding about an incident (the workspace's hypothesis loop) to the receivers paged about it."""
        return await self.dispatcher.dispatch(self.page_of_doc(doc, "note", ts, text, "hypothesis"))

    async def notify_incident(self, doc: dict[str, Any], text: str, *, action: str, actor: str) -> int:
        """A note (or ``acknowledge``) about the incident ``doc`` through routing, silences and the outbox."""
        note = f"{text}\n— {actor}" if actor else text
        page = self.page_of_doc(doc, action, self.clock(), note, f"{action} by {actor}" if actor else action)
        return await self.dispatcher.dispatch(page)

    async def forward_change(self, ch: Change) -> None:
        """Forward a newly recorded change to receivers that take change events (PagerDuty's Change Events)."""
        receivers = [name for name, n in self.outbox.notifiers.items() if getattr(n, "change_events", False)]
        if not receivers:
            return
        title = ch.summary or f"{ch.kind.value} {ch.service}"
        page = Page("change", ch.id[:64], ch.id[:128], ch.ts, title, "", {"change": ch.to_json()},
                    f"{self.base_url}/api/v1/changes?service={ch.service}" if self.base_url else "",
                    severity="info", service=ch.service, reason="change")
        await self.outbox.enqueue(page, receivers)
