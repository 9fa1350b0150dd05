"""Sources a test feeds while the daemon runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from daemon.events import Event

__all__ = ["QueueSource"]


class QueueSource:
    """Yields what the test puts in, when it puts it in."""

    def __init__(self, name: str = "feed") -> None:
        self.name = name
        self.q: asyncio.Queue[Event] = asyncio.Queue()

    def feed(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.q.put_nowait(ev)

    async def events(self) -> AsyncIterator[Event]:
        while True:
            yield await self.q.get()
