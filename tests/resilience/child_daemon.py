"""A daemon in its own process, for kill -9 tests: ``python -m tests.resilience.child_daemon DB URL STEPS``.

It replays the first STEPS steps of the test shop (an incident from step 80) from its source,
as a Prometheus catch-up would after a restart, and pages a webhook at URL. SIGTERM stops it
gracefully; SIGKILL is what the test is about.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from daemon.notify.webhook import WebhookNotifier
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from tests.daemon.helpers import SHOP, ListSource, shop_events

T0 = 1_790_000_000.0


async def main(db: str, url: str, steps: int) -> int:
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    d = Daemon(store=store, topology=SHOP, sources=[ListSource(shop_events(T0, steps, bad_from=80))],
               notifiers={"hook": WebhookNotifier("hook", url, timeout=10)}, step=30.0, checkpoint_every=3600)
    d.outbox.send_timeout = 10.0  # the test kills the process well before a hung send times out
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, d.stop)
    try:
        await d.run()
    finally:
        await store.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    raise SystemExit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
