"""A real daemon process for the kill -9 test: the shop with a bad checkout deploy, paging a signed webhook.

``python -m tests.daemon.crash_daemon --store URL --hook URL --secret S`` runs until
SIGTERM (or SIGKILL). The events are the same on every start, so a restarted process
decides the same pages with the same outbox keys.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator

from daemon.config import DeliveryConfig
from daemon.config.compose import serve
from daemon.core.events import Event
from daemon.notify.webhook import WebhookNotifier
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, shop_events

T0 = 1_790_000_000.0


class OnceSource:
    """Yields its events once, then idles (a source that has caught up)."""

    name = "scenario"

    def __init__(self, events: list[Event]) -> None:
        self._events = events
        self._done = False

    async def events(self) -> AsyncIterator[Event]:
        if not self._done:
            self._done = True
            for ev in self._events:
                yield ev
        await asyncio.Event().wait()


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--hook", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    store = await Store.open(args.store)
    try:
        hook = WebhookNotifier("hook", args.hook, secret=args.secret.encode(), timeout=60.0)
        daemon = Daemon(store=store, topology=SHOP, sources=[OnceSource(shop_events(T0, 100, bad_from=80))],
                        notifiers={"hook": hook}, step=30.0, checkpoint_every=3600,
                        delivery=DeliveryConfig(send_timeout=2.0, resolve_hold=0.0, backoff_base=0.5))
        return await serve(daemon, "127.0.0.1", args.port)
    finally:
        await store.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
