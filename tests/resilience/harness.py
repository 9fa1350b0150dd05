"""What the fault tests share: a source the test feeds, waiting for a condition, a daemon paging a webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

from correlators.types import Topology
from daemon.core.events import Event
from daemon.notify.webhook import WebhookNotifier
from daemon.runtime.daemon import Daemon
from daemon.store import Store

__all__ = ["QueueSource", "until", "webhook_daemon"]


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


async def until(cond: Callable[[], Any], budget: float = 20.0) -> bool:
    """Poll ``cond`` every 50 ms for up to ``budget`` seconds; True once it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    while loop.time() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return False


def webhook_daemon(store: Store, topology: Topology, url: str, clock: Callable[[], float],
                   sources: Sequence[Any], **kwargs: Any) -> Daemon:
    """A daemon paging one signed webhook (``hook``) at ``url``; 30 s step, no periodic checkpoints."""
    return Daemon(store=store, topology=topology, sources=list(sources),
                  notifiers={"hook": WebhookNotifier("hook", url)}, clock=clock, step=30.0,
                  checkpoint_every=3600, **kwargs)
