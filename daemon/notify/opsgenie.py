"""Opsgenie Alert API: create with ``alias`` = incident key (Opsgenie dedupes on it), note, acknowledge, close."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from .http import post_json
from .render import clip, incident_details
from .types import Page, Permanent

__all__ = ["OpsgenieNotifier", "opsgenie_alert"]

PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}


def _details(page: Page) -> dict[str, str]:
    """Opsgenie ``details`` is a flat string map (8000 characters in all)."""
    d = incident_details(page.incident)
    out = {"incident": page.incident_id, "services": ", ".join(d["services"][:10]),
           "severity": page.severity, "url": page.url, "runbook": page.runbook}
    for c in d["candidates"][:3]:
        out[f"candidate {c['rank']}"] = clip(f"({c['score']:.2f}) {c['cause']} | test: {c['test']}", 900)
    rec = d["recommendation"]
    if rec.get("command"):
        out["recommendation"] = clip(f"{rec.get('action', '')}: {rec['command']}", 900)
    if d["dead_ends"]:
        out["ruled out"] = clip("; ".join(f"{x['cause']} ({x['reason']})" for x in d["dead_ends"]), 900)
    out = {clip(k, 50): v for k, v in out.items() if v}
    while sum(len(k) + len(v) for k, v in out.items()) > 8000:
        out.popitem()
    return out


def opsgenie_alert(page: Page, *, responders: list[dict[str, str]], tags: list[str]) -> dict[str, Any]:
    """The create-alert body, within Opsgenie's field limits."""
    title = ("[DRILL] " if page.drill and not page.title.startswith("[DRILL]") else "") + page.title
    all_tags = [clip(t, 50) for t in ["whatchanged", *(["drill"] if page.drill else []), *tags, *page.services]]
    body: dict[str, Any] = {
        "message": clip(title, 130), "alias": page.dedup_key[:512],
        "description": clip(f"{page.text}\n\n{page.url}".strip(), 15000),
        "tags": list(dict.fromkeys(all_tags))[:20], "details": _details(page),
        "entity": clip(page.service, 512), "source": "whatchanged",
        "priority": "P5" if page.drill else PRIORITIES.get(page.severity, "P1"),
    }
    if responders:
        body["responders"] = responders
    return body


class OpsgenieNotifier:
    def __init__(self, name: str, api_key: str, *, url: str = "https://api.opsgenie.com",
                 responders: list[dict[str, str]] | None = None, tags: list[str] | None = None,
                 timeout: float = 10.0, session: aiohttp.ClientSession | None = None) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._responders = list(responders or [])
        self._tags = list(tags or [])
        self._timeout = timeout
        self._session = session

    def __repr__(self) -> str:
        return f"OpsgenieNotifier({self.name!r}, url={self.url!r})"

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        await post_json(self._session, f"{self.url}{path}", body, what=f"opsgenie {self.name}",
                        headers={"Authorization": f"GenieKey {self._api_key}"}, timeout=self._timeout)

    async def send(self, page: Page, *, key: str) -> None:
        alias = quote(page.dedup_key[:512], safe="")
        by_alias = f"/v2/alerts/{alias}/%s?identifierType=alias"
        if page.action == "trigger":
            await self._post("/v2/alerts", opsgenie_alert(page, responders=self._responders, tags=self._tags))
        elif page.action in ("update", "note"):
            note = f"{page.reason + ': ' if page.reason else ''}{page.title}\n{page.text}"
            try:
                await self._post(by_alias % "notes", {"note": clip(note, 25000), "source": "whatchanged"})
            except Permanent as e:
                if "HTTP 404" not in str(e):
                    raise
                # never created (its trigger was silenced or routed elsewhere): this is its first page
                await self._post("/v2/alerts", opsgenie_alert(page, responders=self._responders, tags=self._tags))
        elif page.action == "acknowledge":
            await self._post(by_alias % "acknowledge", {"source": "whatchanged", "note": clip(page.text, 25000)})
        elif page.action == "resolve":
            await self._post(by_alias % "close", {"source": "whatchanged", "note": clip(page.title, 25000)})
        else:
            raise Permanent(f"opsgenie cannot {page.action!r} a page")
