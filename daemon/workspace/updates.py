"""Send a finding about an incident (a hypothesis changed state) to the page's receivers.

One small function so it can be switched to the notify branch's "update/note about
an incident" call when that lands; until then the note goes out as a page UPDATE
through the durable outbox (same dedup key: Slack threads it, PagerDuty keeps one
incident).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..notify.render import render_text, render_title
from ..notify.types import Page

if TYPE_CHECKING:
    from ..service import Daemon

__all__ = ["send_incident_note"]


async def send_incident_note(daemon: Daemon, doc: dict[str, Any], note: str, ts: float) -> int:
    """Queue ``note`` (first line of the text) about the incident for every receiver; returns how many were new."""
    url = f"{daemon.base_url}/incidents/{doc['id']}" if daemon.base_url else ""
    page = Page("update", doc["id"], doc["id"], ts, render_title(doc), f"{note}\n{render_text(doc)}", doc, url)
    return await daemon.outbox.enqueue(page)
