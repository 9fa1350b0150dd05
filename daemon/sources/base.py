"""The source extension point and how a source reports its own health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.events import Event

__all__ = ["Source", "SourceStatus"]


@runtime_checkable
class Source(Protocol):
    """Yields events until cancelled; reconnects and backs off inside."""

    name: str

    def events(self) -> AsyncIterator[Event]: ...


@dataclass
class SourceStatus:
    """Freshness of one source, for /readyz and /metrics. Times are wall-clock seconds."""

    name: str
    stale_after: float = 300.0
    last_ok: float | None = None
    last_error: str | None = None
    newest_data: float | None = None

    def ok(self, now: float, newest_data: float | None = None) -> None:
        self.last_ok = now
        self.last_error = None
        if newest_data is not None:
            self.newest_data = max(self.newest_data or newest_data, newest_data)

    def error(self, message: str) -> None:
        self.last_error = message

    def stale(self, now: float) -> bool:
        return self.last_ok is None or now - self.last_ok > self.stale_after
