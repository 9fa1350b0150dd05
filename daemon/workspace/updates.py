"""Send a finding about an incident (a hypothesis changed state) to the page's receivers.

A ``note`` through the paging pipeline (silences, the receivers already paged about
the incident, the durable outbox): Slack replies in the incident message's thread,
Opsgenie adds an alert note, PagerDuty folds it into the open alert (same dedup key).
"""

from __future__ import annotations

from typing import Any

from ..core.ports import NoteSink
from ..notify.render import render_text

__all__ = ["send_incident_note"]


async def send_incident_note(notes: NoteSink, doc: dict[str, Any], note: str, ts: float) -> int:
    """Queue ``note`` (first line of the text) for the receivers paged about the incident; returns how many were new."""
    return await notes.send_note(doc, f"{note}\n{render_text(doc)}", ts)
