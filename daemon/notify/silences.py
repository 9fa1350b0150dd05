"""Silences and maintenance windows: pages they match are recorded in the outbox, never sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .types import Page

__all__ = ["KINDS", "matching_silence"]

KINDS = ("silence", "maintenance")


def matching_silence(silences: Iterable[Mapping[str, Any]], page: Page) -> str | None:
    """Describe the first silence in force that matches the page's services and severity, else None.

    ``silences`` are those active now (the store filters by time). Empty ``services`` or
    ``severities`` match everything.

    >>> s = [{"id": 3, "kind": "maintenance", "services": ["checkout"], "severities": [], "comment": "db move"}]
    >>> matching_silence(s, Page("trigger", "i", "i", 0.0, "t", "", {"services": ["checkout"]}))
    'maintenance 3: db move'
    >>> matching_silence(s, Page("trigger", "i", "i", 0.0, "t", "", {"services": ["search"]})) is None
    True
    """
    for s in silences:
        services, severities = s.get("services") or [], s.get("severities") or []
        if severities and page.severity not in severities:
            continue
        if services and not any(x in services for x in page.services):
            continue
        return f"{s.get('kind', 'silence')} {s['id']}: {s.get('comment', '')}".rstrip(": ")
    return None
