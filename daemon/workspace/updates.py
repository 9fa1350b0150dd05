"""Send a finding about an incident (a hypothesis changed state) to the page's receivers.

A ``note`` through the paging pipeline (silences, the receivers already paged about
the incident, the durable outbox): Slack replies in the incident message's thread,
Opsgenie adds an alert note, PagerDuty folds it into the open alert (same dedup key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..notify.render import render_text

if TYPE_CHECKING:
    from ..runtime.daemon import Daemon

__all__ = ["send_incident_note"]


async def send_incident_note(daemon: Daemon, doc: dict[str, Any], note: str, ts: float) -> int:
    """Queue ``note`` (first line of the text) for the receivers paged about the incident; returns how many were new."""
    page = daemon.page_of_doc(doc, "note", ts, f"{note}\n{render_text(doc)}", "hypothesis")
    return await daemon.dispatcher.dispatch(page)
