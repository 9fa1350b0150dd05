"""PagerDuty Events API v2: trigger, acknowledge and resolve keyed by ``dedup_key``; change events.

An update (ranking changed, relapse, note) is a trigger with the same ``dedup_key``:
PagerDuty folds it into the open alert, so it never pages twice. With
``change_events`` the notifier also takes ``change`` pages (one per recorded
change) and sends them to the Change Events API.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from .http import post_json
from .render import clip, incident_details, iso
from .types import Page, Permanent

__all__ = ["SEVERITIES", "PagerDutyNotifier", "pagerduty_change_event", "pagerduty_event"]

SEVERITIES = ("critical", "error", "warning", "info")
MAX_EVENT_BYTES = 512 * 1024
_ACTIONS = {"trigger": "trigger", "update": "trigger", "note": "trigger", "acknowledge": "acknowledge",
            "resolve": "resolve"}


def pagerduty_event(page: Page, routing_key: str, *, source: str = "", group: str = "") -> dict[str, Any]:
    """The Events API v2 body for a page (``trigger`` carries the payload; ack/resolve do not)."""
    action = _ACTIONS.get(page.action)
    if action is None:
        raise Permanent(f"pagerduty cannot {page.action!r} a page")
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": page.dedup_key[:255]}
    if action != "trigger":
        return event
    doc = page.incident
    details = incident_details(doc)
    details["text"] = page.text
    if page.action != "trigger" and page.reason:
        details["update"] = page.reason
    if page.runbook:
        details["runbook"] = page.runbook
    signal = next((a["signal"] for a in doc.get("anomalies", [])), "")
    title = ("[DRILL] " if page.drill and not page.title.startswith("[DRILL]") else "") + page.title
    event["payload"] = {
        "summary": clip(title, 1024), "source": clip(source or page.service or "whatchanged", 255),
        "severity": page.severity if page.severity in SEVERITIES else "critical", "timestamp": iso(page.ts),
        "component": clip(page.service, 255), "group": clip(group or ",".join(page.services[:5]), 255),
        "class": clip(signal or ("drill" if page.drill else "incident"), 255), "custom_details": details,
    }
    links = [{"href": page.url, "text": "whatchanged incident"}] if page.url else []
    if page.runbook:
        links.append({"href": page.runbook, "text": "Runbook"})
    if links:
        event["links"] = links
    event["client"] = "whatchanged"
    if page.url:
        event["client_url"] = page.url
    # Stay under PagerDuty's size limit: shed detail, never the page.
    while len(json.dumps(event)) > MAX_EVENT_BYTES and details["candidates"]:
        details["candidates"].pop()
        details["text"] = clip(details["text"], 4000)
    return event


def pagerduty_change_event(page: Page, routing_key: str) -> dict[str, Any]:
    """The Change Events API body for a ``change`` page (``page.incident["change"]`` is the change)."""
    ch = page.incident.get("change") or {}
    event: dict[str, Any] = {"routing_key": routing_key, "payload": {
        "summary": clip(page.title or f"{ch.get('kind', 'change')} {ch.get('service', '')}", 1024),
        "timestamp": iso(page.ts), "source": clip(ch.get("actor") or "whatchanged", 255),
        "custom_details": ch}}
    if page.url:
        event["links"] = [{"href": page.url, "text": "whatchanged"}]
    return event


class PagerDutyNotifier:
    """Sends to ``{url}/v2/enqueue``; ``url`` defaults to PagerDuty's and is a local server in tests."""

    def __init__(self, name: str, routing_key: str, *, url: str = "https://events.pagerduty.com",
                 source: str = "", group: str = "", change_events: bool = False, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.name = name
        self.change_events = change_events
        self.url = url.rstrip("/")
        self._routing_key = routing_key
        self._source, self._group = source, group
        self._timeout = timeout
        self._session = session

    def __repr__(self) -> str:  # never the routing key
        return f"PagerDutyNotifier({self.name!r}, url={self.url!r})"

    async def send(self, page: Page, *, key: str) -> None:
        if page.action == "change":
            await post_json(self._session, f"{self.url}/v2/change/enqueue",
                            pagerduty_change_event(page, self._routing_key), what=f"pagerduty {self.name} change",
                            timeout=self._timeout)
            return
        event = pagerduty_event(page, self._routing_key, source=self._source, group=self._group)
        await post_json(self._session, f"{self.url}/v2/enqueue", event, what=f"pagerduty {self.name}",
                        timeout=self._timeout)
