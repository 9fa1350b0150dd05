"""Print pages to the log: the demo's receiver, and a safety net in every config."""

from __future__ import annotations

import logging

from .types import Page

__all__ = ["ConsoleNotifier"]

log = logging.getLogger("whatchanged.page")


class ConsoleNotifier:
    def __init__(self, name: str = "console") -> None:
        self.name = name

    async def send(self, page: Page, *, key: str) -> None:
        marker = "[DRILL] " if page.drill else ""
        log.warning("%sPAGE %s %s: %s\n%s%s", marker, page.action.upper(), page.dedup_key, page.title,
                    page.text, f"\n{page.url}" if page.url else "",
                    extra={"incident_id": page.incident_id, "key": key, "receiver": self.name})
