"""What the core remembers of changes and dependency health: in time order, for the change retention."""

from __future__ import annotations

import bisect

from correlators.types import Change, HealthEvent

from .events import ChangeStatus

__all__ = ["ChangeLog"]


class ChangeLog:
    """Changes (idempotent on id) and health transitions, both sorted by time, expired together."""

    def __init__(self, retention: float) -> None:
        self.retention = retention
        self.changes: list[Change] = []  # sorted by ts
        self.ids: set[str] = set()
        self.health: list[HealthEvent] = []  # sorted by ts

    def add(self, ch: Change) -> bool:
        """Record ``ch``; False when a change with its id is already known."""
        if ch.id in self.ids:
            return False
        self.ids.add(ch.id)
        bisect.insort(self.changes, ch, key=lambda c: c.ts)
        return True

    def update(self, st: ChangeStatus) -> Change | None:
        """Apply an outcome to the change it names; the updated change, or None (unknown, or no change)."""
        i = next((i for i, c in enumerate(self.changes) if c.id == st.change_id), None)
        if i is None:
            return None
        updated = st.applied_to(self.changes[i])
        if updated is None:
            return None
        self.changes[i] = updated
        return updated

    def add_health(self, h: HealthEvent) -> None:
        bisect.insort(self.health, h, key=lambda e: e.ts)

    def expire(self, now: float) -> None:
        horizon = now - self.retention
        while self.changes and self.changes[0].ts < horizon:
            self.ids.discard(self.changes.pop(0).id)
        while self.health and self.health[0].ts < horizon:
            self.health.pop(0)

    def get(self, change_id: str) -> Change | None:
        return next((c for c in self.changes if c.id == change_id), None)
