"""Alertmanager API v2: push the incident as an alert so existing routing, inhibition and silences apply.

The alert's identity is its label set: ``alertname``, ``incident``, ``service`` and
``severity`` stay the same for trigger, updates and resolve (the dispatcher pins
service and severity from the first page). Alertmanager resolves an alert at its
``endsAt``: open incidents carry ``endsAt = ts + hold`` (re-sent with every update),
the resolve sets ``endsAt`` to the resolve time.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from .http import post_json
from .render import clip, incident_details, iso
from .types import Page

__all__ = ["AlertmanagerNotifier", "alertmanager_alert"]


def alertmanager_alert(page: Page, *, labels: dict[str, str] | None = None, hold: float = 86400.0) -> dict[str, Any]:
    d = incident_details(page.incident)
    top = d["candidates"][0] if d["candidates"] else None
    lab = {**(labels or {}), "alertname": "WhatChangedDrill" if page.drill else "WhatChangedIncident",
           "incident": page.dedup_key, "service": page.service or "unknown", "severity": page.severity,
           "source": "whatchanged"}
    ann = {"summary": clip(("[DRILL] " if page.drill else "") + page.title, 1000), "description": page.text}
    if top:
        ann["top_candidate"] = f"({top['score']:.2f}) {top['cause']}"
    if page.runbook:
        ann["runbook_url"] = page.runbook
    if page.url:
        ann["incident_url"] = page.url
    onset = float(page.incident.get("onset") or page.ts)
    ends = page.ts if page.action == "resolve" else page.ts + hold
    alert: dict[str, Any] = {"labels": lab, "annotations": ann, "startsAt": iso(min(onset, page.ts)),
                             "endsAt": iso(ends)}
    if page.url:
        alert["generatorURL"] = page.url
    return alert


class AlertmanagerNotifier:
    def __init__(self, name: str, url: str, *, labels: dict[str, str] | None = None, hold: float = 86400.0,
                 headers: dict[str, str] | None = None, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._labels = dict(labels or {})
        self._hold = hold
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._session = session

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier({self.name!r}, url={self.url!r})"

    async def send(self, page: Page, *, key: str) -> None:
        if page.action in ("note", "acknowledge"):
            return  # Alertmanager has no notes or acks; the alert itself is unchanged
        await post_json(self._session, f"{self.url}/api/v2/alerts",
                        [alertmanager_alert(page, labels=self._labels, hold=self._hold)],
                        what=f"alertmanager {self.name}", headers=self._headers, timeout=self._timeout)
